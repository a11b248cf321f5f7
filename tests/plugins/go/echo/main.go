// Command echo is the async test fixture `echo_go`: Create keeps the inputs
// (as exact JSON) in the resource meta, Get returns them as outputs. Inputs
// can ask for a failure, so tests see errors cross the boundary:
// "fail": "recoverable" | "non-recoverable" (with "message"), or
// "panic": true. Small on purpose: it is also the Go benchmark agent.
package main

import (
	"encoding/json"

	"hangar.local/hangar"
)

func init() { hangar.ExportAsync(Echo{}) }

func main() {}

type Echo struct{}

func (Echo) Info() hangar.AgentInfo { return hangar.NewAgentInfo("Echo (Go)", "echo_go") }

func (Echo) Create(task *hangar.Task) (any, error) {
	if err := failOnRequest(task); err != nil {
		return nil, err
	}
	return json.RawMessage(task.InputsJSON), nil
}

func (Echo) Get(job *hangar.TaskHandle) (*hangar.Resource, error) {
	inputs, err := hangar.MetaAs[map[string]json.RawMessage](job)
	if err != nil {
		return nil, err
	}
	outputs := make(map[string]any, len(inputs))
	for k, v := range inputs {
		outputs[k] = v
	}
	return hangar.Succeeded(outputs), nil
}

func (Echo) Delete(*hangar.TaskHandle) error { return nil }

func failOnRequest(task *hangar.Task) error {
	if task.HasInput("panic") {
		panic("asked to panic")
	}
	if !task.HasInput("fail") {
		return nil
	}
	kind, _ := hangar.InputAs[string](task, "fail")
	message, _ := hangar.InputAs[string](task, "message")
	if kind == "recoverable" {
		return hangar.Recoverable(message).WithCode("EchoRetry")
	}
	return hangar.NonRecoverable(message).WithCode("EchoFailure")
}
