//go:build !wasip1

package secrets

import "os"

// lookup outside WebAssembly: the environment variable _FSEC_<name>, so an
// agent's unit tests can set secrets with t.Setenv.
func lookup(name string) (string, refusal, bool) {
	value, ok := os.LookupEnv("_FSEC_" + name)
	if !ok {
		return "", notFound, false
	}
	return value, 0, true
}
