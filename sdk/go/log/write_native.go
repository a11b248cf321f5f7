//go:build !wasip1

package log

import (
	"fmt"
	"os"
)

func write(level Level, message string) { fmt.Fprintf(os.Stderr, "[%s] %s\n", level, message) }
