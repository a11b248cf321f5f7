// Package fetch makes outbound HTTP requests from an agent.
//
// Go's net/http cannot open sockets on wasip1, so inside Hangar requests go
// through the standard wasi:http/outgoing-handler interface, and the host
// decides: only destinations the plugin's manifest allows ([[http.allow]])
// are reached, and [[secrets.inject]] adds credentials the agent never sees.
// Outside WebAssembly (an agent's unit tests, `go test`) the same calls use
// net/http, so tests can point an agent at an httptest.Server.
//
//	resp, err := fetch.PostJSON(base+"/jobs", job, map[string]string{"Idempotency-Key": key})
//	if err != nil { return nil, err }            // *fetch.Error: no response at all
//	if !resp.OK() { ... resp.Status, resp.Text() ... }
//	var created struct{ ID string `json:"id"` }
//	err = resp.JSON(&created)
package fetch

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// Request is one HTTP request. Method defaults to GET.
type Request struct {
	Method string
	// Absolute http:// or https:// URL, with any query string.
	URL    string
	Header map[string]string
	Body   []byte
}

// Response is a complete HTTP response (the host caps the body size).
type Response struct {
	Status int
	// Header values by lower-case name.
	Header map[string][]string
	Body   []byte
}

// OK reports a 2xx status.
func (r *Response) OK() bool { return r.Status >= 200 && r.Status < 300 }

// Text is the body as a string, cut to 1000 bytes (for error messages).
func (r *Response) Text() string {
	if len(r.Body) > 1000 {
		return string(r.Body[:1000]) + "..."
	}
	return string(r.Body)
}

// HeaderValue is the first value of the header `name` (any case), or "".
func (r *Response) HeaderValue(name string) string {
	if v := r.Header[strings.ToLower(name)]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// JSON decodes the body into `into` (a pointer).
func (r *Response) JSON(into any) error {
	if err := json.Unmarshal(r.Body, into); err != nil {
		return fmt.Errorf("the response (status %d) is not the JSON expected: %v; body: %s", r.Status, err, r.Text())
	}
	return nil
}

// Error is a request that got no HTTP response at all.
type Error struct {
	Method, URL string
	// A wasi:http error-code name: "HTTP-request-denied" (the manifest does
	// not allow the destination), "connection-refused",
	// "connection-timeout", "DNS-error", "HTTP-response-body-size"...
	Code string
	// More detail, when there is some.
	Detail string
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("%s %s failed: %s", e.Method, e.URL, e.Code)
	if e.Detail != "" {
		msg += " (" + e.Detail + ")"
	}
	if e.Denied() {
		msg += `: the host does not allow this destination; the operator adds [[http.allow]] url = "` +
			origin(e.URL) + `/" to the plugin's manifest (NAME.toml beside NAME.wasm)`
	}
	return msg
}

// Denied reports that the host refused the request (not in [[http.allow]]).
func (e *Error) Denied() bool { return e.Code == "HTTP-request-denied" }

// Transient reports errors a later retry may not see (the destination was
// unreachable or slow), as opposed to a denial or a malformed request.
func (e *Error) Transient() bool {
	switch e.Code {
	case "DNS-timeout", "connection-refused", "connection-terminated", "connection-timeout",
		"connection-read-timeout", "connection-write-timeout", "connection-limit-reached",
		"destination-unavailable", "HTTP-response-timeout", "HTTP-response-incomplete":
		return true
	}
	return false
}

// origin is scheme://host[:port] of a URL (for the allow-rule hint).
func origin(url string) string {
	scheme, rest, ok := strings.Cut(url, "://")
	if !ok {
		return url
	}
	host, _, _ := strings.Cut(rest, "/")
	host, _, _ = strings.Cut(host, "?")
	return scheme + "://" + host
}

// Do sends the request and reads the whole response.
func Do(req *Request) (*Response, error) {
	method := req.Method
	if method == "" {
		method = "GET"
	}
	if !strings.HasPrefix(req.URL, "http://") && !strings.HasPrefix(req.URL, "https://") {
		return nil, &Error{Method: method, URL: req.URL, Code: "HTTP-request-URI-invalid",
			Detail: "the URL must start with http:// or https://"}
	}
	return send(method, req)
}

// Get sends a GET.
func Get(url string, header map[string]string) (*Response, error) {
	return Do(&Request{Method: "GET", URL: url, Header: header})
}

// Post sends a POST with a body.
func Post(url string, body []byte, header map[string]string) (*Response, error) {
	return Do(&Request{Method: "POST", URL: url, Header: header, Body: body})
}

// PostJSON sends `body` encoded as JSON (Content-Type: application/json).
func PostJSON(url string, body any, header map[string]string) (*Response, error) {
	var buf bytes.Buffer
	if body != nil {
		if err := json.NewEncoder(&buf).Encode(body); err != nil {
			return nil, fmt.Errorf("POST %s: the body is not JSON-able: %w", url, err)
		}
	}
	h := map[string]string{"Content-Type": "application/json"}
	for k, v := range header {
		h[k] = v
	}
	return Do(&Request{Method: "POST", URL: url, Header: h, Body: bytes.TrimRight(buf.Bytes(), "\n")})
}
