//go:build wasip1

package hangar

// Why this file exists: with `[reuse]` the host calls describe once on each
// new instance, commits it, and puts it back to that state after every
// call. What encoding/json builds on first use of a type (its encoders and
// decoders, cached per type) would then be built again, and thrown away
// again, on every call. So the first describe of an instance runs the SDK's
// own conversions once, before that commit, and their caches are part of
// the committed state. Without `[reuse]` describe runs only when the plugin
// loads, so a fresh instance per call does not pay for it. It never calls
// the agent and never calls the host.

import (
	"encoding/json"

	wit "hangar.local/hangar/internal/wit/flyte_agent_types"
	witTypes "hangar.local/hangar/internal/wittypes"
)

var warm bool

func warmUpOnce() {
	if !warm {
		warm = true
		warmUp()
	}
}

func warmUp() {
	id := wit.Identifier{Project: "project", Domain: "domain", Name: "name", Version: "version"}
	pairs := []wit.KeyValue{{Key: "k", Value: "v"}}
	task := wit.Task{
		Template: wit.TaskTemplate{
			Category: wit.TaskCategory{Name: "warm-up"},
			Id:       id,
			Custom:   `{"k":"v"}`,
			Config:   pairs,
			Sql:      witTypes.None[string](),
		},
		Inputs:         `{"n":3,"f":1.5,"s":"hi","b":true,"l":[1,"x"],"m":{"k":null}}`,
		OutputPrefix:   "s3://bucket/prefix",
		IdempotencyKey: "key",
		// As propeller sends it (`hangar run` sends none).
		Metadata: witTypes.Some(wit.TaskExecutionMetadata{
			TaskExecutionId: wit.TaskExecutionId{Task: id, NodeId: "n0", ExecutionName: "execution"},
			Namespace:       "namespace",
			Labels:          pairs,
			Annotations:     pairs,
		}),
	}
	t, aerr := taskFromWIT(task)
	if aerr != nil {
		return
	}
	_ = t.HasInput("s")
	_ = t.Inputs()
	_, _ = InputAs[string](t, "s")
	_, _ = InputAs[int](t, "n")
	_, _ = InputAs[float64](t, "f")
	_, _ = InputAs[bool](t, "b")
	_, _ = InputAs[[]any](t, "l")
	_, _ = InputAs[map[string]any](t, "m")
	// What Create usually returns, as resource meta, and Get reads back.
	fields := t.inputText()
	for _, meta := range []any{t.Inputs(), json.RawMessage(t.InputsJSON), fields} {
		text, err := encodeMeta(meta)
		if err != nil {
			return
		}
		handle := handleFromWIT(wit.TaskHandle{ResourceMeta: text})
		_, _ = MetaAs[map[string]any](handle)
		_, _ = MetaAs[map[string]json.RawMessage](handle)
		_, _ = MetaAs[map[string]string](handle)
	}
	outputs := make(map[string]any, len(fields))
	for k, v := range fields {
		outputs[k] = v
	}
	for _, r := range []*Resource{Succeeded(outputs), Succeeded(t.Inputs()).WithCustomInfo(t.Inputs())} {
		_, _ = resourceToWIT(r)
	}
}
