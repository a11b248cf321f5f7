//go:build !wasip1

package fetch

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"
)

var client = &http.Client{Timeout: 30 * time.Second}

// send outside WebAssembly: net/http, with errors named as wasi:http names
// them so agent code handles both the same way.
func send(method string, req *Request) (*Response, error) {
	r, err := http.NewRequest(method, req.URL, bytes.NewReader(req.Body))
	if err != nil {
		return nil, &Error{Method: method, URL: req.URL, Code: "HTTP-request-URI-invalid", Detail: err.Error()}
	}
	for k, v := range req.Header {
		r.Header.Set(k, v)
	}
	resp, err := client.Do(r)
	if err != nil {
		return nil, &Error{Method: method, URL: req.URL, Code: nativeCode(err), Detail: err.Error()}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, &Error{Method: method, URL: req.URL, Code: "connection-terminated", Detail: err.Error()}
	}
	header := map[string][]string{}
	for k, v := range resp.Header {
		header[strings.ToLower(k)] = v
	}
	return &Response{Status: resp.StatusCode, Header: header, Body: body}, nil
}

func nativeCode(err error) string {
	var netErr net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection-refused"
	case errors.As(err, &netErr) && netErr.Timeout():
		return "connection-timeout"
	default:
		return "internal-error"
	}
}
