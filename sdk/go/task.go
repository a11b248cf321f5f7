package hangar

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sync/atomic"
)

// Identifier is flyteidl.core.Identifier of a task.
type Identifier struct {
	Project, Domain, Name, Version, Org string
}

// TaskExecutionID is flyteidl.core.TaskExecutionIdentifier, flattened.
type TaskExecutionID struct {
	Task             Identifier
	NodeID           string
	ExecutionProject string
	ExecutionDomain  string
	ExecutionName    string
	RetryAttempt     uint32
}

// TaskExecutionMetadata is what propeller says about the execution.
type TaskExecutionMetadata struct {
	TaskExecutionID      TaskExecutionID
	Namespace            string
	Labels               map[string]string
	Annotations          map[string]string
	K8sServiceAccount    string
	EnvironmentVariables map[string]string
}

// Task is a job to start (Create) or an answer to compute (Do). Custom
// arrives decoded from the JSON the host sends, and Inputs() decodes the
// inputs on first use; numbers are json.Number so that large integers stay
// exact: read typed values with Input / InputAs / DecodeInputs /
// DecodeCustom rather than type assertions.
type Task struct {
	// The task type and version this task was routed on.
	Category TaskCategory
	// Identifier of the task template.
	TemplateID Identifier
	// TaskTemplate.custom as a JSON object (empty when unset).
	Custom map[string]any
	// TaskTemplate.config.
	Config map[string]string
	// TaskTemplate.sql.statement, for SQL tasks ("" otherwise).
	SQL string
	// Where propeller expects output files, if outputs are not returned.
	OutputPrefix string
	// nil when run locally (`hangar run`).
	Metadata *TaskExecutionMetadata
	// Stable for one attempt of one task execution, different for each
	// retry: send it to the remote service so a repeated Create does not
	// start a second job.
	IdempotencyKey string
	// The exact JSON text of the inputs and of custom.
	InputsJSON, CustomJSON []byte
	// The whole flyteidl.core.TaskTemplate and the inputs' LiteralMap,
	// protobuf-encoded, for agents that need full fidelity.
	TemplateRaw, InputsRaw []byte

	// The inputs decoded, for Inputs, and their JSON text by name, for
	// Input: each made on its first use. Most calls need neither, and
	// decoding was the largest cost the SDK added to a Go agent's call.
	// Atomic so that goroutines may share a task.
	inputValues atomic.Pointer[map[string]any]
	inputFields atomic.Pointer[map[string]json.RawMessage]
}

// NewTask builds a Task from inputs and custom values, as the host would
// deliver them; for an agent's unit tests. Values go through JSON, so the
// agent sees exactly the forms it gets in production.
func NewTask(inputs, custom map[string]any) (*Task, error) {
	inputsJSON, err := json.Marshal(orEmpty(inputs))
	if err != nil {
		return nil, fmt.Errorf("inputs are not JSON-able: %w", err)
	}
	customJSON, err := json.Marshal(orEmpty(custom))
	if err != nil {
		return nil, fmt.Errorf("custom is not JSON-able: %w", err)
	}
	task := &Task{IdempotencyKey: "test-idempotency-key"}
	if err := task.setJSON(inputsJSON, customJSON); err != nil {
		return nil, err
	}
	return task, nil
}

func orEmpty(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

// setJSON keeps the inputs and custom text, so that text of another kind
// becomes a clear error instead of a panic in agent code. Custom is decoded
// here (and so checked through); the inputs are checked for the shape of
// an object (isObjectText) and decoded only when asked.
func (t *Task) setJSON(inputs, custom []byte) error {
	t.InputsJSON, t.CustomJSON = objectText(inputs), objectText(custom)
	t.inputValues.Store(nil) // decode again from the new text when asked
	t.inputFields.Store(nil)
	if !isObjectText(inputs) {
		return NonRecoverablef("the host sent inputs that are not a JSON object: %.80q", inputs).WithCode("InvalidInputs")
	}
	if err := decodeObject(custom, &t.Custom); err != nil {
		return NonRecoverablef("the task's custom is not a JSON object: %v", err).WithCode("InvalidCustom")
	}
	return nil
}

// objectText is `text`, or {} when it is empty (so the raw JSON fields are
// always valid JSON).
func objectText(text []byte) []byte {
	if len(bytes.TrimSpace(text)) == 0 {
		return []byte("{}")
	}
	return text
}

// isObjectText reports whether `text` has the shape of a JSON object (or is
// `null`, or nothing), without reading it through: the host writes the
// inputs with a JSON encoder, so this catches a mix-up of kinds, and text
// that is broken inside becomes an error where it is decoded (Input,
// DecodeInputs), never a panic.
func isObjectText(text []byte) bool {
	trimmed := bytes.TrimSpace(text)
	if len(trimmed) == 0 || string(trimmed) == "null" {
		return true
	}
	return len(trimmed) >= 2 && trimmed[0] == '{' && trimmed[len(trimmed)-1] == '}'
}

// Inputs is the task's inputs by name, as plain JSON values (see
// wit/agent.wit, task.inputs: numbers as json.Number, strings, RFC 3339
// datetimes, "1.5s" durations, {"uri", "format"} blobs, nil for None...).
// Decoded from InputsJSON on the first call; later calls return the same
// map, so changes to it are seen by later calls on this task.
func (t *Task) Inputs() map[string]any {
	return decodedOnce(&t.inputValues, t.InputsJSON)
}

// inputText is the JSON text of each input by name, split from InputsJSON
// on first use.
func (t *Task) inputText() map[string]json.RawMessage {
	return decodedOnce(&t.inputFields, t.InputsJSON)
}

// decodedOnce is `text` decoded as an object on the first call and kept in
// `cache` for the next ones. Text that does not decode (broken inside, or a
// hand-built Task's) reads as no inputs: Input then reports the input
// missing, and DecodeInputs, which decodes the text itself, the error.
func decodedOnce[V any](cache *atomic.Pointer[map[string]V], text []byte) map[string]V {
	if m := cache.Load(); m != nil {
		return *m
	}
	var m map[string]V
	if err := decodeObject(text, &m); err != nil {
		m = map[string]V{}
	}
	cache.Store(&m)
	return m
}

// decodeObject decodes a JSON object (empty text counts as {}) keeping
// numbers exact.
func decodeObject[M ~map[string]V, V any](text []byte, into *M) error {
	*into = M{}
	if len(bytes.TrimSpace(text)) == 0 || string(text) == "{}" { // the usual custom: no decoder needed
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(text))
	dec.UseNumber()
	if err := dec.Decode(into); err != nil {
		return err
	}
	if *into == nil { // the text was `null`
		*into = M{}
	}
	return nil
}

// Input decodes the input `name` into `into` (a pointer). A missing input is
// a non-recoverable MissingInput error; a value of another type is
// InvalidInput.
func (t *Task) Input(name string, into any) error {
	raw, ok := t.inputText()[name]
	if !ok {
		return NonRecoverablef("missing input %q", name).WithCode("MissingInput")
	}
	if err := json.Unmarshal(raw, into); err != nil {
		return NonRecoverablef("input %q has the wrong type: %v", name, err).WithCode("InvalidInput")
	}
	return nil
}

// HasInput reports whether the task has an input called `name`. It reads
// the keys of InputsJSON without decoding the values.
func (t *Task) HasInput(name string) bool {
	return hasTopLevelKey(t.InputsJSON, name)
}

// InputAs is Input returning the value: `n, err := hangar.InputAs[int](task, "n")`.
func InputAs[T any](t *Task, name string) (T, error) {
	var v T
	err := t.Input(name, &v)
	return v, err
}

// DecodeInputs decodes all inputs into a struct (or map) of your choice,
// with encoding/json rules (`json:"name"` tags).
func (t *Task) DecodeInputs(into any) error {
	if err := decodeStrict(t.InputsJSON, into); err != nil {
		return NonRecoverablef("the inputs do not fit %T: %v", into, err).WithCode("InvalidInput")
	}
	return nil
}

// DecodeCustom decodes TaskTemplate.custom into a struct (or map) of your
// choice, with encoding/json rules.
func (t *Task) DecodeCustom(into any) error {
	if err := decodeStrict(t.CustomJSON, into); err != nil {
		return NonRecoverablef("the task's custom does not fit %T: %v", into, err).WithCode("InvalidCustom")
	}
	return nil
}

func decodeStrict(text []byte, into any) error {
	if len(bytes.TrimSpace(text)) == 0 {
		text = []byte("{}")
	}
	return json.Unmarshal(text, into)
}

// TaskHandle is what Get and Delete receive: the resource meta that Create
// returned (as JSON), and where the task came from.
type TaskHandle struct {
	Category TaskCategory
	// The JSON of the value Create returned.
	MetaJSON     []byte
	OutputPrefix string
}

// DecodeMeta decodes the value Create returned into `into` (a pointer).
func (h *TaskHandle) DecodeMeta(into any) error {
	if err := json.Unmarshal(h.MetaJSON, into); err != nil {
		return NonRecoverablef("the resource meta is not the %T this agent's Create returns: %v", into, err).
			WithCode("InvalidResourceMeta")
	}
	return nil
}

// MetaAs is DecodeMeta returning the value: `job, err := hangar.MetaAs[Job](h)`.
func MetaAs[T any](h *TaskHandle) (T, error) {
	var v T
	err := h.DecodeMeta(&v)
	return v, err
}

// NewTaskHandle builds the handle Get and Delete would receive after Create
// returned `meta`; for an agent's unit tests.
func NewTaskHandle(meta any) (*TaskHandle, error) {
	text, err := encodeMeta(meta)
	if err != nil {
		return nil, err
	}
	return &TaskHandle{MetaJSON: text}, nil
}

// encodeMeta is how the value Create returns becomes resource-meta bytes.
// JSON text that is already valid (json.RawMessage, as the echo agent
// returns its inputs) is kept as it is, without the encoder's copy.
func encodeMeta(meta any) ([]byte, error) {
	if raw, ok := meta.(json.RawMessage); ok && json.Valid(raw) {
		return raw, nil
	}
	text, err := json.Marshal(meta)
	if err != nil {
		return nil, NonRecoverablef("Create returned resource meta that is not JSON-able (%T): %v", meta, err).
			WithCode("InvalidResourceMeta")
	}
	return text, nil
}
