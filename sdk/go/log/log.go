// Package log writes lines to the host's log, tagged with the plugin and
// the task. Outside WebAssembly (unit tests) lines go to stderr.
//
// Users see what agents log: never log secret values.
package log

import "fmt"

// Level of a log line.
type Level int

const (
	LevelDebug Level = iota
	LevelInfo
	LevelWarn
	LevelError
)

func (l Level) String() string {
	switch l {
	case LevelDebug:
		return "DEBUG"
	case LevelInfo:
		return "INFO"
	case LevelWarn:
		return "WARN"
	default:
		return "ERROR"
	}
}

// Log writes one line at `level`.
func Log(level Level, message string) { write(level, message) }

func Debug(message string) { write(LevelDebug, message) }
func Info(message string)  { write(LevelInfo, message) }
func Warn(message string)  { write(LevelWarn, message) }
func Error(message string) { write(LevelError, message) }

func Debugf(format string, args ...any) { write(LevelDebug, fmt.Sprintf(format, args...)) }
func Infof(format string, args ...any)  { write(LevelInfo, fmt.Sprintf(format, args...)) }
func Warnf(format string, args ...any)  { write(LevelWarn, fmt.Sprintf(format, args...)) }
func Errorf(format string, args ...any) { write(LevelError, fmt.Sprintf(format, args...)) }
