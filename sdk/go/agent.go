package hangar

// TaskCategory is what propeller routes on: TaskTemplate.type and
// task_type_version.
type TaskCategory struct {
	Name    string
	Version int32
}

// AgentInfo is what an agent says about itself; the host asks once, at load.
type AgentInfo struct {
	// Shown by ListAgents and looked up by GetAgent.
	Name string
	// Task categories served (at least one).
	Categories []TaskCategory
}

// NewAgentInfo names an agent and the task types (version 0) it serves.
func NewAgentInfo(name string, taskTypes ...string) AgentInfo {
	info := AgentInfo{Name: name}
	for _, t := range taskTypes {
		info.Categories = append(info.Categories, TaskCategory{Name: t})
	}
	return info
}

// AsyncAgent is an agent for long-running jobs (flytekit's AsyncAgentBase):
// propeller calls Create once, Get until the phase is terminal, and Delete
// only when the run is aborted.
//
// Agents are stateless: each call may run in a fresh instance on any
// replica, so everything Get and Delete need goes into the value Create
// returns (any JSON-able value: a struct, a map, a string).
type AsyncAgent interface {
	Info() AgentInfo
	// Create starts the job and returns what finds it again.
	Create(task *Task) (meta any, err error)
	// Get reports the job's state; job.DecodeMeta reads Create's value.
	Get(job *TaskHandle) (*Resource, error)
	// Delete cancels the job.
	Delete(job *TaskHandle) error
}

// SyncAgent answers at once (flytekit's SyncAgentBase); the Resource it
// returns must be terminal.
type SyncAgent interface {
	Info() AgentInfo
	Do(task *Task) (*Resource, error)
}

// registered is the one agent this component serves.
var registered struct {
	async AsyncAgent
	sync  SyncAgent
}

// ExportAsync makes `agent` the agent this component serves. Call it once,
// from an init function of package main:
//
//	func init() { hangar.ExportAsync(MyAgent{}) }
//	func main() {}
//
// Build the component with the async world (componentize.sh --world async).
func ExportAsync(agent AsyncAgent) { registered.async = agent }

// ExportSync is ExportAsync for a sync agent (componentize.sh --world sync).
func ExportSync(agent SyncAgent) { registered.sync = agent }
