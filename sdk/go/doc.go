// Package hangar is the Go SDK for Flyte agents that run in Hangar as
// WebAssembly components.
//
// An agent is a type with Create/Get/Delete (AsyncAgent) or Do (SyncAgent)
// registered once from package main:
//
//	func init() { hangar.ExportAsync(MyAgent{}) }
//	func main() {}
//
// and built with componentize.sh (wasip1 + go:wasmexport, then a component
// with the wasip1 reactor adapter). Host services live in sub-packages:
// secrets, config, log, and fetch (outbound HTTP over wasi:http). Code that
// talks to the host is built only for wasip1; everything else, and a native
// fallback for each host service, runs under plain `go test`. See README.md.
package hangar
