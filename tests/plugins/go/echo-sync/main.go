// Command echo-sync is the sync test fixture `echo_sync_go`: Do returns the
// inputs as outputs. "fail" / "panic" inputs fail as in the echo fixture;
// "read_secret": NAME adds the output "secret" (its value), "read_config":
// KEY adds "config" (its value or null), so tests see the host imports work;
// either also adds "category_after_imports", the task's category name read
// after those imports wrote their answers into the guest's memory.
package main

import (
	"encoding/json"

	"hangar.local/hangar"
	"hangar.local/hangar/config"
	"hangar.local/hangar/log"
	"hangar.local/hangar/secrets"
)

func init() { hangar.ExportSync(EchoSync{}) }

func main() {}

type EchoSync struct{}

func (EchoSync) Info() hangar.AgentInfo {
	return hangar.NewAgentInfo("Echo Sync (Go)", "echo_sync_go")
}

func (EchoSync) Do(task *hangar.Task) (*hangar.Resource, error) {
	if task.HasInput("panic") {
		panic("asked to panic")
	}
	if task.HasInput("fail") {
		kind, _ := hangar.InputAs[string](task, "fail")
		message, _ := hangar.InputAs[string](task, "message")
		if kind == "recoverable" {
			return nil, hangar.Recoverable(message).WithCode("EchoRetry")
		}
		return nil, hangar.NonRecoverable(message).WithCode("EchoFailure")
	}
	var inputs map[string]json.RawMessage
	if err := task.DecodeInputs(&inputs); err != nil {
		return nil, err
	}
	outputs := make(map[string]any, len(inputs))
	for k, v := range inputs {
		outputs[k] = v
	}
	if name, err := hangar.InputAs[string](task, "read_secret"); err == nil {
		value, err := secrets.Get(name)
		if err != nil {
			return nil, err
		}
		outputs["secret"] = value
	}
	if key, err := hangar.InputAs[string](task, "read_config"); err == nil {
		if value, ok := config.Get(key); ok {
			outputs["config"] = value
		} else {
			outputs["config"] = nil
		}
	}
	if task.HasInput("read_secret") || task.HasInput("read_config") {
		// The host wrote the task's strings into this instance's memory
		// before the call, and the imports' answers after them: the first
		// must not have been overwritten (sdk/go/internal/witruntime).
		outputs["category_after_imports"] = task.Category.Name
	}
	log.Infof("echo_sync_go answered %d outputs", len(outputs))
	return hangar.Succeeded(outputs), nil
}
