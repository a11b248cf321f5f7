//! Test fixture for the outbound HTTP capability (not an example): a sync
//! agent, task type `http_fetch`, that makes the request its inputs
//! describe through the standard `wasi:http/outgoing-handler`, as any
//! wasi:http client would.
//!
//! Inputs: `url`, and optionally `method` (default GET), `headers` (a map of
//! name to value), `body` (text), `follow_redirects` (bool: follow up to 3
//! redirects itself, each one a new request the host checks).
//!
//! Outputs: `status`, `body` (text, lossy UTF-8), `headers` (the response
//! headers as a JSON object), `sent_headers` (the request headers as the
//! guest sees them, JSON), `url` (the last URL requested) and `redirects`.
//! A failed request is a non-recoverable error with code `HttpError` whose
//! message names the wasi:http error code (e.g. `HttpRequestDenied`).

use hangar_agent::{AgentError, AgentInfo, Map, Resource, SyncAgent, Task, Value, json, log};
use wasi::http::outgoing_handler;
use wasi::http::types::{
    ErrorCode, Fields, IncomingBody, Method, OutgoingBody, OutgoingRequest, Scheme,
};
use wasi::io::streams::StreamError;

/// Redirects the agent follows at most.
const MAX_REDIRECTS: u32 = 3;
/// Largest write to an output stream the WASI contract guarantees.
const WRITE_CHUNK: usize = 4096;

struct HttpClient;

impl SyncAgent for HttpClient {
    fn info() -> AgentInfo {
        AgentInfo::new("http-client").category("http_fetch", 0)
    }

    fn do_task(task: Task) -> Result<Resource, AgentError> {
        let mut url: String = task.input("url")?;
        let method: String = task
            .optional_input("method")?
            .unwrap_or_else(|| "GET".into());
        let headers: Map<String, Value> = task.optional_input("headers")?.unwrap_or_default();
        let body: Option<String> = task.optional_input("body")?;
        let follow: bool = task.optional_input("follow_redirects")?.unwrap_or(false);
        let mut redirects = 0;
        loop {
            let response = fetch(&method, &url, &headers, body.as_deref()).map_err(|e| {
                AgentError::non_recoverable(format!("{method} {url}: {e}")).with_code("HttpError")
            })?;
            if follow
                && (300..400).contains(&response.status)
                && redirects < MAX_REDIRECTS
                && let Some(location) = response.header("location")
            {
                log::info!("following a {} redirect to {location}", response.status);
                url = resolve(&url, &location);
                redirects += 1;
                continue;
            }
            let outputs = json!({
                "status": response.status,
                "body": String::from_utf8_lossy(&response.body),
                "headers": json_headers(&response.headers),
                "sent_headers": json_headers(&response.sent_headers),
                "url": url,
                "redirects": redirects,
            });
            let Value::Object(outputs) = outputs else {
                unreachable!("json! of an object")
            };
            return Ok(Resource::succeeded_with(outputs));
        }
    }
}

hangar_agent::export_sync_agent!(HttpClient);

struct Response {
    status: u16,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
    /// The request headers, as the guest set them.
    sent_headers: Vec<(String, Vec<u8>)>,
}

impl Response {
    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    }
}

fn json_headers(headers: &[(String, Vec<u8>)]) -> String {
    let map: Map<String, Value> = headers
        .iter()
        .map(|(n, v)| {
            (
                n.clone(),
                Value::String(String::from_utf8_lossy(v).into_owned()),
            )
        })
        .collect();
    Value::Object(map).to_string()
}

/// `scheme://authority/path?query` split; the path defaults to `/`.
fn split_url(url: &str) -> Result<(Scheme, String, String), String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| format!("`{url}` is not an absolute URL"))?;
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        other => Scheme::Other(other.to_string()),
    };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    let path = if path.is_empty() {
        "/".to_string()
    } else if path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_string()
    };
    Ok((scheme, authority.to_string(), path))
}

/// A `Location` header against the URL that answered it.
fn resolve(base: &str, location: &str) -> String {
    if location.contains("://") {
        return location.to_string();
    }
    let (scheme, rest) = base.split_once("://").unwrap_or(("http", base));
    if let Some(rest) = location.strip_prefix("//") {
        return format!("{scheme}://{rest}");
    }
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..end];
    if location.starts_with('/') {
        return format!("{scheme}://{authority}{location}");
    }
    let path = rest[end..].split('?').next().unwrap_or("/");
    let dir = &path[..path.rfind('/').map(|i| i + 1).unwrap_or(0)];
    format!("{scheme}://{authority}{dir}{location}")
}

fn method_of(method: &str) -> Method {
    match method.to_ascii_uppercase().as_str() {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        "CONNECT" => Method::Connect,
        "OPTIONS" => Method::Options,
        "TRACE" => Method::Trace,
        "PATCH" => Method::Patch,
        _ => Method::Other(method.to_string()),
    }
}

fn code(error: &ErrorCode) -> String {
    format!("{error:?}")
}

/// One request through wasi:http; the error names the wasi:http error code.
fn fetch(
    method: &str,
    url: &str,
    headers: &Map<String, Value>,
    body: Option<&str>,
) -> Result<Response, String> {
    let (scheme, authority, path) = split_url(url)?;
    let fields = Fields::new();
    for (name, value) in headers {
        let value = match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        fields
            .append(name, value.as_bytes())
            .map_err(|e| format!("header `{name}`: {e:?}"))?;
    }
    let sent_headers = fields.entries();
    let request = OutgoingRequest::new(fields);
    request
        .set_method(&method_of(method))
        .map_err(|()| format!("invalid method `{method}`"))?;
    request
        .set_scheme(Some(&scheme))
        .map_err(|()| "invalid scheme".to_string())?;
    request
        .set_authority(Some(&authority))
        .map_err(|()| format!("invalid authority `{authority}`"))?;
    request
        .set_path_with_query(Some(&path))
        .map_err(|()| format!("invalid path `{path}`"))?;
    let outgoing_body = request
        .body()
        .map_err(|()| "request body already taken".to_string())?;
    let future = outgoing_handler::handle(request, None).map_err(|e| code(&e))?;
    if let Some(body) = body {
        let stream = outgoing_body
            .write()
            .map_err(|()| "request body stream already taken".to_string())?;
        for chunk in body.as_bytes().chunks(WRITE_CHUNK) {
            stream
                .blocking_write_and_flush(chunk)
                .map_err(|e| format!("writing the request body: {e:?}"))?;
        }
    }
    OutgoingBody::finish(outgoing_body, None).map_err(|e| code(&e))?;
    let response = loop {
        match future.get() {
            Some(result) => break result,
            None => future.subscribe().block(),
        }
    };
    let response = response
        .map_err(|()| "the response was already taken".to_string())?
        .map_err(|e| code(&e))?;
    let status = response.status();
    let response_headers = response.headers().entries();
    let incoming = response
        .consume()
        .map_err(|()| "response body already taken".to_string())?;
    let stream = incoming
        .stream()
        .map_err(|()| "response body stream already taken".to_string())?;
    let mut bytes = Vec::new();
    loop {
        match stream.blocking_read(64 * 1024) {
            Ok(chunk) => bytes.extend(chunk),
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(e)) => {
                let code = wasi::http::types::http_error_code(&e)
                    .map(|c| format!(" ({c:?})"))
                    .unwrap_or_default();
                return Err(format!(
                    "reading the response body: {}{code}",
                    e.to_debug_string()
                ));
            }
        }
    }
    drop(stream);
    let _trailers = IncomingBody::finish(incoming);
    Ok(Response {
        status,
        headers: response_headers,
        body: bytes,
        sent_headers,
    })
}
