package hangar

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestTaskDecodesInputsExactlyAndTyped(t *testing.T) {
	task := &Task{}
	if err := task.setJSON([]byte(`{"n": -4611686018427387904, "x": 2.5, "s": "hi", "xs": [1, 2]}`), []byte(`{"spec": {"a": 1}}`)); err != nil {
		t.Fatal(err)
	}
	if got := task.Inputs()["n"].(json.Number).String(); got != "-4611686018427387904" {
		t.Fatalf("big int lost precision: %s", got)
	}
	n, err := InputAs[int64](task, "n")
	if err != nil || n != -4611686018427387904 {
		t.Fatalf("InputAs int64 = %d, %v", n, err)
	}
	xs, err := InputAs[[]int](task, "xs")
	if err != nil || len(xs) != 2 || xs[1] != 2 {
		t.Fatalf("InputAs []int = %v, %v", xs, err)
	}
	var in struct {
		S string  `json:"s"`
		X float64 `json:"x"`
	}
	if err := task.DecodeInputs(&in); err != nil || in.S != "hi" || in.X != 2.5 {
		t.Fatalf("DecodeInputs = %+v, %v", in, err)
	}
	var custom struct {
		Spec map[string]int `json:"spec"`
	}
	if err := task.DecodeCustom(&custom); err != nil || custom.Spec["a"] != 1 {
		t.Fatalf("DecodeCustom = %+v, %v", custom, err)
	}
	if !task.HasInput("s") || task.HasInput("nope") {
		t.Fatal("HasInput is wrong")
	}
}

func TestInputReadsTheTextOfItsOwnTask(t *testing.T) {
	task := &Task{}
	for _, text := range []string{`{"s": "first", "n": 1}`, `{"s": "second"}`} {
		if err := task.setJSON([]byte(text), []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
		var want map[string]any
		_ = json.Unmarshal([]byte(text), &want)
		s, err := InputAs[string](task, "s")
		if err != nil || s != want["s"] || task.Inputs()["s"] != want["s"] {
			t.Fatalf("after %s: InputAs s = %q, %v", text, s, err)
		}
		_, hasN := want["n"]
		if _, err := InputAs[int](task, "n"); (err == nil) != hasN || task.HasInput("n") != hasN {
			t.Fatalf("after %s: n present should be %v (Input err %v, HasInput %v)", text, hasN, err, task.HasInput("n"))
		}
	}
	byHand := &Task{InputsJSON: []byte(`{"k": "v"}`)}
	if k, err := InputAs[string](byHand, "k"); err != nil || k != "v" || !byHand.HasInput("k") || byHand.Inputs()["k"] != "v" {
		t.Fatalf("a Task built by hand should serve its InputsJSON: %q, %v", k, err)
	}
	if _, err := InputAs[string](&Task{}, "k"); err == nil {
		t.Fatal("an empty Task has no inputs")
	}
}

func TestInputErrorsAreNonRecoverableWithCodes(t *testing.T) {
	task, err := NewTask(map[string]any{"s": "text"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = InputAs[int](task, "missing")
	assertCode(t, err, "MissingInput", false)
	_, err = InputAs[int](task, "s")
	assertCode(t, err, "InvalidInput", false)
}

func TestBadJSONFromTheHostIsAnErrorNotAPanic(t *testing.T) {
	task := &Task{}
	assertCode(t, task.setJSON([]byte(`[1, 2]`), nil), "InvalidInputs", false)
	assertCode(t, task.setJSON([]byte(`{}`), []byte(`"text"`)), "InvalidCustom", false)
	// Broken inside, right shape: the error comes where the inputs are read.
	broken := &Task{}
	if err := broken.setJSON([]byte(`{"a": [1, }`), nil); err != nil {
		t.Fatalf("setJSON checks only the shape: %v", err)
	}
	if _, err := InputAs[int](broken, "a"); err == nil {
		t.Fatal("reading an input of broken text should be an error")
	}
	if err := broken.DecodeInputs(&map[string]any{}); err == nil {
		t.Fatal("decoding broken inputs should be an error")
	}
	if len(broken.Inputs()) != 0 {
		t.Fatal("broken inputs should read as none")
	}
	if err := task.setJSON(nil, []byte("null")); err != nil || task.Inputs() == nil || task.Custom == nil || string(task.InputsJSON) != "{}" {
		t.Fatalf("empty inputs and null custom should be empty maps: %v", err)
	}
}

func TestMetaRoundTripsThroughJSON(t *testing.T) {
	type job struct {
		ID   string `json:"id"`
		Base string `json:"base"`
	}
	h, err := NewTaskHandle(job{ID: "job-1", Base: "http://x"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := MetaAs[job](h)
	if err != nil || got.ID != "job-1" || got.Base != "http://x" {
		t.Fatalf("MetaAs = %+v, %v", got, err)
	}
	_, err = MetaAs[int](h)
	assertCode(t, err, "InvalidResourceMeta", false)
	_, err = NewTaskHandle(func() {})
	assertCode(t, err, "InvalidResourceMeta", false)
}

func TestErrorsConvert(t *testing.T) {
	e := Recoverable("try later").WithCode("Busy")
	if e.Error() != "try later (Busy)" || !e.IsRecoverable() {
		t.Fatalf("unexpected %q", e.Error())
	}
	wrapped := fmt.Errorf("submitting: %w", e)
	if AsAgentError(wrapped) != e {
		t.Fatal("an AgentError inside a wrapped error must be found")
	}
	plain := AsAgentError(errors.New("boom"))
	if plain.Message != "boom" || plain.IsRecoverable() || plain.Code != "" {
		t.Fatalf("plain error became %+v", plain)
	}
	if AsAgentError(nil) != nil {
		t.Fatal("nil must stay nil")
	}
}

type panicky struct{}

func (panicky) Info() AgentInfo                    { return NewAgentInfo("P", "p") }
func (panicky) Create(*Task) (any, error)          { panic("kaboom") }
func (panicky) Get(*TaskHandle) (*Resource, error) { return nil, nil }
func (panicky) Delete(*TaskHandle) error           { return Recoverable("later").WithCode("Later") }
func (panicky) Do(*Task) (*Resource, error)        { return Succeeded(map[string]any{"a": 1}), nil }

func TestDispatchGuardsPanicsAndMissingAnswers(t *testing.T) {
	saved := registered
	defer func() { registered = saved }()

	registered.async, registered.sync = nil, nil
	_, err := createTask(&Task{})
	assertCode(t, err, "NoAgent", false)
	if !strings.Contains(err.Message, "hangar.ExportAsync") {
		t.Fatalf("the error should teach the fix: %s", err.Message)
	}

	ExportAsync(panicky{})
	ExportSync(panicky{})
	if describeAgent().Name != "P" || describeAgent().Categories[0].Name != "p" {
		t.Fatalf("describe = %+v", describeAgent())
	}
	_, err = createTask(&Task{})
	assertCode(t, err, "Panic", false)
	if !strings.Contains(err.Message, "kaboom") {
		t.Fatalf("panic message lost: %s", err.Message)
	}
	_, err = getTask(&TaskHandle{})
	assertCode(t, err, "NoResource", false)
	assertCode(t, deleteTask(&TaskHandle{}), "Later", true)
	res, err := doTask(&Task{})
	if err != nil || res.Phase != PhaseSucceeded || !res.Phase.IsTerminal() {
		t.Fatalf("do = %+v, %v", res, err)
	}
}

func TestResourceBuilders(t *testing.T) {
	r := Running().WithMessage("3 s left").WithLogLink("console", "https://x/1").WithCustomInfo(map[string]any{"id": 1})
	if r.Phase != PhaseRunning || r.Message != "3 s left" || len(r.LogLinks) != 1 || r.CustomInfo["id"] != 1 {
		t.Fatalf("unexpected %+v", r)
	}
	if r.Phase.IsTerminal() || !Failed("x").Phase.IsTerminal() || Failed("x").Message != "x" {
		t.Fatal("terminal phases are wrong")
	}
	if RetryableFailed("r").Phase.String() != "RETRYABLE_FAILED" {
		t.Fatal("phase names are wrong")
	}
}

func assertCode(t *testing.T, err error, code string, recoverable bool) {
	t.Helper()
	var ae *AgentError
	if !errors.As(err, &ae) {
		t.Fatalf("want an *AgentError with code %s, got %v", code, err)
	}
	if ae.Code != code || ae.IsRecoverable() != recoverable {
		t.Fatalf("want code %s (recoverable=%v), got %+v", code, recoverable, ae)
	}
}

func TestMetaOfJSONTextIsThatText(t *testing.T) {
	cases := []struct {
		meta    json.RawMessage
		want    string
		wantErr bool
	}{
		{json.RawMessage(`{"n": 3, "s": "hi"}`), `{"n": 3, "s": "hi"}`, false},
		{json.RawMessage(`[1,2]`), `[1,2]`, false},
		{nil, `null`, false},
		{json.RawMessage(`{"n": `), "", true},
		{json.RawMessage(``), "", true},
	}
	for _, c := range cases {
		text, err := encodeMeta(c.meta)
		if c.wantErr {
			assertCode(t, err, "InvalidResourceMeta", false)
			continue
		}
		if err != nil || string(text) != c.want {
			t.Errorf("encodeMeta(%q) = %q, %v; want %q", c.meta, text, err, c.want)
		}
	}
}
