//! Sending one outbound request on a guest's behalf: resolve the name,
//! ask [`policy::decide`], inject secrets, connect to the vetted address
//! (never a second lookup), and enforce the limits; one audit event per
//! request, whatever happens.

use std::future::{Future, poll_fn};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, HOST};
use http::{HeaderValue, Request, Response};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::{Instant, Sleep};
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody};

use super::addr::Host;
use super::policy::{self, Decision, OutgoingRequest};
use super::rules::Scheme;
use crate::audit::{AuditEvent, AuditLog};
use crate::runtime::capabilities::Capabilities;

/// What `send_request` hands back to wasmtime-wasi-http: the response and
/// the future driving the connection.
pub type Sent = (
    Response<WasiBody>,
    Box<dyn Future<Output = Result<(), Error>> + Send>,
);

/// Longest URL kept in an audit event or log line.
const URL_MAX: usize = 2048;

/// Sends `request` for the plugin whose capabilities are `caps`, running
/// task `task`.
pub async fn send(
    caps: Arc<Capabilities>,
    task: String,
    request: Request<WasiBody>,
    options: Option<RequestOptions>,
) -> Result<Sent, Error> {
    let started = Instant::now();
    let method = request.method().as_str().to_string();
    let mut record = AuditRecord {
        audit: caps.audit.clone(),
        plugin: caps.plugin.clone(),
        task,
        method,
        url: String::new(),
        allowed: false,
        decided_by: String::new(),
        status: None,
        request_bytes: Arc::new(AtomicU64::new(0)),
        response_bytes: 0,
        started,
        injected: Vec::new(),
        error: None,
    };
    match exchange(&caps, &mut record, request, options, started).await {
        Ok(exchange) => Ok(exchange.into_sent(record)),
        Err(error) => {
            if record.allowed && record.error.is_none() {
                record.error = Some(error.to_string());
            }
            Err(error)
        }
    }
}

/// A request body not handed to a connection yet.
///
/// The guest writes the body through its own stream, often after
/// `outgoing-handler.handle` has returned, so it may still be writing when
/// the request is refused (policy, DNS, connect). Dropping the body then
/// would fail the guest's next write with `closed`, and the guest would
/// report that instead of the reason waiting in its response future (such
/// as `HttpRequestDenied`): which one it saw depended on scheduling. So a
/// body that was never sent is read to its end and thrown away in the
/// background; nothing of it leaves the host.
struct UnsentBody(Option<WasiBody>);

impl UnsentBody {
    /// The body, for the request that is about to be sent.
    fn into_sent(mut self) -> WasiBody {
        self.0
            .take()
            .expect("an UnsentBody holds its body until into_sent takes it")
    }
}

impl Drop for UnsentBody {
    fn drop(&mut self) {
        if let Some(mut body) = self.0.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            // Ends when the guest finishes or drops its body (at the latest
            // when its instance is dropped after the call).
            runtime.spawn(async move { while let Some(Ok(_)) = body.frame().await {} });
        }
    }
}

/// A response head, before its body is wrapped.
struct Exchange {
    response: Response<hyper::body::Incoming>,
    connection: Option<Pin<Box<Connection>>>,
    permit: OwnedSemaphorePermit,
    limit: u64,
    deadline: Instant,
    between_bytes: Option<Duration>,
}

type Connection = hyper::client::conn::http1::Connection<TokioIo<Box<dyn Stream>>, RequestBody>;
type RequestBody = http_body_util::combinators::MapFrame<
    WasiBody,
    Box<dyn FnMut(Frame<Bytes>) -> Frame<Bytes> + Send + Sync>,
>;

trait Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Stream for T {}

impl Exchange {
    fn into_sent(self, record: AuditRecord) -> Sent {
        let Exchange {
            response,
            connection,
            permit,
            limit,
            deadline,
            between_bytes,
        } = self;
        let response = response.map(|incoming| {
            ResponseBody {
                incoming,
                read: 0,
                limit,
                deadline: Box::pin(tokio::time::sleep_until(deadline)),
                between_bytes: between_bytes.map(|d| (d, Box::pin(tokio::time::sleep(d)))),
                record,
                _permit: permit,
                done: false,
            }
            .boxed_unsync()
        });
        let io = async move {
            match connection {
                Some(connection) => connection.await.map_err(|e| {
                    if e.is_timeout() {
                        Error::HttpResponseTimeout
                    } else {
                        Error::Hyper(e)
                    }
                }),
                None => Ok(()),
            }
        };
        (response, Box::new(io))
    }
}

/// Everything up to the response head. Fills `record` as it goes.
async fn exchange(
    caps: &Capabilities,
    record: &mut AuditRecord,
    request: Request<WasiBody>,
    options: Option<RequestOptions>,
    started: Instant,
) -> Result<Exchange, Error> {
    let grant = &caps.egress;
    let limits = grant.limits;
    let options = options.unwrap_or_default();
    let deadline = started + limits.total_timeout;
    let (mut parts, body) = request.into_parts();
    let body = UnsentBody(Some(body));
    let scheme = parts.uri.scheme_str().unwrap_or_default().to_string();
    let authority = parts
        .uri
        .authority()
        .map(|a| a.as_str().to_string())
        .unwrap_or_default();
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    let method = record.method.clone();
    let outgoing = OutgoingRequest {
        method: &method,
        scheme: &scheme,
        authority: &authority,
        path_and_query: &path_and_query,
    };
    let target = policy::target(&outgoing);
    record.url = match &target {
        Ok(target) => truncate(target.display_url()),
        Err(_) => truncate(raw_url(&scheme, &authority, &path_and_query)),
    };

    // Resolve the name (only if some rule could allow it), once: the
    // connection goes to the addresses checked here.
    let connect_budget = shortest(limits.connect_timeout, options.connect_timeout);
    let mut resolved = Vec::new();
    if let Ok(target) = &target
        && let Some(name) = target.name()
        && policy::worth_resolving(grant, target)
    {
        let lookup = tokio::net::lookup_host((name, target.port));
        match tokio::time::timeout_at(earliest(connect_budget, deadline), lookup).await {
            Ok(Ok(addrs)) => resolved = addrs.map(|a| a.ip()).collect(),
            Ok(Err(e)) => {
                let reason = format!("`{name}` did not resolve: {e}");
                record.refuse(caps, "dns", &reason);
                return Err(Error::DnsError {
                    rcode: Some(reason),
                    info_code: None,
                });
            }
            Err(_) => {
                record.refuse(caps, "dns", &format!("`{name}` did not resolve in time"));
                return Err(Error::DnsTimeout);
            }
        }
    }

    let (rule, connect_to, inject) = match policy::decide(grant, &outgoing, &resolved) {
        Decision::Denied { reason } => {
            let class = if grant.rules.is_empty() {
                "no_grant"
            } else {
                "not_allowed"
            };
            record.refuse(caps, class, &reason);
            return Err(Error::HttpRequestDenied);
        }
        Decision::Allowed {
            rule,
            connect_to,
            inject,
        } => (rule, connect_to, inject),
    };
    let Ok(target) = target else {
        // decide() allows only requests that parse.
        record.refuse(caps, "invalid_request", "the request could not be read");
        return Err(Error::HttpRequestDenied);
    };

    // Secrets: set by the host, replacing any guest header of that name.
    for j in inject {
        let injection = &grant.injections[j];
        let Some(secret) = caps.secret_store.read(&injection.secret) else {
            record.refuse(
                caps,
                "secret_unavailable",
                &format!(
                    "the secret `{}` (secrets.inject[{j}]) is not in the secret store; the request \
                 was not sent without it",
                    injection.secret
                ),
            );
            return Err(Error::HttpRequestDenied);
        };
        let mut text = injection.format.replace("{secret}", secret.expose());
        let value = HeaderValue::from_str(&text);
        wipe(&mut text);
        let Ok(mut value) = value else {
            record.refuse(
                caps,
                "secret_unavailable",
                &format!(
                    "the secret `{}` (secrets.inject[{j}]) does not make a valid `{}` header value",
                    injection.secret, injection.header
                ),
            );
            return Err(Error::HttpRequestDenied);
        };
        value.set_sensitive(true);
        parts.headers.remove(&injection.header);
        parts.headers.insert(injection.header.clone(), value);
        record.injected.push(injection.secret.clone());
    }
    record.allow(format!("http.allow[{rule}]"));
    tracing::debug!(
        target: "egress",
        plugin = %record.plugin,
        task = %record.task,
        method = %record.method,
        url = %record.url,
        rule,
        "outbound HTTP request allowed"
    );

    // One of the plugin's request slots, waiting at most the connect time.
    let slots = grant.slots().clone();
    let permit = match slots.clone().try_acquire_owned() {
        Ok(permit) => permit,
        Err(_) => {
            let wait =
                tokio::time::timeout_at(earliest(connect_budget, deadline), slots.acquire_owned());
            match wait.await {
                Ok(Ok(permit)) => permit,
                _ => {
                    record.error = Some(format!(
                        "all {} request slots (http.max_concurrent_requests) stayed busy",
                        limits.max_concurrent_requests
                    ));
                    return Err(Error::ConnectionLimitReached);
                }
            }
        }
    };

    // Connect to the vetted addresses; TLS names the host, not the address.
    let connect_deadline = earliest(connect_budget, deadline);
    let stream =
        match tokio::time::timeout_at(connect_deadline, connect(&connect_to, target.port)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => return Err(connect_error(&e)),
            Err(_) => return Err(Error::ConnectionTimeout),
        };
    let stream: Box<dyn Stream> = match target.scheme {
        Scheme::Http => Box::new(stream),
        Scheme::Https => {
            let name = server_name(&target.host)?;
            let connector = tokio_rustls::TlsConnector::from(tls_config());
            match tokio::time::timeout_at(connect_deadline, connector.connect(name, stream)).await {
                Ok(Ok(tls)) => Box::new(tls),
                Ok(Err(e)) => return Err(tls_error(e)),
                Err(_) => return Err(Error::ConnectionTimeout),
            }
        }
    };
    let handshake = hyper::client::conn::http1::handshake(TokioIo::new(stream));
    let (mut sender, connection) = match tokio::time::timeout_at(connect_deadline, handshake).await
    {
        Ok(Ok(pair)) => pair,
        Ok(Err(e)) => return Err(Error::Hyper(e)),
        Err(_) => return Err(Error::ConnectionTimeout),
    };
    let mut connection = Some(Box::pin(connection));

    // The request in origin form, with exactly one Host header.
    let host_header =
        HeaderValue::from_str(&authority).map_err(|_| Error::HttpRequestUriInvalid)?;
    parts.headers.insert(HOST, host_header);
    parts.uri = http::Uri::builder()
        .path_and_query(path_and_query.as_str())
        .build()
        .map_err(|_| Error::HttpRequestUriInvalid)?;
    let sent = record.request_bytes.clone();
    let count: Box<dyn FnMut(Frame<Bytes>) -> Frame<Bytes> + Send + Sync> =
        Box::new(move |frame: Frame<Bytes>| {
            if let Some(data) = frame.data_ref() {
                sent.fetch_add(data.len() as u64, Ordering::Relaxed);
            }
            frame
        });
    let request = Request::from_parts(parts, body.into_sent().map_frame(count));

    // Send, driving the connection until the response head arrives.
    let first_byte = shortest(limits.first_byte_timeout, options.first_byte_timeout);
    let mut response_future = std::pin::pin!(sender.send_request(request));
    let head = poll_fn(|cx: &mut Context<'_>| {
        if let Poll::Ready(result) = response_future.as_mut().poll(cx) {
            return Poll::Ready(result.map_err(Error::from));
        }
        let Some(conn) = connection.as_mut() else {
            return Poll::Pending;
        };
        let done = ready!(conn.as_mut().poll(cx));
        connection = None;
        match done {
            Ok(()) => response_future.as_mut().poll(cx).map_err(Error::from),
            Err(e) => Poll::Ready(Err(Error::from(e))),
        }
    });
    let response = match tokio::time::timeout_at(earliest(first_byte, deadline), head).await {
        Ok(Ok(response)) => response,
        Ok(Err(e)) => return Err(e),
        Err(_) => {
            record.error = Some(format!(
                "no response within {} ms (http.first_byte_timeout_ms / total_timeout_ms)",
                first_byte
                    .min(deadline.saturating_duration_since(started))
                    .as_millis()
            ));
            return Err(Error::ConnectionReadTimeout);
        }
    };
    record.status = Some(response.status().as_u16());
    if let Some(length) = content_length(&response)
        && length > limits.max_response_bytes
    {
        record.error = Some(format!(
            "the response body of {length} bytes is over http.max_response_bytes ({})",
            limits.max_response_bytes
        ));
        return Err(Error::HttpResponseBodySize(Some(length)));
    }
    Ok(Exchange {
        response,
        connection,
        permit,
        limit: limits.max_response_bytes,
        deadline,
        between_bytes: options.between_bytes_timeout,
    })
}

/// The manifest's limit, or the guest's own when shorter.
fn shortest(limit: Duration, guest: Option<Duration>) -> Duration {
    match guest {
        Some(guest) => limit.min(guest),
        None => limit,
    }
}

fn earliest(budget: Duration, deadline: Instant) -> Instant {
    (Instant::now() + budget).min(deadline)
}

fn content_length(response: &Response<hyper::body::Incoming>) -> Option<u64> {
    response
        .headers()
        .get(CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// Tries each vetted address in turn.
async fn connect(addrs: &[IpAddr], port: u16) -> io::Result<TcpStream> {
    let mut last = None;
    for ip in addrs {
        match TcpStream::connect(SocketAddr::new(*ip, port)).await {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no address to connect to")))
}

fn connect_error(error: &io::Error) -> Error {
    match error.kind() {
        io::ErrorKind::ConnectionRefused => Error::ConnectionRefused,
        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted => {
            Error::ConnectionTerminated
        }
        io::ErrorKind::TimedOut => Error::ConnectionTimeout,
        io::ErrorKind::HostUnreachable | io::ErrorKind::NetworkUnreachable => {
            Error::DestinationUnavailable
        }
        _ => Error::ConnectionRefused,
    }
}

fn tls_error(error: io::Error) -> Error {
    let certificate = error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .is_some_and(|e| matches!(e, rustls::Error::InvalidCertificate(_)));
    if certificate {
        Error::TlsCertificateError
    } else {
        Error::TlsProtocolError
    }
}

fn server_name(host: &Host) -> Result<rustls::pki_types::ServerName<'static>, Error> {
    match host {
        Host::Ip(ip) => Ok(rustls::pki_types::ServerName::from(*ip)),
        Host::Name(name) => rustls::pki_types::ServerName::try_from(name.clone())
            .map_err(|_| Error::TlsProtocolError),
    }
}

/// One TLS client configuration for the process: the Mozilla roots
/// (webpki-roots), HTTP/1.1.
fn tls_config() -> Arc<rustls::ClientConfig> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let roots = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.into(),
            };
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let mut config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .expect("ring supports the default TLS versions")
                .with_root_certificates(roots)
                .with_no_client_auth();
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            Arc::new(config)
        })
        .clone()
}

/// `scheme://authority/path` for a request that could not be read: no
/// query, and no user info (it may hold a password).
fn raw_url(scheme: &str, authority: &str, path_and_query: &str) -> String {
    let host = match authority.rsplit_once('@') {
        Some((_, host)) => format!("<userinfo>@{host}"),
        None => authority.to_string(),
    };
    let path = path_and_query.split('?').next().unwrap_or_default();
    format!("{scheme}://{host}{path}")
}

fn truncate(mut url: String) -> String {
    if url.len() > URL_MAX {
        let mut end = URL_MAX;
        while !url.is_char_boundary(end) {
            end -= 1;
        }
        url.truncate(end);
        url.push('…');
    }
    url
}

/// Zeroes a string that held a secret before it is freed.
fn wipe(text: &mut str) {
    // SAFETY: zero bytes are valid UTF-8, so the text stays valid.
    unsafe { text.as_bytes_mut() }.fill(0);
}

/// The audit event of one request, written when it is dropped: when the
/// request was refused or failed, or when its response body is done or
/// dropped. Exactly one event per request.
struct AuditRecord {
    audit: AuditLog,
    plugin: String,
    task: String,
    method: String,
    url: String,
    allowed: bool,
    decided_by: String,
    status: Option<u16>,
    request_bytes: Arc<AtomicU64>,
    response_bytes: u64,
    started: Instant,
    injected: Vec<String>,
    error: Option<String>,
}

impl AuditRecord {
    fn allow(&mut self, rule: String) {
        self.allowed = true;
        self.decided_by = rule;
    }

    /// A denial: logged as a warning, with the reason, and counted under
    /// its reason class (`hangar_capability_denials_total`).
    fn refuse(&mut self, caps: &Capabilities, class: &'static str, reason: &str) {
        caps.metrics.denied(crate::metrics::Capability::Http, class);
        self.allowed = false;
        self.decided_by = reason.to_string();
        tracing::warn!(
            target: "egress",
            plugin = %self.plugin,
            task = %self.task,
            method = %self.method,
            url = %self.url,
            "outbound HTTP request denied: {reason}"
        );
    }
}

impl Drop for AuditRecord {
    fn drop(&mut self) {
        if self.allowed && self.status.is_none() && self.error.is_none() {
            self.error = Some("abandoned before a response (the guest dropped it)".into());
        }
        if let Some(error) = &self.error {
            tracing::info!(
                target: "egress",
                plugin = %self.plugin,
                task = %self.task,
                method = %self.method,
                url = %self.url,
                "outbound HTTP request failed: {error}"
            );
        }
        self.audit.record(AuditEvent::HttpRequest {
            plugin: std::mem::take(&mut self.plugin),
            task: std::mem::take(&mut self.task),
            method: std::mem::take(&mut self.method),
            url: std::mem::take(&mut self.url),
            allowed: self.allowed,
            decided_by: std::mem::take(&mut self.decided_by),
            status: self.status,
            request_bytes: self.request_bytes.load(Ordering::Relaxed),
            response_bytes: self.response_bytes,
            duration_ms: self.started.elapsed().as_millis() as u64,
            injected_secrets: std::mem::take(&mut self.injected),
            error: self.error.take(),
        });
    }
}

/// A response body under the limits: at most `limit` bytes, done by the
/// total deadline, and (if the guest asked) no gap longer than its
/// between-bytes timeout. Holds the request slot and the audit record.
struct ResponseBody {
    incoming: hyper::body::Incoming,
    read: u64,
    limit: u64,
    deadline: Pin<Box<Sleep>>,
    between_bytes: Option<(Duration, Pin<Box<Sleep>>)>,
    record: AuditRecord,
    _permit: OwnedSemaphorePermit,
    done: bool,
}

impl ResponseBody {
    fn fail(&mut self, error: Error, why: String) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        self.done = true;
        self.record.error = Some(why);
        Poll::Ready(Some(Err(error)))
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.incoming).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.read += data.len() as u64;
                    this.record.response_bytes = this.read;
                    if this.read > this.limit {
                        let why = format!(
                            "the response body is over http.max_response_bytes ({})",
                            this.limit
                        );
                        return this.fail(Error::HttpResponseBodySize(Some(this.limit)), why);
                    }
                }
                if let Some((gap, sleep)) = &mut this.between_bytes {
                    sleep.as_mut().reset(Instant::now() + *gap);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                let error = if e.is_timeout() {
                    Error::HttpResponseTimeout
                } else {
                    Error::Hyper(e)
                };
                let why = error.to_string();
                this.fail(error, why)
            }
            Poll::Ready(None) => {
                this.done = true;
                Poll::Ready(None)
            }
            Poll::Pending => {
                if this.deadline.as_mut().poll(cx).is_ready() {
                    let why = "the response did not finish within http.total_timeout_ms".into();
                    return this.fail(Error::HttpResponseTimeout, why);
                }
                if let Some((gap, sleep)) = &mut this.between_bytes
                    && sleep.as_mut().poll(cx).is_ready()
                {
                    let why = format!(
                        "no response data for {} ms (the guest's between-bytes timeout)",
                        gap.as_millis()
                    );
                    return this.fail(Error::ConnectionReadTimeout, why);
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.incoming.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreadable_urls_are_logged_without_user_info_or_query() {
        assert_eq!(
            raw_url("http", "user:pw@evil.com", "/x?token=1"),
            "http://<userinfo>@evil.com/x"
        );
        assert_eq!(truncate("a".repeat(3000)).len(), URL_MAX + '…'.len_utf8());
    }

    #[test]
    fn tls_is_configured() {
        let config = tls_config();
        assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);
        assert!(server_name(&Host::Name("api.example.com".into())).is_ok());
    }
}
