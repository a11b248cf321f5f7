//go:build !wasip1

package config

import "os"

// lookup outside WebAssembly: the environment variable HANGAR_CONFIG_<key>.
func lookup(key string) (string, bool) { return os.LookupEnv("HANGAR_CONFIG_" + key) }
