package hangar

// Phase is flyteidl.core.TaskExecution.Phase without UNDEFINED.
type Phase int

const (
	PhaseQueued Phase = iota
	PhaseWaitingForResources
	PhaseInitializing
	PhaseRunning
	PhaseSucceeded
	PhaseAborted
	PhaseFailed
	PhaseRetryableFailed
)

var phaseNames = [...]string{"QUEUED", "WAITING_FOR_RESOURCES", "INITIALIZING", "RUNNING", "SUCCEEDED", "ABORTED", "FAILED", "RETRYABLE_FAILED"}

func (p Phase) String() string {
	if p < 0 || int(p) >= len(phaseNames) {
		return "Phase(?)"
	}
	return phaseNames[p]
}

// IsTerminal reports whether propeller stops polling in this phase.
func (p Phase) IsTerminal() bool {
	return p == PhaseSucceeded || p == PhaseAborted || p == PhaseFailed || p == PhaseRetryableFailed
}

// LogLink is a link shown next to the task in the Flyte console.
type LogLink struct {
	Name, URI string
}

// Resource is the state of a job, as Get (async) or Do (sync) report it.
// Build one with the constructors (Running(), Succeeded(outputs),
// Failed(msg)...) and the With* methods.
type Resource struct {
	Phase Phase
	// Shown to the user; for failures, the reason.
	Message string
	// Outputs by name, any JSON-able values; the host converts them with the
	// output types the task declares. Only read when the phase is Succeeded.
	Outputs map[string]any
	// A protobuf-encoded flyteidl.core.LiteralMap, passed on as is; used
	// instead of Outputs when set.
	OutputsLiteralMap []byte
	LogLinks          []LogLink
	// Shown to users as custom info (any JSON-able values).
	CustomInfo map[string]any
}

// NewResource is a resource in `phase` with nothing else set.
func NewResource(phase Phase) *Resource { return &Resource{Phase: phase} }

// Queued: the job waits in the remote service's queue.
func Queued() *Resource { return NewResource(PhaseQueued) }

// Running: the job is running.
func Running() *Resource { return NewResource(PhaseRunning) }

// Succeeded: the job finished with these outputs (nil: no outputs).
func Succeeded(outputs map[string]any) *Resource {
	return &Resource{Phase: PhaseSucceeded, Outputs: outputs}
}

// Failed: the job failed for good; message says why.
func Failed(message string) *Resource {
	return &Resource{Phase: PhaseFailed, Message: message}
}

// RetryableFailed: the job failed, but a retry may succeed.
func RetryableFailed(message string) *Resource {
	return &Resource{Phase: PhaseRetryableFailed, Message: message}
}

// Aborted: the job was cancelled.
func Aborted() *Resource { return NewResource(PhaseAborted) }

// WithMessage sets the message shown to the user.
func (r *Resource) WithMessage(message string) *Resource {
	r.Message = message
	return r
}

// WithLogLink adds a link shown in the console.
func (r *Resource) WithLogLink(name, uri string) *Resource {
	r.LogLinks = append(r.LogLinks, LogLink{Name: name, URI: uri})
	return r
}

// WithCustomInfo sets the custom info shown to users.
func (r *Resource) WithCustomInfo(info map[string]any) *Resource {
	r.CustomInfo = info
	return r
}
