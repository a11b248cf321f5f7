//! A whole HTTP response: status, headers and the body read to its end.

use serde::de::DeserializeOwned;

use super::HttpError;

/// What the server answered. Every status is a response, 404 and 500 too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// In the order received; names as the host gives them (lower case).
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
    /// `METHOD URL` of the request, for error messages.
    pub(crate) request: String,
}

impl Response {
    /// A response as if received for `request` (`"GET http://..."`); for an
    /// agent's unit tests.
    pub fn new(status: u16, headers: Vec<(String, Vec<u8>)>, body: Vec<u8>, request: &str) -> Self {
        Self {
            status,
            headers,
            body,
            request: request.to_string(),
        }
    }

    /// The first value of header `name` (case-insensitive), as text.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    }

    /// The body as text; invalid UTF-8 becomes U+FFFD.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON into `T` (code `InvalidJson` when it is not).
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, HttpError> {
        serde_json::from_slice(&self.body).map_err(|e| HttpError {
            code: "InvalidJson".into(),
            message: format!(
                "{}: the response body is not the JSON expected: {e} (InvalidJson)",
                self.request
            ),
        })
    }

    /// True for 2xx statuses.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The response if its status is 2xx, else an error (code `HttpStatus`)
    /// holding the status and the start of the body.
    pub fn error_for_status(self) -> Result<Self, HttpError> {
        if self.is_success() {
            return Ok(self);
        }
        let text = self.text();
        let excerpt: String = text.chars().take(500).collect();
        Err(HttpError {
            code: "HttpStatus".into(),
            message: format!(
                "{}: the server answered {}: {excerpt} (HttpStatus)",
                self.request, self.status
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_text_json_and_headers() {
        let r = Response::new(
            200,
            vec![("content-type".into(), b"application/json".to_vec())],
            br#"{"id": 7}"#.to_vec(),
            "GET http://h/",
        );
        assert_eq!(
            r.header("Content-Type").as_deref(),
            Some("application/json")
        );
        assert_eq!(r.text(), r#"{"id": 7}"#);
        let v: serde_json::Value = r.json().expect("json");
        assert_eq!(v["id"], 7);
        assert!(r.clone().error_for_status().is_ok());
    }

    #[test]
    fn bad_json_and_bad_statuses_are_errors() {
        let r = Response::new(500, vec![], b"oops \xff".to_vec(), "POST http://h/x");
        assert_eq!(r.text(), "oops \u{fffd}");
        let e = r.json::<serde_json::Value>().expect_err("not json");
        assert_eq!(e.code, "InvalidJson");
        assert!(e.message.starts_with("POST http://h/x: "), "{}", e.message);
        let e = r.error_for_status().expect_err("500");
        assert_eq!(e.code, "HttpStatus");
        assert!(e.message.contains("answered 500: oops"), "{}", e.message);
    }
}
