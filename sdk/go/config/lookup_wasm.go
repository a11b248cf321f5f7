//go:build wasip1

package config

import host "hangar.local/hangar/internal/wit/flyte_agent_config"

// lookup inside Hangar: the flyte:agent/config import.
func lookup(key string) (string, bool) {
	value := host.Get(key)
	if value.IsNone() {
		return "", false
	}
	return value.Some(), true
}
