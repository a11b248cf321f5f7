package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"hangar.local/hangar"
)

// fakeService is a job service whose single job is in `state`.
type fakeService struct {
	mu        sync.Mutex
	state     string
	status    int // answer every request with this status when non-zero
	cancelled bool
	keys      []string
}

func (f *fakeService) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.status != 0 {
		w.WriteHeader(f.status)
		_, _ = w.Write([]byte(`{"error": "down"}`))
		return
	}
	switch {
	case r.Method == "POST" && r.URL.Path == "/jobs":
		f.keys = append(f.keys, r.Header.Get("Idempotency-Key"))
		_, _ = w.Write([]byte(`{"id": "job-1"}`))
	case r.Method == "GET" && r.URL.Path == "/jobs/job-1":
		_ = json.NewEncoder(w).Encode(map[string]any{"state": f.state, "result": map[string]any{"rows": 3}, "error": "disk full"})
	case r.Method == "POST" && r.URL.Path == "/jobs/job-1/cancel":
		f.cancelled = true
	default:
		w.WriteHeader(404)
	}
}

func start(t *testing.T) (*fakeService, *httptest.Server) {
	f := &fakeService{state: "RUNNING"}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func create(t *testing.T, base string) *hangar.TaskHandle {
	t.Helper()
	task, err := hangar.NewTask(map[string]any{"x": 1}, map[string]any{"base_url": base + "/", "spec": map[string]any{"seconds": 1}})
	if err != nil {
		t.Fatal(err)
	}
	meta, err := HTTPJob{}.Create(task)
	if err != nil {
		t.Fatal(err)
	}
	h, err := hangar.NewTaskHandle(meta)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestCreatePollsAndMapsStates(t *testing.T) {
	f, srv := start(t)
	h := create(t, srv.URL)
	if len(f.keys) != 1 || f.keys[0] != "test-idempotency-key" {
		t.Fatalf("the idempotency key was not sent: %v", f.keys)
	}
	for state, phase := range map[string]hangar.Phase{
		"PENDING": hangar.PhaseQueued, "RUNNING": hangar.PhaseRunning, "SUCCEEDED": hangar.PhaseSucceeded,
		"FAILED": hangar.PhaseFailed, "CANCELLED": hangar.PhaseAborted,
	} {
		f.state = state
		res, err := HTTPJob{}.Get(h)
		if err != nil || res.Phase != phase {
			t.Fatalf("%s: got %+v, %v; want %s", state, res, err, phase)
		}
		if state == "SUCCEEDED" && res.Outputs["rows"] != float64(3) {
			t.Fatalf("outputs = %v", res.Outputs)
		}
		if state == "FAILED" && !strings.Contains(res.Message, "disk full") {
			t.Fatalf("failure message = %q", res.Message)
		}
	}
}

func TestServerErrorsAreRetryable(t *testing.T) {
	f, srv := start(t)
	h := create(t, srv.URL)
	f.status = 503
	_, err := HTTPJob{}.Get(h)
	if ae := hangar.AsAgentError(err); ae == nil || !ae.IsRecoverable() || ae.Code != "ServiceUnavailable" {
		t.Fatalf("want a recoverable ServiceUnavailable, got %v", err)
	}
	f.status = 400
	_, err = HTTPJob{}.Get(h)
	if ae := hangar.AsAgentError(err); ae == nil || ae.IsRecoverable() {
		t.Fatalf("want a non-recoverable error, got %v", err)
	}
}

func TestDeleteCancels(t *testing.T) {
	f, srv := start(t)
	h := create(t, srv.URL)
	if err := (HTTPJob{}).Delete(h); err != nil || !f.cancelled {
		t.Fatalf("delete: %v, cancelled=%v", err, f.cancelled)
	}
}

func TestMissingBaseURLTeachesTheFix(t *testing.T) {
	task, _ := hangar.NewTask(nil, nil)
	_, err := HTTPJob{}.Create(task)
	if err == nil || !strings.Contains(err.Error(), "base_url") || !strings.Contains(err.Error(), "[config]") {
		t.Fatalf("got %v", err)
	}
}
