//! Outbound HTTP over `wasi:http`, the only network a Hangar plugin has.
//!
//! Why a module of its own: raw `wasi:http` takes about sixty lines per
//! request (fields, request, body stream, future, pollable, response body
//! stream, trailers). Agents mostly call REST APIs, so this wraps it in a
//! request builder and a plain [`Response`]:
//!
//! ```no_run
//! use hangar_agent::{AgentError, http};
//! use std::time::Duration;
//!
//! fn submit(job: &hangar_agent::Value) -> Result<String, AgentError> {
//!     let response = http::post("https://api.example.com/v1/jobs")
//!         .header("accept", "application/json")
//!         .json(job)
//!         .timeout(Duration::from_secs(10))
//!         .send()?;
//!     let created: hangar_agent::Value = response.error_for_status()?.json()?;
//!     Ok(created["id"].as_str().unwrap_or_default().to_string())
//! }
//! ```
//!
//! [`send_all`] issues several requests at once and waits on all of them
//! together (one `wasi:io/poll` loop), so three 1-second calls take about one
//! second, not three.
//!
//! The host checks every request against the plugin's manifest: nothing is
//! allowed unless an `[[http.allow]]` rule covers it. A denied request fails
//! with code `HttpRequestDenied` and a message naming the rule to add.
//! Errors always carry the `wasi:http` error code (`ConnectionRefused`,
//! `HttpResponseTimeout`, ...) as [`HttpError::code`]; `?` turns them into an
//! [`AgentError`] with that code (recoverable for timeouts and connection
//! failures, where a retry may help).
//!
//! Outside WebAssembly (an agent's unit tests) building requests works, but
//! sending one fails with code `Unsupported`.

mod request;
mod response;
#[cfg(target_arch = "wasm32")]
mod transport;
mod url;

use std::fmt;

use crate::error::AgentError;

pub use request::{Method, Request};
pub use response::Response;
pub use url::{form_encode, percent_encode};

/// A `GET` request to `url`.
pub fn get(url: impl Into<String>) -> Request {
    Request::new(Method::Get, url)
}

/// A `POST` request to `url`.
pub fn post(url: impl Into<String>) -> Request {
    Request::new(Method::Post, url)
}

/// A `PUT` request to `url`.
pub fn put(url: impl Into<String>) -> Request {
    Request::new(Method::Put, url)
}

/// A `DELETE` request to `url`.
pub fn delete(url: impl Into<String>) -> Request {
    Request::new(Method::Delete, url)
}

/// Sends every request at once and waits for all of them; the results are in
/// the order of `requests`. Responses and bodies are read as they arrive, so
/// the total time is about that of the slowest request.
pub fn send_all(requests: Vec<Request>) -> Vec<Result<Response, HttpError>> {
    #[cfg(target_arch = "wasm32")]
    {
        transport::send_all(requests)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        requests
            .into_iter()
            .map(|r| {
                Err(HttpError::new(
                    "Unsupported",
                    r.method.as_str(),
                    &r.url,
                    "outbound HTTP goes through wasi:http, which only exists inside a \
                     WebAssembly component: build the agent for wasm32-wasip2 and run it in \
                     Hangar (unit tests can check the Request they build instead)",
                ))
            })
            .collect()
    }
}

/// Why a request got no response (or an unwanted one, see
/// [`Response::error_for_status`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpError {
    /// The `wasi:http` error code (`HttpRequestDenied`, `ConnectionRefused`,
    /// `HttpResponseTimeout`, ...), or one of this module's own:
    /// `InvalidUrl`, `InvalidHeader`, `InvalidBody`, `HttpStatus`,
    /// `Unsupported`.
    pub code: String,
    /// `METHOD URL: what happened (code)`, with the fix when there is one.
    pub message: String,
}

impl HttpError {
    pub(crate) fn new(code: &str, method: &str, url: &str, detail: &str) -> Self {
        Self {
            code: code.to_string(),
            message: format!("{method} {url}: {detail} ({code})"),
        }
    }

    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    /// Built from a `wasi:http` error code name, with an explanation of the
    /// common ones.
    pub(crate) fn from_wasi_code(
        code: &str,
        detail: Option<&str>,
        method: &str,
        url: &str,
    ) -> Self {
        let text = match code {
            "HttpRequestDenied" => format!(
                "the host denied this request: the plugin's manifest (NAME.toml beside \
                 NAME.wasm) must allow the destination, e.g.\n[[http.allow]]\nurl = \"{}\"",
                url::origin_of(url)
            ),
            "ConnectionRefused" => "the server refused the connection".to_string(),
            "ConnectionTimeout" => "connecting timed out".to_string(),
            "HttpResponseTimeout" => "no response before the timeout".to_string(),
            "ConnectionReadTimeout" => "the response stalled past the timeout".to_string(),
            "DnsTimeout" | "DnsError" => "the host name could not be resolved".to_string(),
            "DestinationNotFound" => "the host name does not exist".to_string(),
            "DestinationIpProhibited" => {
                "the host never connects to this address (see the manifest's http rules)"
                    .to_string()
            }
            "HttpRequestUriInvalid" => "the URL is not valid".to_string(),
            "HttpRequestBodySize" | "HttpResponseBodySize" => {
                "the body is larger than the host allows (the manifest's [http] limits)".to_string()
            }
            _ => "the request failed".to_string(),
        };
        let text = match detail {
            Some(d) if !d.is_empty() => format!("{text} [{d}]"),
            _ => text,
        };
        Self::new(code, method, url, &text)
    }

    /// True when retrying the same request may succeed: timeouts and
    /// connection failures.
    pub fn is_transient(&self) -> bool {
        matches!(
            self.code.as_str(),
            "DnsTimeout"
                | "DestinationUnavailable"
                | "ConnectionRefused"
                | "ConnectionTerminated"
                | "ConnectionTimeout"
                | "ConnectionReadTimeout"
                | "ConnectionWriteTimeout"
                | "ConnectionLimitReached"
                | "HttpResponseIncomplete"
                | "HttpResponseTimeout"
        )
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for HttpError {}

/// Keeps the code; recoverable when [`HttpError::is_transient`].
impl From<HttpError> for AgentError {
    fn from(e: HttpError) -> Self {
        let error = if e.is_transient() {
            AgentError::recoverable(e.message)
        } else {
            AgentError::non_recoverable(e.message)
        };
        error.with_code(e.code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn a_denied_request_says_what_to_add_to_the_manifest() {
        let e = HttpError::from_wasi_code(
            "HttpRequestDenied",
            None,
            "GET",
            "http://10.0.0.1:8080/a?b=1",
        );
        assert_eq!(e.code, "HttpRequestDenied");
        assert!(
            e.message.starts_with("GET http://10.0.0.1:8080/a?b=1: "),
            "{}",
            e.message
        );
        assert!(e.message.contains("manifest"), "{}", e.message);
        assert!(
            e.message.contains("url = \"http://10.0.0.1:8080/\""),
            "{}",
            e.message
        );
        assert!(e.message.ends_with("(HttpRequestDenied)"), "{}", e.message);
        let agent: AgentError = e.into();
        assert_eq!(agent.code, "HttpRequestDenied");
        assert_eq!(agent.kind, ErrorKind::NonRecoverable);
    }

    #[test]
    fn transient_errors_are_recoverable() {
        let e = HttpError::from_wasi_code("ConnectionRefused", None, "POST", "http://x/");
        let agent: AgentError = e.into();
        assert_eq!(agent.kind, ErrorKind::Recoverable);
        let e = HttpError::from_wasi_code("InternalError", Some("boom"), "POST", "http://x/");
        assert!(e.message.contains("[boom]"), "{}", e.message);
        assert!(!e.is_transient());
    }

    #[test]
    fn sending_natively_is_unsupported_not_a_panic() {
        let results = send_all(vec![
            get("http://127.0.0.1:1/"),
            post("http://127.0.0.1:1/"),
        ]);
        assert_eq!(results.len(), 2);
        for r in results {
            let e = r.expect_err("no wasi:http natively");
            assert_eq!(e.code, "Unsupported");
            assert!(e.message.contains("wasm32-wasip2"), "{}", e.message);
        }
        let e = get("http://127.0.0.1:1/").send().expect_err("no wasi:http");
        assert_eq!(e.code, "Unsupported");
    }
}
