//! Sends requests through `wasi:http/outgoing-handler` (inside a component
//! only). Every request is started first; then one `wasi:io/poll` loop waits
//! on whatever is pending (a response head or more body bytes) across all of
//! them, so concurrent requests overlap instead of queueing.
//!
//! Resource order matters in WASI: a pollable must be dropped before the
//! resource it watches, a body stream before its body, a body before its
//! response. The states below keep those lifetimes explicit.

use wasi::http::outgoing_handler;
use wasi::http::types::{
    ErrorCode, Fields, FutureIncomingResponse, IncomingBody, IncomingResponse, OutgoingBody,
    OutgoingRequest, RequestOptions, Scheme,
};
use wasi::io::poll;
use wasi::io::streams::{InputStream, StreamError};

use super::request::{Method, Request};
use super::{HttpError, Response};

/// The largest write the WASI stream contract guarantees at once.
const WRITE_CHUNK: usize = 4096;
/// Bytes asked for per read of a response body.
const READ_CHUNK: u64 = 64 * 1024;

/// Where one request stands.
enum State {
    /// Sent; waiting for the response head.
    Waiting(FutureIncomingResponse),
    /// Head received; reading the body.
    Reading(Body),
    Done(Result<Response, HttpError>),
}

/// A response whose body is being read. Field order is drop order.
struct Body {
    stream: Option<InputStream>,
    incoming: Option<IncomingBody>,
    _response: IncomingResponse,
    status: u16,
    headers: Vec<(String, Vec<u8>)>,
    bytes: Vec<u8>,
}

struct InFlight {
    label: (String, String),
    state: State,
}

impl InFlight {
    fn fail(&mut self, code: &ErrorCode) {
        let (name, detail) = code_name(code);
        self.state = State::Done(Err(HttpError::from_wasi_code(
            &name,
            detail.as_deref(),
            &self.label.0,
            &self.label.1,
        )));
    }
}

pub(crate) fn send_all(requests: Vec<Request>) -> Vec<Result<Response, HttpError>> {
    let mut flights: Vec<InFlight> = requests.into_iter().map(start).collect();
    loop {
        let pending: Vec<(usize, poll::Pollable)> = flights
            .iter()
            .enumerate()
            .filter_map(|(i, f)| match &f.state {
                State::Waiting(future) => Some((i, future.subscribe())),
                State::Reading(body) => body.stream.as_ref().map(|s| (i, s.subscribe())),
                State::Done(_) => None,
            })
            .collect();
        if pending.is_empty() {
            break;
        }
        let refs: Vec<&poll::Pollable> = pending.iter().map(|(_, p)| p).collect();
        let ready: Vec<usize> = poll::poll(&refs)
            .into_iter()
            .map(|k| pending[k as usize].0)
            .collect();
        drop(refs);
        drop(pending); // pollables go before the futures and streams they watch
        for i in ready {
            advance(&mut flights[i]);
        }
    }
    flights
        .into_iter()
        .map(|f| match f.state {
            State::Done(result) => result,
            _ => unreachable!("the poll loop ends when every request is done"),
        })
        .collect()
}

/// Starts one request: head, options, body. Never blocks on the response.
fn start(request: Request) -> InFlight {
    let label = (request.method.as_str().to_string(), request.url.clone());
    let mut flight = InFlight {
        label,
        state: State::Done(Err(HttpError::new("Unsupported", "", "", ""))),
    };
    flight.state = match begin(&request) {
        Ok(future) => State::Waiting(future),
        Err(e) => State::Done(Err(e)),
    };
    flight
}

fn begin(request: &Request) -> Result<FutureIncomingResponse, HttpError> {
    let (method, url) = (request.method.as_str(), request.url.as_str());
    let invalid = |code: &str, detail: String| HttpError::new(code, method, url, &detail);
    let parts = request.checked_parts()?;
    let fields = Fields::new();
    // A known length, as most clients send it (else the body goes chunked,
    // which some servers refuse).
    if !request.body.is_empty() && request.header_value("content-length").is_none() {
        fields
            .append("content-length", request.body.len().to_string().as_bytes())
            .map_err(|e| {
                invalid(
                    "InvalidHeader",
                    format!("content-length was refused: {e:?}"),
                )
            })?;
    }
    for (name, value) in &request.headers {
        fields.append(name, value.as_bytes()).map_err(|e| {
            invalid(
                "InvalidHeader",
                format!("header `{name}` was refused: {e:?}"),
            )
        })?;
    }
    let outgoing = OutgoingRequest::new(fields);
    outgoing
        .set_method(&wasi_method(&request.method))
        .map_err(|()| invalid("InvalidUrl", format!("method `{method}` is not valid")))?;
    let scheme = if parts.scheme == "https" {
        Scheme::Https
    } else {
        Scheme::Http
    };
    outgoing
        .set_scheme(Some(&scheme))
        .map_err(|()| invalid("InvalidUrl", "the scheme is not valid".into()))?;
    outgoing
        .set_authority(Some(&parts.authority))
        .map_err(|()| {
            invalid(
                "InvalidUrl",
                format!("host `{}` is not valid", parts.authority),
            )
        })?;
    outgoing
        .set_path_with_query(Some(&parts.path_with_query))
        .map_err(|()| {
            invalid(
                "InvalidUrl",
                format!("path `{}` is not valid", parts.path_with_query),
            )
        })?;
    let body = outgoing
        .body()
        .map_err(|()| invalid("InvalidBody", "the request body was already taken".into()))?;
    let options = request.timeout.map(|t| {
        let options = RequestOptions::new();
        let nanos = u64::try_from(t.as_nanos()).unwrap_or(u64::MAX);
        // A host may not support a timeout; then it applies its own.
        let _ = options.set_connect_timeout(Some(nanos));
        let _ = options.set_first_byte_timeout(Some(nanos));
        let _ = options.set_between_bytes_timeout(Some(nanos));
        options
    });
    let future = outgoing_handler::handle(outgoing, options).map_err(|code| {
        let (name, detail) = code_name(&code);
        HttpError::from_wasi_code(&name, detail.as_deref(), method, url)
    })?;
    if !request.body.is_empty() {
        let stream = body.write().map_err(|()| {
            invalid(
                "InvalidBody",
                "the request body stream was already taken".into(),
            )
        })?;
        for chunk in request.body.chunks(WRITE_CHUNK) {
            if let Err(e) = stream.blocking_write_and_flush(chunk) {
                drop(stream);
                return Err(stream_error(e, "writing the request body", method, url));
            }
        }
    }
    OutgoingBody::finish(body, None).map_err(|code| {
        let (name, detail) = code_name(&code);
        HttpError::from_wasi_code(&name, detail.as_deref(), method, url)
    })?;
    Ok(future)
}

/// One step for a request whose pollable is ready.
fn advance(flight: &mut InFlight) {
    match &mut flight.state {
        State::Waiting(future) => match future.get() {
            None => {}
            Some(Err(())) => {
                let (m, u) = &flight.label;
                flight.state = State::Done(Err(HttpError::new(
                    "InternalError",
                    m,
                    u,
                    "the response was already taken",
                )));
            }
            Some(Ok(Err(code))) => flight.fail(&code),
            Some(Ok(Ok(response))) => flight.state = receive(response, &flight.label),
        },
        State::Reading(body) => {
            let Some(stream) = body.stream.as_ref() else {
                return;
            };
            match stream.read(READ_CHUNK) {
                Ok(chunk) => body.bytes.extend(chunk),
                Err(StreamError::Closed) => {
                    body.stream = None;
                    if let Some(incoming) = body.incoming.take() {
                        let _trailers = IncomingBody::finish(incoming);
                    }
                    let request = format!("{} {}", flight.label.0, flight.label.1);
                    let response = Response::new(
                        body.status,
                        std::mem::take(&mut body.headers),
                        std::mem::take(&mut body.bytes),
                        &request,
                    );
                    flight.state = State::Done(Ok(response));
                }
                Err(e) => {
                    let (m, u) = flight.label.clone();
                    flight.state =
                        State::Done(Err(stream_error(e, "reading the response body", &m, &u)));
                }
            }
        }
        State::Done(_) => {}
    }
}

fn receive(response: IncomingResponse, label: &(String, String)) -> State {
    let status = response.status();
    let headers = response.headers().entries();
    let taken = || {
        HttpError::new(
            "InternalError",
            &label.0,
            &label.1,
            "the response body was already taken",
        )
    };
    let Ok(incoming) = response.consume() else {
        return State::Done(Err(taken()));
    };
    let Ok(stream) = incoming.stream() else {
        return State::Done(Err(taken()));
    };
    State::Reading(Body {
        stream: Some(stream),
        incoming: Some(incoming),
        _response: response,
        status,
        headers,
        bytes: Vec::new(),
    })
}

fn stream_error(e: StreamError, doing: &str, method: &str, url: &str) -> HttpError {
    match e {
        StreamError::Closed => HttpError::new(
            "HttpProtocolError",
            method,
            url,
            &format!("{doing}: the stream closed"),
        ),
        StreamError::LastOperationFailed(error) => match wasi::http::types::http_error_code(&error)
        {
            Some(code) => {
                let (name, detail) = code_name(&code);
                let detail = detail.unwrap_or_else(|| doing.to_string());
                HttpError::from_wasi_code(&name, Some(&detail), method, url)
            }
            None => HttpError::new(
                "InternalError",
                method,
                url,
                &format!("{doing}: {}", error.to_debug_string()),
            ),
        },
    }
}

fn wasi_method(method: &Method) -> wasi::http::types::Method {
    use wasi::http::types::Method as M;
    match method {
        Method::Get => M::Get,
        Method::Head => M::Head,
        Method::Post => M::Post,
        Method::Put => M::Put,
        Method::Patch => M::Patch,
        Method::Delete => M::Delete,
        Method::Options => M::Options,
        Method::Other(name) => M::Other(name.clone()),
    }
}

/// The variant name of a `wasi:http` error code (`HttpRequestDenied`), and
/// the free text some variants carry.
fn code_name(code: &ErrorCode) -> (String, Option<String>) {
    let detail = match code {
        ErrorCode::InternalError(text) => text.clone(),
        ErrorCode::HttpResponseTransferCoding(text)
        | ErrorCode::HttpResponseContentCoding(text) => text.clone(),
        _ => None,
    };
    // The generated Debug reads `ErrorCode::DnsError(DnsErrorPayload { .. })`.
    let debug = format!("{code:?}");
    let name = debug
        .strip_prefix("ErrorCode::")
        .unwrap_or(&debug)
        .split(|c: char| !c.is_ascii_alphanumeric())
        .next()
        .unwrap_or_default()
        .to_string();
    (name, detail)
}
