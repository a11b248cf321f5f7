package fetch

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestPostJSONAndReadJSON(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Method != "POST" || r.Header.Get("Content-Type") != "application/json" ||
			r.Header.Get("Idempotency-Key") != "k1" || string(body) != `{"spec":{"a":1}}` {
			w.WriteHeader(400)
			return
		}
		w.Header().Set("X-Job", "7")
		w.WriteHeader(201)
		_, _ = w.Write([]byte(`{"id": "job-7"}`))
	}))
	defer srv.Close()
	resp, err := PostJSON(srv.URL+"/jobs", map[string]any{"spec": map[string]int{"a": 1}}, map[string]string{"Idempotency-Key": "k1"})
	if err != nil {
		t.Fatal(err)
	}
	if !resp.OK() || resp.Status != 201 || resp.HeaderValue("x-job") != "7" {
		t.Fatalf("unexpected response %d %v %s", resp.Status, resp.Header, resp.Text())
	}
	var created struct {
		ID string `json:"id"`
	}
	if err := resp.JSON(&created); err != nil || created.ID != "job-7" {
		t.Fatalf("JSON = %+v, %v", created, err)
	}
	if err := resp.JSON(&[]int{}); err == nil || !strings.Contains(err.Error(), "job-7") {
		t.Fatalf("a JSON mismatch should quote the body: %v", err)
	}
}

func TestErrorsAreNamedLikeWasiHTTP(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + l.Addr().String() + "/x"
	l.Close()
	_, err = Get(url, nil)
	var fe *Error
	if !errors.As(err, &fe) || fe.Code != "connection-refused" || !fe.Transient() || fe.Denied() {
		t.Fatalf("want connection-refused, got %v", err)
	}
	_, err = Get("ftp://example.com/", nil)
	if !errors.As(err, &fe) || fe.Code != "HTTP-request-URI-invalid" {
		t.Fatalf("want HTTP-request-URI-invalid, got %v", err)
	}
	denied := &Error{Method: "GET", URL: "http://127.0.0.1:9/jobs/1", Code: "HTTP-request-denied"}
	if !strings.Contains(denied.Error(), `[[http.allow]] url = "http://127.0.0.1:9/"`) {
		t.Fatalf("a denial should teach the fix: %s", denied.Error())
	}
}
