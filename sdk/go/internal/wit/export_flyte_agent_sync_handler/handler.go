//go:build wasip1

// Package export_flyte_agent_sync_handler holds the function the generated
// exports (../wit_exports) call for flyte:agent/sync-handler; hand-written,
// it forwards to what package hangar installs.
package export_flyte_agent_sync_handler

import (
	types "hangar.local/hangar/internal/wit/flyte_agent_types"
	witTypes "hangar.local/hangar/internal/wittypes"
)

// Installed by package hangar (export_wasm.go) at init.
var DoFunc func(types.Task) witTypes.Result[types.Resource, types.AgentError]

func Do(task types.Task) witTypes.Result[types.Resource, types.AgentError] { return DoFunc(task) }
