// Package secrets reads secrets the operator granted this plugin, by name.
//
// Nothing is granted by default: the operator lists names in the plugin's
// manifest (NAME.toml beside NAME.wasm):
//
//	[secrets]
//	names = ["api_token"]
//
// Every read, granted or not, is written to the host's audit log (names and
// decisions, never values). Keep values out of logs, errors and outputs.
// For a credential that only goes into HTTP requests, prefer the manifest's
// [[secrets.inject]]: the host adds the header and the agent never holds the
// value.
//
// Outside WebAssembly (an agent's unit tests, `go test`), Get reads the
// environment variable _FSEC_<name> instead.
package secrets

import "hangar.local/hangar"

// Codes of the errors Get returns (all non-recoverable *hangar.AgentError).
const (
	CodeNotGranted   = "SecretNotGranted"
	CodeNotFound     = "SecretNotFound"
	CodeTooLarge     = "SecretTooLarge"
	CodeTooManyReads = "TooManySecretReads"
)

// refusal is why the host returned no value.
type refusal int

const (
	notGranted refusal = iota
	notFound
	tooLarge
	tooManyReads
)

// Get returns the value of the secret `name`. The error is a
// *hangar.AgentError whose code says why (CodeNotGranted, ...) and whose
// message says how to fix it; an agent can return it as is.
func Get(name string) (string, error) {
	value, why, ok := lookup(name)
	if ok {
		return value, nil
	}
	return "", refusalError(name, why)
}

func refusalError(name string, why refusal) *hangar.AgentError {
	switch why {
	case notGranted:
		return hangar.NonRecoverablef("secret %q is not granted to this plugin: the operator adds it to "+
			"[secrets] names in the plugin's manifest (NAME.toml beside NAME.wasm)", name).WithCode(CodeNotGranted)
	case notFound:
		return hangar.NonRecoverablef("secret %q is granted but the host has no value for it: "+
			"ask the operator to provide it", name).WithCode(CodeNotFound)
	case tooLarge:
		return hangar.NonRecoverablef("secret %q is larger than the host returns (64 KiB)", name).WithCode(CodeTooLarge)
	default:
		return hangar.NonRecoverablef("reading secret %q: this call already read as many secrets as the host "+
			"allows; read each secret once and keep the value", name).WithCode(CodeTooManyReads)
	}
}
