//go:build wasip1

// Package export_flyte_agent_identity holds the function the generated
// exports (../wit_exports) call for flyte:agent/identity; hand-written, it
// forwards to what package hangar installs.
package export_flyte_agent_identity

import types "hangar.local/hangar/internal/wit/flyte_agent_types"

// Installed by package hangar (export_wasm.go) at init.
var DescribeFunc func() types.AgentInfo

func Describe() types.AgentInfo { return DescribeFunc() }
