//! The `flyte:agent/outbound-http` import: one outbound request as plain
//! values (method, URL, headers and body in; status, headers and the whole
//! body out).
//!
//! It exists for guests whose toolchain cannot take `wasi:http`'s resources
//! into a component: componentize-qjs (the JavaScript SDK's QuickJS engine)
//! stubs them at build time with stream types that do not match `wasi:io`'s.
//! It grants nothing of its own. The request goes through [`super::send`],
//! the path every `wasi:http` request takes: [`super::policy::decide`], secret
//! injection, the `[http]` limits and one audit event. The body is read
//! within the same limits (`max_response_bytes`, the timeouts).

use bytes::Bytes;
use http::header::CONTENT_LENGTH;
use http::{HeaderName, HeaderValue, Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use wasmtime_wasi_http::{DEFAULT_FORBIDDEN_HEADERS, Error, WasiBody};

use crate::runtime::bindings::outbound_http::{self, Request as PlainRequest, Response, SendError};
use crate::runtime::bindings::types::KeyValue;
use crate::runtime::instance_state::InstanceState;

/// Longest method, URL or header name quoted back in an error.
const QUOTED_MAX: usize = 200;

impl outbound_http::Host for InstanceState {
    async fn send(&mut self, request: PlainRequest) -> Result<Response, SendError> {
        let request = to_http(request)?;
        let caps = self.capabilities.clone();
        let task = self.task().to_string();
        let (response, connection) = super::send::send(caps, task, request, None)
            .await
            .map_err(|e| send_error(&e))?;
        // The connection is driven on its own while the body is read; it ends
        // with the body (read to its end, or dropped on an error).
        tokio::spawn(async move {
            let _ = Box::into_pin(connection).await;
        });
        let (parts, body) = response.into_parts();
        let body = body.collect().await.map_err(|e| send_error(&e))?.to_bytes();
        Ok(Response {
            status: parts.status.as_u16(),
            headers: parts
                .headers
                .iter()
                .map(|(name, value)| KeyValue {
                    key: name.as_str().to_string(),
                    value: value.as_bytes().iter().map(|&b| char::from(b)).collect(),
                })
                .collect(),
            body: body.to_vec(),
        })
    }
}

/// The guest's request as an `http::Request`, or why it is not one. Nothing
/// is sent for a request refused here.
fn to_http(request: PlainRequest) -> Result<Request<WasiBody>, SendError> {
    let method = Method::from_bytes(request.method.as_bytes()).map_err(|_| {
        invalid(
            "HttpRequestMethodInvalid",
            format!("{} is not an HTTP method", quoted(&request.method)),
        )
    })?;
    let uri: Uri = request.url.parse().map_err(|e| {
        invalid(
            "HttpRequestUriInvalid",
            format!("{} is not a URL ({e})", quoted(&request.url)),
        )
    })?;
    if uri.scheme().is_none() || uri.authority().is_none() {
        return Err(invalid(
            "HttpRequestUriInvalid",
            format!(
                "{} is not an absolute URL: give scheme and host, e.g. https://api.example.com/v1",
                quoted(&request.url)
            ),
        ));
    }
    let mut builder = Request::builder().method(method.clone()).uri(uri);
    for KeyValue { key, value } in request.headers {
        let name = HeaderName::from_bytes(key.as_bytes()).map_err(|_| {
            invalid(
                "HttpRequestHeaderInvalid",
                format!("{} is not a header name", quoted(&key)),
            )
        })?;
        // The headers a wasi:http guest may not set either (the connection
        // and framing are the host's: a guest's `transfer-encoding` next to
        // the host's `content-length` would frame the request twice).
        if DEFAULT_FORBIDDEN_HEADERS.contains(&name) {
            return Err(invalid(
                "HttpRequestHeaderInvalid",
                format!(
                    "the header {} is set by the host, not the agent: leave it out",
                    quoted(name.as_str())
                ),
            ));
        }
        let value = byte_string(&value)
            .and_then(|bytes| HeaderValue::from_bytes(&bytes).ok())
            .ok_or_else(|| {
                invalid(
                    "HttpRequestHeaderInvalid",
                    format!(
                        "the value of header {} is not a header value: one character (U+0000 to \
                         U+00FF) per byte, no line breaks",
                        quoted(name.as_str())
                    ),
                )
            })?;
        builder = builder.header(name, value);
    }
    let announce =
        !request.body.is_empty() || [Method::POST, Method::PUT, Method::PATCH].contains(&method);
    let length = request.body.len();
    let body: WasiBody = Full::new(Bytes::from(request.body))
        .map_err(|never| match never {})
        .boxed_unsync();
    let mut made = builder
        .body(body)
        .map_err(|e| invalid("HttpRequestUriInvalid", e.to_string()))?;
    // The body's length is known: say so, as any client would (a body sent
    // chunked is refused by servers that need a length, e.g. presigned PUTs;
    // an empty POST, PUT or PATCH says 0, as `fetch` does).
    if announce {
        match made.headers().get(CONTENT_LENGTH) {
            Some(given) if given.as_bytes() != length.to_string().as_bytes() => {
                return Err(invalid(
                    "HttpRequestHeaderInvalid",
                    format!(
                        "content-length says {} but the body is {length} bytes: leave the header \
                         out, the host sets it",
                        quoted(&String::from_utf8_lossy(given.as_bytes()))
                    ),
                ));
            }
            Some(_) => {}
            None => {
                made.headers_mut()
                    .insert(CONTENT_LENGTH, HeaderValue::from(length));
            }
        }
    }
    Ok(made)
}

/// `text` as bytes, one per character, if every character is U+0000 to
/// U+00FF (how `fetch` treats header values).
fn byte_string(text: &str) -> Option<Vec<u8>> {
    text.chars()
        .map(|c| u8::try_from(u32::from(c)).ok())
        .collect()
}

fn invalid(code: &str, message: String) -> SendError {
    SendError {
        code: code.to_string(),
        message,
    }
}

/// The `wasi:http` error as the guest sees it: its name as the code, and
/// what to do about the common ones. The policy's reason for a denial is in
/// the audit log and the host's log, not here: a guest learns only that it
/// was denied, as over `wasi:http`.
fn send_error(error: &Error) -> SendError {
    let debug = format!("{error:?}");
    let code: String = debug
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect();
    let message = match error {
        Error::HttpRequestDenied => "no [[http.allow]] rule in this plugin's manifest allows \
             this request (the host's audit log says why): ask the operator to add one"
            .to_string(),
        Error::ConnectionLimitReached => "all of this plugin's request slots stayed busy \
             ([http] max_concurrent_requests)"
            .to_string(),
        Error::HttpResponseBodySize(_) => {
            "the response body is larger than [http] max_response_bytes allows".to_string()
        }
        _ => format!("the request failed: {error}"),
    };
    SendError { code, message }
}

/// `text` in backquotes, shortened to [`QUOTED_MAX`] characters.
fn quoted(text: &str) -> String {
    let mut shown: String = text.chars().take(QUOTED_MAX).collect();
    if shown.len() < text.len() {
        shown.push('…');
    }
    format!("`{shown}`")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: &str, url: &str, headers: &[(&str, &str)]) -> PlainRequest {
        PlainRequest {
            method: method.to_string(),
            url: url.to_string(),
            headers: headers
                .iter()
                .map(|(k, v)| KeyValue {
                    key: k.to_string(),
                    value: v.to_string(),
                })
                .collect(),
            body: b"{}".to_vec(),
        }
    }

    /// method, URL, headers, the code expected.
    type RefusedCase = (
        &'static str,
        &'static str,
        &'static [(&'static str, &'static str)],
        &'static str,
    );

    #[test]
    fn requests_the_host_cannot_read_are_refused_before_sending() {
        let cases: &[RefusedCase] = &[
            ("GE T", "http://127.0.0.1/", &[], "HttpRequestMethodInvalid"),
            ("", "http://127.0.0.1/", &[], "HttpRequestMethodInvalid"),
            ("GET", "/relative/path", &[], "HttpRequestUriInvalid"),
            ("GET", "127.0.0.1:8080", &[], "HttpRequestUriInvalid"),
            ("GET", "http://exa mple.com/", &[], "HttpRequestUriInvalid"),
            (
                "GET",
                "http://127.0.0.1/",
                &[("bad name", "v")],
                "HttpRequestHeaderInvalid",
            ),
            (
                "GET",
                "http://127.0.0.1/",
                &[("x-a", "line\nbreak")],
                "HttpRequestHeaderInvalid",
            ),
            (
                "GET",
                "http://127.0.0.1/",
                &[("x-a", "snow ☃")],
                "HttpRequestHeaderInvalid",
            ),
            (
                "POST",
                "http://127.0.0.1/",
                &[("content-length", "5")],
                "HttpRequestHeaderInvalid",
            ),
            (
                "POST",
                "http://127.0.0.1/",
                &[("Transfer-Encoding", "chunked")],
                "HttpRequestHeaderInvalid",
            ),
            (
                "GET",
                "http://127.0.0.1/",
                &[("host", "elsewhere.example")],
                "HttpRequestHeaderInvalid",
            ),
            (
                "GET",
                "http://127.0.0.1/",
                &[("connection", "upgrade")],
                "HttpRequestHeaderInvalid",
            ),
        ];
        for (method, url, headers, code) in cases {
            match to_http(request(method, url, headers)) {
                Ok(_) => panic!("{method} {url} {headers:?} was accepted"),
                Err(e) => assert_eq!(&e.code, code, "{method} {url} {headers:?}: {}", e.message),
            }
        }
    }

    #[test]
    fn a_readable_request_keeps_method_url_headers_and_body() {
        let made = to_http(request(
            "PATCH",
            "https://api.example.com/v1/jobs?x=1",
            &[
                ("X-Token", "a b"),
                ("x-latin1", "caf\u{e9}"),
                ("x-token", "second"),
            ],
        ))
        .expect("a readable request");
        assert_eq!(made.method(), Method::PATCH);
        assert_eq!(
            made.uri().to_string(),
            "https://api.example.com/v1/jobs?x=1"
        );
        assert_eq!(
            made.headers()["content-length"],
            "2",
            "the host announces the length"
        );
        let tokens: Vec<_> = made.headers().get_all("x-token").iter().collect();
        assert_eq!(tokens, ["a b", "second"], "repeated headers are all kept");
        assert_eq!(
            made.headers()["x-latin1"].as_bytes(),
            b"caf\xe9",
            "one byte per character"
        );
    }

    #[test]
    fn errors_are_named_as_wasi_http_names_them() {
        let cases = [
            (
                Error::HttpRequestDenied,
                "HttpRequestDenied",
                "[[http.allow]]",
            ),
            (
                Error::ConnectionRefused,
                "ConnectionRefused",
                "the request failed",
            ),
            (
                Error::HttpResponseBodySize(Some(9)),
                "HttpResponseBodySize",
                "max_response_bytes",
            ),
            (
                Error::DnsError {
                    rcode: Some("`nowhere.test` did not resolve".into()),
                    info_code: None,
                },
                "DnsError",
                "nowhere.test",
            ),
        ];
        for (error, code, says) in cases {
            let made = send_error(&error);
            assert_eq!(made.code, code);
            assert!(made.message.contains(says), "{}", made.message);
        }
    }

    #[test]
    fn long_text_is_shortened_when_quoted() {
        let long = "x".repeat(500);
        let shown = quoted(&long);
        assert!(shown.chars().count() < 210, "{shown}");
        assert!(shown.ends_with("…`"));
        assert_eq!(quoted("GET"), "`GET`");
    }
}
