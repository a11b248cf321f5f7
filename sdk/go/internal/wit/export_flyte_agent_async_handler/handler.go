//go:build wasip1

// Package export_flyte_agent_async_handler holds the functions the generated
// exports (../wit_exports) call for flyte:agent/async-handler. Hand-written,
// not generated: they forward to what package hangar installs, so these
// bindings never import the SDK (which imports them).
package export_flyte_agent_async_handler

import (
	types "hangar.local/hangar/internal/wit/flyte_agent_types"
	witTypes "hangar.local/hangar/internal/wittypes"
)

// Installed by package hangar (export_wasm.go) at init.
var (
	CreateFunc func(types.Task) witTypes.Result[[]uint8, types.AgentError]
	GetFunc    func(types.TaskHandle) witTypes.Result[types.Resource, types.AgentError]
	DeleteFunc func(types.TaskHandle) witTypes.Result[witTypes.Unit, types.AgentError]
)

func Create(task types.Task) witTypes.Result[[]uint8, types.AgentError] { return CreateFunc(task) }

func Get(handle types.TaskHandle) witTypes.Result[types.Resource, types.AgentError] {
	return GetFunc(handle)
}

func Delete(handle types.TaskHandle) witTypes.Result[witTypes.Unit, types.AgentError] {
	return DeleteFunc(handle)
}
