//go:build wasip1

package hangar

// The bridge between the generated WIT bindings (internal/wit) and the
// plain Go types of this package: it installs the functions the component's
// exports call and converts values both ways. Built only for wasip1.

import (
	"encoding/json"

	asyncexport "hangar.local/hangar/internal/wit/export_flyte_agent_async_handler"
	identityexport "hangar.local/hangar/internal/wit/export_flyte_agent_identity"
	syncexport "hangar.local/hangar/internal/wit/export_flyte_agent_sync_handler"
	wit "hangar.local/hangar/internal/wit/flyte_agent_types"
	_ "hangar.local/hangar/internal/wit/wit_exports" // the go:wasmexport functions
	witTypes "hangar.local/hangar/internal/wittypes"
)

func init() {
	identityexport.DescribeFunc = func() wit.AgentInfo {
		warmUpOnce()
		info := describeAgent()
		out := wit.AgentInfo{Name: info.Name, Categories: make([]wit.TaskCategory, 0, len(info.Categories))}
		for _, c := range info.Categories {
			out.Categories = append(out.Categories, wit.TaskCategory{Name: c.Name, Version: c.Version})
		}
		return out
	}
	asyncexport.CreateFunc = func(t wit.Task) witTypes.Result[[]uint8, wit.AgentError] {
		task, aerr := taskFromWIT(t)
		var meta []byte
		if aerr == nil {
			meta, aerr = createTask(task)
		}
		if aerr != nil {
			return witTypes.Err[[]uint8](errorToWIT(aerr))
		}
		return witTypes.Ok[[]uint8, wit.AgentError](meta)
	}
	asyncexport.GetFunc = func(h wit.TaskHandle) witTypes.Result[wit.Resource, wit.AgentError] {
		return resourceResult(getTask(handleFromWIT(h)))
	}
	asyncexport.DeleteFunc = func(h wit.TaskHandle) witTypes.Result[witTypes.Unit, wit.AgentError] {
		if aerr := deleteTask(handleFromWIT(h)); aerr != nil {
			return witTypes.Err[witTypes.Unit](errorToWIT(aerr))
		}
		return witTypes.Ok[witTypes.Unit, wit.AgentError](witTypes.Unit{})
	}
	syncexport.DoFunc = func(t wit.Task) witTypes.Result[wit.Resource, wit.AgentError] {
		task, aerr := taskFromWIT(t)
		if aerr != nil {
			return witTypes.Err[wit.Resource](errorToWIT(aerr))
		}
		return resourceResult(doTask(task))
	}
}

func taskFromWIT(t wit.Task) (*Task, *AgentError) {
	task := &Task{
		Category:       TaskCategory{Name: t.Template.Category.Name, Version: t.Template.Category.Version},
		TemplateID:     identifierFromWIT(t.Template.Id),
		Config:         mapFromWIT(t.Template.Config),
		SQL:            t.Template.Sql.SomeOr(""),
		OutputPrefix:   t.OutputPrefix,
		IdempotencyKey: t.IdempotencyKey,
		// Views of the buffers the host wrote the call into, like every
		// string here: internal/witruntime never hands those bytes out
		// again, so they need no copy.
		TemplateRaw: t.Template.Raw,
		InputsRaw:   t.InputsRaw,
	}
	if t.Metadata.IsSome() {
		m := t.Metadata.Some()
		id := m.TaskExecutionId
		task.Metadata = &TaskExecutionMetadata{
			TaskExecutionID: TaskExecutionID{
				Task:             identifierFromWIT(id.Task),
				NodeID:           id.NodeId,
				ExecutionProject: id.ExecutionProject,
				ExecutionDomain:  id.ExecutionDomain,
				ExecutionName:    id.ExecutionName,
				RetryAttempt:     id.RetryAttempt,
			},
			Namespace:            m.Namespace,
			Labels:               mapFromWIT(m.Labels),
			Annotations:          mapFromWIT(m.Annotations),
			K8sServiceAccount:    m.K8sServiceAccount,
			EnvironmentVariables: mapFromWIT(m.EnvironmentVariables),
		}
	}
	if err := task.setJSON([]byte(t.Inputs), []byte(t.Template.Custom)); err != nil {
		return nil, AsAgentError(err)
	}
	return task, nil
}

func identifierFromWIT(id wit.Identifier) Identifier {
	return Identifier{Project: id.Project, Domain: id.Domain, Name: id.Name, Version: id.Version, Org: id.Org}
}

func mapFromWIT(kvs []wit.KeyValue) map[string]string {
	out := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		out[kv.Key] = kv.Value
	}
	return out
}

func handleFromWIT(h wit.TaskHandle) *TaskHandle {
	return &TaskHandle{
		Category:     TaskCategory{Name: h.Category.Name, Version: h.Category.Version},
		MetaJSON:     append([]byte(nil), h.ResourceMeta...),
		OutputPrefix: h.OutputPrefix,
	}
}

func errorToWIT(e *AgentError) wit.AgentError {
	kind := wit.ErrorKindNonRecoverable
	if e.IsRecoverable() {
		kind = wit.ErrorKindRecoverable
	}
	return wit.AgentError{Message: e.Message, Code: e.Code, Kind: kind}
}

func resourceResult(r *Resource, aerr *AgentError) witTypes.Result[wit.Resource, wit.AgentError] {
	if aerr == nil {
		var out wit.Resource
		out, aerr = resourceToWIT(r)
		if aerr == nil {
			return witTypes.Ok[wit.Resource, wit.AgentError](out)
		}
	}
	return witTypes.Err[wit.Resource](errorToWIT(aerr))
}

func resourceToWIT(r *Resource) (wit.Resource, *AgentError) {
	out := wit.Resource{
		Phase:      wit.Phase(r.Phase),
		Message:    r.Message,
		Outputs:    witTypes.None[wit.Outputs](),
		LogLinks:   make([]wit.LogLink, 0, len(r.LogLinks)),
		CustomInfo: witTypes.None[string](),
	}
	switch {
	case r.OutputsLiteralMap != nil:
		out.Outputs = witTypes.Some(wit.MakeOutputsLiteralMap(r.OutputsLiteralMap))
	case r.Outputs != nil:
		text, err := json.Marshal(r.Outputs)
		if err != nil {
			return out, NonRecoverablef("the outputs are not JSON-able: %v", err).WithCode("InvalidOutputs")
		}
		out.Outputs = witTypes.Some(wit.MakeOutputsJson(string(text)))
	}
	for _, l := range r.LogLinks {
		out.LogLinks = append(out.LogLinks, wit.LogLink{Name: l.Name, Uri: l.URI})
	}
	if r.CustomInfo != nil {
		text, err := json.Marshal(r.CustomInfo)
		if err != nil {
			return out, NonRecoverablef("the custom info is not JSON-able: %v", err).WithCode("InvalidCustomInfo")
		}
		out.CustomInfo = witTypes.Some(string(text))
	}
	return out, nil
}
