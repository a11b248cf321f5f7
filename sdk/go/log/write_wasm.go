//go:build wasip1

package log

import host "hangar.local/hangar/internal/wit/flyte_agent_logging"

// write inside Hangar: the flyte:agent/logging import.
func write(level Level, message string) {
	l := host.LevelInfo
	switch level {
	case LevelDebug:
		l = host.LevelDebug
	case LevelWarn:
		l = host.LevelWarn
	case LevelError:
		l = host.LevelError
	}
	host.Log(l, message)
}
