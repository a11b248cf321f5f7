//go:build wasip1

package secrets

import host "hangar.local/hangar/internal/wit/flyte_agent_secrets"

// lookup inside Hangar: the flyte:agent/secrets import.
func lookup(name string) (string, refusal, bool) {
	result := host.Get(name)
	if result.IsOk() {
		return result.Ok(), 0, true
	}
	switch result.Err() {
	case host.SecretErrorNotGranted:
		return "", notGranted, false
	case host.SecretErrorNotFound:
		return "", notFound, false
	case host.SecretErrorTooLarge:
		return "", tooLarge, false
	default:
		return "", tooManyReads, false
	}
}
