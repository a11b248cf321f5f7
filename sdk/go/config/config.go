// Package config reads operator settings for this plugin: the [config]
// table of its manifest (NAME.toml beside NAME.wasm), string keys to string
// values. For values that are not secret and that an operator changes
// without rebuilding the agent (a base URL, a region); `hangar inspect`
// shows them, so secrets never go here (use package secrets).
//
//	[config]
//	base_url = "https://jobs.example.com/api/"
//
// Outside WebAssembly (unit tests) Get reads the environment variable
// HANGAR_CONFIG_<key> instead.
package config

import "hangar.local/hangar"

// Get returns the value of `key` and whether the manifest sets it.
func Get(key string) (string, bool) { return lookup(key) }

// GetOr returns the value of `key`, or `fallback` when it is not set.
func GetOr(key, fallback string) string {
	if v, ok := lookup(key); ok {
		return v
	}
	return fallback
}

// Require returns the value of `key`, or a non-recoverable MissingConfig
// error telling the operator which line to add to the manifest.
func Require(key string) (string, error) {
	if v, ok := lookup(key); ok {
		return v, nil
	}
	return "", hangar.NonRecoverablef("config %q is not set: the operator sets it in the plugin's manifest "+
		"(NAME.toml beside NAME.wasm) under [config], e.g. %s = \"...\"", key, key).WithCode("MissingConfig")
}
