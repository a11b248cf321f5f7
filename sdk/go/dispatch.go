package hangar

import (
	"runtime/debug"

	"hangar.local/hangar/log"
)

// The calls the host makes, in plain Go terms: the wasm bindings
// (export_wasm.go) only convert WIT values to and from these. Keeping the
// logic here lets `go test` check it natively.

// guard runs f, turning a panic into a non-recoverable error: a panicking
// agent fails its task instead of trapping the instance.
func guard(call string, f func() error) (err *AgentError) {
	defer func() {
		if p := recover(); p != nil {
			err = NonRecoverablef("the agent panicked in %s: %v", call, p).WithCode("Panic")
			log.Errorf("panic in %s: %v\n%s", call, p, debug.Stack())
		}
	}()
	return AsAgentError(f())
}

func noAgent(kind string) *AgentError {
	return NonRecoverablef("this component registers no %s agent: call hangar.Export%s(yourAgent{}) "+
		"from func init() in package main", kind, kind).WithCode("NoAgent")
}

func describeAgent() AgentInfo {
	switch {
	case registered.async != nil:
		return registered.async.Info()
	case registered.sync != nil:
		return registered.sync.Info()
	}
	return AgentInfo{Name: "unregistered-go-agent"}
}

func createTask(task *Task) (meta []byte, aerr *AgentError) {
	agent := registered.async
	if agent == nil {
		return nil, noAgent("Async")
	}
	aerr = guard("Create", func() error {
		value, err := agent.Create(task)
		if err != nil {
			return err
		}
		meta, err = encodeMeta(value)
		return err
	})
	return meta, aerr
}

func getTask(job *TaskHandle) (res *Resource, aerr *AgentError) {
	agent := registered.async
	if agent == nil {
		return nil, noAgent("Async")
	}
	aerr = guard("Get", func() error {
		var err error
		res, err = agent.Get(job)
		if err == nil && res == nil {
			err = NonRecoverable("the agent's Get returned neither a Resource nor an error").WithCode("NoResource")
		}
		return err
	})
	return res, aerr
}

func deleteTask(job *TaskHandle) *AgentError {
	agent := registered.async
	if agent == nil {
		return noAgent("Async")
	}
	return guard("Delete", func() error { return agent.Delete(job) })
}

func doTask(task *Task) (res *Resource, aerr *AgentError) {
	agent := registered.sync
	if agent == nil {
		return nil, noAgent("Sync")
	}
	aerr = guard("Do", func() error {
		var err error
		res, err = agent.Do(task)
		if err == nil && res == nil {
			err = NonRecoverable("the agent's Do returned neither a Resource nor an error").WithCode("NoResource")
		}
		return err
	})
	return res, aerr
}
