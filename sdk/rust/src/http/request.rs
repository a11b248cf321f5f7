//! The request builder: method, URL, headers, body, timeout. Building never
//! fails; a problem (a URL that cannot be sent, a value that is not JSON) is
//! kept and reported by `send`, so chains stay short.

use std::time::Duration;

use serde::Serialize;

use super::url;
use super::{HttpError, Response, send_all};

/// An HTTP method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Patch,
    Delete,
    Options,
    /// Any other method, by name.
    Other(String),
}

impl Method {
    /// The method by name, case-insensitively (`"post"` is `Post`).
    pub fn parse(name: &str) -> Method {
        match name.to_ascii_uppercase().as_str() {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "PATCH" => Method::Patch,
            "DELETE" => Method::Delete,
            "OPTIONS" => Method::Options,
            other => Method::Other(other.to_string()),
        }
    }

    /// The upper-case name.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
            Method::Other(name) => name,
        }
    }
}

/// A request to send with [`Request::send`] or [`super::send_all`].
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    pub url: String,
    /// In the order added; a name may repeat.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Applied to connecting, to the first response byte and to each gap
    /// between body bytes (`wasi:http` request options). `None`: the host's.
    pub timeout: Option<Duration>,
    /// A problem found while building, reported by `send`.
    pub(crate) invalid: Option<(String, String)>,
}

impl Request {
    /// A request with no headers and an empty body.
    pub fn new(method: Method, url: impl Into<String>) -> Self {
        Self {
            method,
            url: url.into(),
            headers: Vec::new(),
            body: Vec::new(),
            timeout: None,
            invalid: None,
        }
    }

    /// Adds a header (names are case-insensitive; a name may repeat).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Appends `name=value` to the URL's query, form-encoded (a space is `+`).
    pub fn query(mut self, name: &str, value: &str) -> Self {
        self.url = url::append_query(&self.url, name, value);
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Sets the body to `value` as compact JSON, and `content-type:
    /// application/json` unless a content type is already set.
    pub fn json<T: Serialize + ?Sized>(mut self, value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => self.body = body,
            Err(e) => {
                self.invalid = Some(("InvalidBody".into(), format!("the body is not JSON: {e}")))
            }
        }
        if self.header_value("content-type").is_none() {
            self.headers
                .push(("content-type".into(), "application/json".into()));
        }
        self
    }

    /// Sets the timeout (see [`Request::timeout`](Self#structfield.timeout)).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The first value of header `name`, case-insensitively.
    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Sends the request and reads the whole response. Any status is a
    /// response; see [`Response::error_for_status`].
    pub fn send(self) -> Result<Response, HttpError> {
        send_all(vec![self])
            .pop()
            .unwrap_or_else(|| unreachable!("send_all answers each request"))
    }

    /// The parts `wasi:http` needs, or the error `send` reports.
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub(crate) fn checked_parts(&self) -> Result<url::Parts, HttpError> {
        if let Some((code, detail)) = &self.invalid {
            return Err(HttpError::new(
                code,
                self.method.as_str(),
                &self.url,
                detail,
            ));
        }
        url::split(&self.url).map_err(|detail| {
            HttpError::new("InvalidUrl", self.method.as_str(), &self.url, &detail)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http;

    #[test]
    fn builds_a_json_post() {
        let r = http::post("http://h/jobs")
            .header("Authorization", "t")
            .json(&serde_json::json!({"a": 1}))
            .timeout(Duration::from_secs(3));
        assert_eq!(r.method, Method::Post);
        assert_eq!(r.body, br#"{"a":1}"#);
        assert_eq!(r.header_value("CONTENT-TYPE"), Some("application/json"));
        assert_eq!(r.header_value("authorization"), Some("t"));
        assert_eq!(r.timeout, Some(Duration::from_secs(3)));
        let parts = r.checked_parts().expect("valid");
        assert_eq!(parts.authority, "h");
        assert_eq!(parts.path_with_query, "/jobs");
    }

    #[test]
    fn json_keeps_an_explicit_content_type() {
        let r = http::put("http://h/")
            .header("Content-Type", "application/merge-patch+json")
            .json(&[1, 2]);
        let types: Vec<_> = r
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("content-type"))
            .collect();
        assert_eq!(types.len(), 1);
    }

    #[test]
    fn problems_surface_when_sending() {
        let mut bad = std::collections::BTreeMap::new();
        bad.insert(vec![1u8], 2); // a map with non-string keys is not JSON
        let e = http::post("http://h/")
            .json(&bad)
            .checked_parts()
            .expect_err("bad body");
        assert_eq!(e.code, "InvalidBody");
        let e = http::get("h/x").checked_parts().expect_err("bad url");
        assert_eq!(e.code, "InvalidUrl");
        assert!(e.message.starts_with("GET h/x: "), "{}", e.message);
    }

    #[test]
    fn methods_parse_case_insensitively() {
        assert_eq!(Method::parse("post"), Method::Post);
        assert_eq!(Method::parse("purge").as_str(), "PURGE");
        assert_eq!(http::delete("http://h/").method.as_str(), "DELETE");
        assert_eq!(
            http::get("http://h/p").query("a b", "c").url,
            "http://h/p?a+b=c"
        );
    }
}
