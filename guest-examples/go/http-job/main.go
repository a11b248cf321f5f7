// Command http-job is an async Flyte agent that runs jobs on a REST job
// service, the shape of the Databricks and BigQuery agents: Create submits
// the job, Get polls its state, Delete cancels it.
//
// The service speaks a small protocol (tests/python/jobservice.py is one):
//
//	POST {base}/jobs              {"spec": {...}, "inputs": {...}}  -> {"id": "..."}
//	GET  {base}/jobs/{id}         -> {"state": "PENDING|RUNNING|SUCCEEDED|FAILED|CANCELLED",
//	                                  "result": {...} | "error": "..."}
//	POST {base}/jobs/{id}/cancel
//
// The base URL comes from the task's custom ("base_url") or the operator's
// manifest ([config] base_url); the job spec from custom ("spec"); a bearer
// token, when the service needs one, from [[secrets.inject]] in the manifest
// (the agent never sees it). See http-job.toml.
package main

import (
	"errors"
	"fmt"
	"strings"

	"hangar.local/hangar"
	"hangar.local/hangar/config"
	"hangar.local/hangar/fetch"
	"hangar.local/hangar/log"
)

func init() { hangar.ExportAsync(HTTPJob{}) }

func main() {}

// HTTPJob is the agent; it keeps no state between calls.
type HTTPJob struct{}

// custom is TaskTemplate.custom of an http_job task.
type custom struct {
	BaseURL string         `json:"base_url"`
	Spec    map[string]any `json:"spec"`
}

// jobRef is the resource meta: everything Get and Delete need.
type jobRef struct {
	BaseURL string `json:"base_url"`
	ID      string `json:"job_id"`
}

// jobState is the service's answer to GET /jobs/{id}.
type jobState struct {
	State  string         `json:"state"`
	Result map[string]any `json:"result"`
	Error  string         `json:"error"`
}

func (HTTPJob) Info() hangar.AgentInfo { return hangar.NewAgentInfo("HTTP Job", "http_job") }

func (HTTPJob) Create(task *hangar.Task) (any, error) {
	var c custom
	if err := task.DecodeCustom(&c); err != nil {
		return nil, err
	}
	base, err := baseURL(c.BaseURL)
	if err != nil {
		return nil, err
	}
	if c.Spec == nil {
		c.Spec = map[string]any{}
	}
	// The idempotency key makes a retried Create (same attempt) find the
	// job it already started instead of starting a second one.
	resp, err := fetch.PostJSON(base+"/jobs",
		map[string]any{"spec": c.Spec, "inputs": task.Inputs()},
		map[string]string{"Idempotency-Key": task.IdempotencyKey})
	if err := failure("submitting the job", resp, err); err != nil {
		return nil, err
	}
	var created struct {
		ID string `json:"id"`
	}
	if err := resp.JSON(&created); err != nil || created.ID == "" {
		return nil, hangar.NonRecoverablef("the job service answered the submission without a job id: %s", resp.Text()).
			WithCode("BadServiceResponse")
	}
	log.Infof("submitted job %s to %s", created.ID, base)
	return jobRef{BaseURL: base, ID: created.ID}, nil
}

func (HTTPJob) Get(h *hangar.TaskHandle) (*hangar.Resource, error) {
	job, err := hangar.MetaAs[jobRef](h)
	if err != nil {
		return nil, err
	}
	url := job.BaseURL + "/jobs/" + job.ID
	resp, err := fetch.Get(url, nil)
	if err := failure("polling job "+job.ID, resp, err); err != nil {
		return nil, err
	}
	var st jobState
	if err := resp.JSON(&st); err != nil {
		return nil, hangar.NonRecoverable(err.Error()).WithCode("BadServiceResponse")
	}
	var res *hangar.Resource
	switch st.State {
	case "PENDING":
		res = hangar.Queued()
	case "RUNNING":
		res = hangar.Running()
	case "SUCCEEDED":
		res = hangar.Succeeded(st.Result)
	case "FAILED":
		res = hangar.Failed(fmt.Sprintf("job %s failed: %s", job.ID, st.Error))
	case "CANCELLED":
		res = hangar.Aborted().WithMessage("job " + job.ID + " was cancelled")
	default:
		return nil, hangar.NonRecoverablef("job %s is in a state this agent does not know: %q", job.ID, st.State).
			WithCode("BadServiceResponse")
	}
	return res.WithLogLink("job "+job.ID, url).WithCustomInfo(map[string]any{"job_id": job.ID}), nil
}

func (HTTPJob) Delete(h *hangar.TaskHandle) error {
	job, err := hangar.MetaAs[jobRef](h)
	if err != nil {
		return err
	}
	resp, err := fetch.Post(job.BaseURL+"/jobs/"+job.ID+"/cancel", nil, nil)
	// 404: gone already; 409: it already ended. Either way nothing runs.
	if err == nil && (resp.Status == 404 || resp.Status == 409) {
		return nil
	}
	return failure("cancelling job "+job.ID, resp, err)
}

// baseURL is custom's base_url, else the manifest's [config] base_url,
// without a trailing slash.
func baseURL(fromCustom string) (string, error) {
	base := fromCustom
	if base == "" {
		var err error
		if base, err = config.Require("base_url"); err != nil {
			return "", hangar.NonRecoverable("no job service: set base_url in the task's custom, or " +
				err.Error()).WithCode("MissingConfig")
		}
	}
	return strings.TrimRight(base, "/"), nil
}

// failure turns a request that did not get a 2xx answer into an error:
// unreachable service or 5xx -> recoverable (a retry may succeed); a denial
// by the host or another status -> non-recoverable, with what to fix.
func failure(what string, resp *fetch.Response, err error) error {
	if err != nil {
		var fe *fetch.Error
		isFetch := errors.As(err, &fe)
		switch {
		case isFetch && fe.Denied():
			return hangar.NonRecoverablef("%s: %v", what, err).WithCode("HttpDenied")
		case isFetch && fe.Transient():
			return hangar.Recoverablef("%s: %v", what, err).WithCode("ServiceUnavailable")
		default:
			return hangar.NonRecoverablef("%s: %v", what, err).WithCode("HttpError")
		}
	}
	switch {
	case resp.OK():
		return nil
	case resp.Status >= 500 || resp.Status == 429:
		return hangar.Recoverablef("%s: the job service answered %d: %s", what, resp.Status, resp.Text()).
			WithCode("ServiceUnavailable")
	case resp.Status == 401 || resp.Status == 403:
		return hangar.NonRecoverablef("%s: the job service refused the credentials (%d): %s; the operator "+
			"configures the token with [[secrets.inject]] in the plugin's manifest", what, resp.Status, resp.Text()).
			WithCode("Unauthorized")
	default:
		return hangar.NonRecoverablef("%s: the job service answered %d: %s", what, resp.Status, resp.Text()).
			WithCode("JobServiceError")
	}
}
