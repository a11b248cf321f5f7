//go:build wasip1

package fetch

// Requests through wasi:http/outgoing-handler. Resources are dropped child
// first (a stream before its body, headers before their message), as the
// component model requires.

import (
	"strconv"
	"strings"

	handler "hangar.local/hangar/internal/wit/wasi_http_outgoing_handler"
	http "hangar.local/hangar/internal/wit/wasi_http_types"
	streams "hangar.local/hangar/internal/wit/wasi_io_streams"
	witTypes "hangar.local/hangar/internal/wittypes"
)

// The WIT names of wasi:http's error-code cases, by tag.
var errorCodeNames = [...]string{
	"DNS-timeout", "DNS-error", "destination-not-found", "destination-unavailable",
	"destination-IP-prohibited", "destination-IP-unroutable", "connection-refused",
	"connection-terminated", "connection-timeout", "connection-read-timeout",
	"connection-write-timeout", "connection-limit-reached", "TLS-protocol-error",
	"TLS-certificate-error", "TLS-alert-received", "HTTP-request-denied",
	"HTTP-request-length-required", "HTTP-request-body-size", "HTTP-request-method-invalid",
	"HTTP-request-URI-invalid", "HTTP-request-URI-too-long", "HTTP-request-header-section-size",
	"HTTP-request-header-size", "HTTP-request-trailer-section-size", "HTTP-request-trailer-size",
	"HTTP-response-incomplete", "HTTP-response-header-section-size", "HTTP-response-header-size",
	"HTTP-response-body-size", "HTTP-response-trailer-section-size", "HTTP-response-trailer-size",
	"HTTP-response-transfer-coding", "HTTP-response-content-coding", "HTTP-response-timeout",
	"HTTP-upgrade-failed", "HTTP-protocol-error", "loop-detected", "configuration-error",
	"internal-error",
}

func codeName(code http.ErrorCode) (string, string) {
	detail := ""
	if code.Tag() == http.ErrorCodeInternalError {
		detail = code.InternalError().SomeOr("")
	}
	if int(code.Tag()) < len(errorCodeNames) {
		return errorCodeNames[code.Tag()], detail
	}
	return "internal-error", detail
}

// The largest chunk BlockingWriteAndFlush accepts.
const writeChunk = 4096

func send(method string, req *Request) (*Response, error) {
	fail := func(code, detail string) error {
		return &Error{Method: method, URL: req.URL, Code: code, Detail: detail}
	}
	scheme, authority, pathQuery := splitURL(req.URL)
	if authority == "" {
		return nil, fail("HTTP-request-URI-invalid", "the URL has no host")
	}

	headers := http.MakeFields()
	if (len(req.Body) > 0 || (method != "GET" && method != "HEAD")) && !hasHeader(req.Header, "content-length") {
		// A length, not chunked encoding (also for an empty POST): many
		// servers want one.
		headers.Append("content-length", []byte(strconv.Itoa(len(req.Body))))
	}
	for name, value := range req.Header {
		if r := headers.Append(name, []byte(value)); r.IsErr() {
			headers.Drop()
			return nil, fail("internal-error", "the header "+name+" is invalid or not allowed")
		}
	}
	out := http.MakeOutgoingRequest(headers)
	out.SetMethod(methodOf(method))
	if scheme == "https" {
		out.SetScheme(witTypes.Some(http.MakeSchemeHttps()))
	} else {
		out.SetScheme(witTypes.Some(http.MakeSchemeHttp()))
	}
	if out.SetAuthority(witTypes.Some(authority)).IsErr() || out.SetPathWithQuery(witTypes.Some(pathQuery)).IsErr() {
		out.Drop()
		return nil, fail("HTTP-request-URI-invalid", "")
	}
	body := out.Body().Ok()

	// Send first, then stream the body: the host reads it as it goes.
	sent := handler.Handle(out, witTypes.None[*http.RequestOptions]())
	if sent.IsErr() {
		body.Drop()
		name, detail := codeName(sent.Err())
		return nil, fail(name, detail)
	}
	future := sent.Ok()

	if err := writeBody(body, req.Body); err != "" {
		future.Drop()
		return nil, fail("HTTP-request-body-size", err)
	}
	if finished := http.OutgoingBodyFinish(body, witTypes.None[*http.Fields]()); finished.IsErr() {
		future.Drop()
		name, detail := codeName(finished.Err())
		return nil, fail(name, detail)
	}

	ready := future.Subscribe()
	ready.Block()
	ready.Drop()
	got := future.Get()
	future.Drop()
	if got.IsNone() || got.Some().IsErr() {
		return nil, fail("internal-error", "the response was not ready after waiting for it")
	}
	outcome := got.Some().Ok()
	if outcome.IsErr() {
		name, detail := codeName(outcome.Err())
		return nil, fail(name, detail)
	}
	resp := outcome.Ok()
	defer resp.Drop()

	result := &Response{Status: int(resp.Status()), Header: map[string][]string{}}
	fields := resp.Headers()
	for _, entry := range fields.Entries() {
		name := strings.ToLower(entry.F0)
		result.Header[name] = append(result.Header[name], string(entry.F1))
	}
	fields.Drop()

	data, code, detail := readBody(resp)
	if code != "" {
		return nil, fail(code, detail)
	}
	result.Body = data
	return result, nil
}

func writeBody(body *http.OutgoingBody, data []byte) string {
	stream := body.Write().Ok()
	defer stream.Drop()
	for len(data) > 0 {
		n := min(len(data), writeChunk)
		if r := stream.BlockingWriteAndFlush(data[:n]); r.IsErr() {
			return "writing the request body failed"
		}
		data = data[n:]
	}
	return ""
}

// readBody reads the whole response body; a failure names its error code.
func readBody(resp *http.IncomingResponse) ([]byte, string, string) {
	consumed := resp.Consume()
	if consumed.IsErr() {
		return nil, "internal-error", "the response body was already taken"
	}
	body := consumed.Ok()
	stream := body.Stream().Ok()
	var data []byte
	for {
		r := stream.BlockingRead(64 * 1024)
		if r.IsOk() {
			data = append(data, r.Ok()...)
			continue
		}
		failure := r.Err()
		if failure.Tag() == streams.StreamErrorClosed {
			break
		}
		ioErr := failure.LastOperationFailed()
		code, detail := "HTTP-response-incomplete", ioErr.ToDebugString()
		if c := http.HttpErrorCode(ioErr); c.IsSome() {
			code, _ = codeName(c.Some())
		}
		ioErr.Drop()
		stream.Drop()
		body.Drop()
		return nil, code, detail
	}
	stream.Drop()
	http.IncomingBodyFinish(body).Drop()
	return data, "", ""
}

func methodOf(m string) http.Method {
	switch strings.ToUpper(m) {
	case "GET":
		return http.MakeMethodGet()
	case "HEAD":
		return http.MakeMethodHead()
	case "POST":
		return http.MakeMethodPost()
	case "PUT":
		return http.MakeMethodPut()
	case "DELETE":
		return http.MakeMethodDelete()
	case "OPTIONS":
		return http.MakeMethodOptions()
	case "PATCH":
		return http.MakeMethodPatch()
	default:
		return http.MakeMethodOther(m)
	}
}

// splitURL cuts an absolute URL into scheme, authority and path?query.
func splitURL(url string) (scheme, authority, pathQuery string) {
	scheme, rest, _ := strings.Cut(url, "://")
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		authority, pathQuery = rest[:i], rest[i:]
	} else {
		authority = rest
	}
	pathQuery, _, _ = strings.Cut(pathQuery, "#")
	if pathQuery == "" || pathQuery[0] == '?' {
		pathQuery = "/" + pathQuery
	}
	return strings.ToLower(scheme), authority, pathQuery
}

func hasHeader(h map[string]string, name string) bool {
	for k := range h {
		if strings.EqualFold(k, name) {
			return true
		}
	}
	return false
}
