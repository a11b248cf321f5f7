//! The outbound HTTP capability (`wasi:http/outgoing-handler`): which
//! requests a plugin may make, enforced by the host on every request.
//!
//! Every plugin is linked against `wasi:http`, so JS `fetch`, Python and
//! Rust wasi:http clients work unchanged; what they may reach is what the
//! plugin's manifest allows. **It fails closed**: nothing is allowed by
//! default, a request no rule allows fails inside the guest with
//! `ErrorCode::HttpRequestDenied`, and anything the host cannot read with
//! certainty (user info in the URL, a non-canonical IP spelling, a
//! malformed path escape, a name that does not resolve) is refused.
//!
//! # Rules
//!
//! ```toml
//! [[http.allow]]
//! url = "https://*.cloud.databricks.com/api/2.1/jobs/"   # scheme://host[:port]/path-prefix
//! methods = ["GET", "POST"]                              # optional; default: every method
//! ```
//!
//! | part | form | matches |
//! |---|---|---|
//! | scheme | `http`, `https` | that scheme only |
//! | host | `api.example.com` | that name, case-insensitively, with or without a trailing dot |
//! | host | `*.example.com` | names with one or more labels before `.example.com`; **not** `example.com` itself (add a second rule for the apex) |
//! | host | `*` | any DNS name (never an IP literal) |
//! | host | `203.0.113.7`, `[2001:db8::7]` | that address, as an IP literal, or a name whose every address it is |
//! | host | `[10.0.0.0/8]`, `[fd00::/8]` | addresses in the range, the same way (a range is always in brackets, IPv4 too) |
//! | port | `:8080` | that port; omitted: 80 for http, 443 for https |
//! | path | `/api/v1` or `/api/v1/` | `/api/v1` and everything below it at a `/` boundary (not `/api/v10`); `/` is every path |
//! | methods | `["GET", "POST"]` | those methods, case-insensitively; absent: every method but `CONNECT` (a tunnel must be listed) |
//!
//! The first rule matching scheme, host, port, path and method decides
//! (`http.allow[N]` in the audit log). Paths are compared after
//! normalization, read two ways (strictly, and as a permissive server might
//! with `%2F`, `\` and `;params`): the request must be inside the prefix
//! both ways, so `..`, `%2e%2e` and `..;/` cannot leave it (see [`path`]).
//! A request's host is read the way a resolver would: `2130706433`,
//! `0177.0.0.1`, `0x7f.1` and `127.1` are recognised as 127.0.0.1 and
//! refused as non-canonical spellings; `http://allowed.com@evil.com/` is
//! refused for its user info.
//!
//! # Addresses
//!
//! The host resolves names itself and connects to the address it checked
//! (no second lookup, so DNS cannot rebind in between); the `Host` header
//! and the TLS server name stay the name. Special-purpose addresses are
//! refused for IPv4, IPv6 and IPv6 forms embedding IPv4 (mapped
//! `::ffff:127.0.0.1`, compatible, NAT64 `64:ff9b::/96`, 6to4): loopback,
//! private (RFC 1918), carrier-grade NAT `100.64/10`, link-local
//! (`169.254/16`, `fe80::/10`), unique-local `fc00::/7`, unspecified,
//! multicast, broadcast, reserved, documentation and benchmarking ranges,
//! and cloud metadata endpoints (169.254.169.254, fd00:ec2::254,
//! 100.100.100.200, 168.63.129.16) — see [`addr::special_purpose`].
//!
//! Only a rule whose host is an address or range reaches them: a **name
//! never unlocks a special-purpose address**, so `http://localhost:8080/` is
//! denied (localhost resolves to loopback) while `http://127.0.0.1:8080/`
//! is allowed; `http://[10.0.0.0/8]/` reaches `http://10.1.2.3/` and any
//! name all of whose addresses are in 10/8. A cloud metadata address must
//! be named exactly (`http://169.254.169.254/`); a range containing it does
//! not reach it. If any address of a name is refused, the request is. An
//! IPv4-mapped IPv6 address (`[::ffff:127.0.0.1]`) is the IPv4 address for
//! matching and connecting; other IPv6 forms are distinct addresses.
//!
//! # Limits
//!
//! ```toml
//! [http]
//! connect_timeout_ms = 5000        # DNS + TCP + TLS
//! first_byte_timeout_ms = 10000    # request sent -> response head
//! total_timeout_ms = 30000         # whole request, body included
//! max_response_bytes = 16777216    # larger bodies fail
//! max_concurrent_requests = 16     # per plugin, across its instances
//! ```
//!
//! Timeouts are 1 ms to one hour, `max_concurrent_requests` 1 to 1024; a
//! request waits at most its connect timeout for a free slot, then fails
//! with `ConnectionLimitReached`. A body announced (Content-Length) over
//! the cap fails with `HttpResponseBodySize` before it is read; one that
//! streams past it is cut off. A guest's own `request-options` timeouts
//! apply when shorter. Redirects
//! are never followed by the host: a guest that follows one makes a new
//! request, checked like any other.
//!
//! # Secret injection
//!
//! ```toml
//! [[secrets.inject]]
//! secret = "databricks_token"
//! url = "https://*.cloud.databricks.com/api/2.1/jobs/"   # same forms as http.allow
//! header = "Authorization"
//! format = "Bearer {secret}"                               # default "{secret}"
//! ```
//!
//! An allowed request matching `url` gets `header` set by the host (a
//! guest's header of that name is replaced); the guest never sees the
//! value. `url` must be covered by one `http.allow` rule (checked at load).
//! A secret missing from the store denies the request. Values never appear
//! in logs, errors or audit events; names do.
//!
//! # Where things are
//!
//! [`policy::decide`] makes every allow/deny decision (pure, table-tested);
//! `wasi_http` wires it into wasmtime-wasi-http's `send_request` hook and
//! `send` makes the connection, with the limits, and the audit event.
//! `plain_http` serves `flyte:agent/outbound-http` (a request and its whole
//! response as plain values, for guests that cannot use `wasi:http`'s
//! resources) through the same `send`.

pub mod addr;
pub mod path;
mod plain_http;
pub mod policy;
pub mod rules;
mod send;
pub mod wasi_http;

use std::sync::Arc;
use std::time::Duration;

use http::HeaderName;
use tokio::sync::Semaphore;

use crate::manifest::{HttpGrants, SecretInjection};
use rules::UrlPattern;

pub const DEFAULT_CONNECT_TIMEOUT_MS: u64 = 5_000;
pub const DEFAULT_FIRST_BYTE_TIMEOUT_MS: u64 = 10_000;
pub const DEFAULT_TOTAL_TIMEOUT_MS: u64 = 30_000;
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 16 * 1024 * 1024;
pub const DEFAULT_MAX_CONCURRENT_REQUESTS: u32 = 16;
/// Upper bounds a manifest may set (a typo should not mean "forever").
const MAX_TIMEOUT_MS: u64 = 60 * 60 * 1000;
const MAX_CONCURRENT_REQUESTS: u32 = 1024;

/// One `[[http.allow]]` rule, read.
#[derive(Debug, Clone)]
pub struct AllowRule {
    pub pattern: UrlPattern,
    /// Upper case; `None` allows every method.
    pub methods: Option<Vec<String>>,
}

/// One `[[secrets.inject]]` entry, read.
#[derive(Debug, Clone)]
pub struct Injection {
    pub secret: String,
    pub pattern: UrlPattern,
    pub header: HeaderName,
    /// Contains `{secret}`.
    pub format: String,
}

/// Per-request limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    pub connect_timeout: Duration,
    pub first_byte_timeout: Duration,
    pub total_timeout: Duration,
    pub max_response_bytes: u64,
    pub max_concurrent_requests: u32,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            connect_timeout: Duration::from_millis(DEFAULT_CONNECT_TIMEOUT_MS),
            first_byte_timeout: Duration::from_millis(DEFAULT_FIRST_BYTE_TIMEOUT_MS),
            total_timeout: Duration::from_millis(DEFAULT_TOTAL_TIMEOUT_MS),
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            max_concurrent_requests: DEFAULT_MAX_CONCURRENT_REQUESTS,
        }
    }
}

/// What one plugin may reach over HTTP. One per plugin (inside its
/// `Capabilities`), so the concurrency cap is shared by all its instances.
#[derive(Debug, Clone)]
pub struct EgressGrant {
    pub(crate) rules: Vec<AllowRule>,
    pub(crate) injections: Vec<Injection>,
    pub(crate) limits: HttpLimits,
    /// Permits for concurrent outbound requests.
    slots: Arc<Semaphore>,
}

impl Default for EgressGrant {
    fn default() -> Self {
        EgressGrant::new(Vec::new(), Vec::new(), HttpLimits::default())
    }
}

impl EgressGrant {
    fn new(rules: Vec<AllowRule>, injections: Vec<Injection>, limits: HttpLimits) -> Self {
        EgressGrant {
            rules,
            injections,
            slots: Arc::new(Semaphore::new(limits.max_concurrent_requests as usize)),
            limits,
        }
    }

    /// The grant in a manifest's `[http]` and `[[secrets.inject]]`; an
    /// invalid entry is an error naming its key, the value and the fix.
    pub fn from_manifest(
        grants: &HttpGrants,
        injections: &[SecretInjection],
    ) -> Result<EgressGrant, String> {
        let mut rules = Vec::with_capacity(grants.allow.len());
        for (i, allow) in grants.allow.iter().enumerate() {
            let url = allow.url.get_ref();
            let pattern = UrlPattern::parse(url)
                .map_err(|e| format!("http.allow[{i}].url = \"{url}\": {e}"))?;
            let methods = match &allow.methods {
                None => None,
                Some(methods) => Some(
                    rules::parse_methods(methods)
                        .map_err(|e| format!("http.allow[{i}].methods: {e}"))?,
                ),
            };
            rules.push(AllowRule { pattern, methods });
        }
        let limits = limits_from(grants)?;
        let mut read = Vec::with_capacity(injections.len());
        for (i, injection) in injections.iter().enumerate() {
            read.push(injection_from(i, injection, &rules)?);
        }
        Ok(EgressGrant::new(rules, read, limits))
    }

    /// How many `[[http.allow]]` rules the grant has (for reports).
    #[allow(dead_code)]
    pub fn rule_count(&self) -> usize {
        self.rules.len()
    }

    pub(crate) fn slots(&self) -> &Arc<Semaphore> {
        &self.slots
    }
}

fn limits_from(grants: &HttpGrants) -> Result<HttpLimits, String> {
    let mut limits = HttpLimits::default();
    let timeouts = [
        (
            "connect_timeout_ms",
            grants.connect_timeout_ms,
            &mut limits.connect_timeout,
        ),
        (
            "first_byte_timeout_ms",
            grants.first_byte_timeout_ms,
            &mut limits.first_byte_timeout,
        ),
        (
            "total_timeout_ms",
            grants.total_timeout_ms,
            &mut limits.total_timeout,
        ),
    ];
    for (key, value, slot) in timeouts {
        if let Some(ms) = value {
            if !(1..=MAX_TIMEOUT_MS).contains(&ms) {
                return Err(format!(
                    "http.{key} = {ms}: must be from 1 to {MAX_TIMEOUT_MS} (one hour)"
                ));
            }
            *slot = Duration::from_millis(ms);
        }
    }
    if let Some(bytes) = grants.max_response_bytes {
        if bytes == 0 {
            return Err("http.max_response_bytes = 0: must be at least 1".into());
        }
        limits.max_response_bytes = bytes;
    }
    if let Some(n) = grants.max_concurrent_requests {
        if !(1..=MAX_CONCURRENT_REQUESTS).contains(&n) {
            return Err(format!(
                "http.max_concurrent_requests = {n}: must be from 1 to {MAX_CONCURRENT_REQUESTS}"
            ));
        }
        limits.max_concurrent_requests = n;
    }
    Ok(limits)
}

/// Headers the host owns; a secret never goes there.
const RESERVED_HEADERS: [&str; 11] = [
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "upgrade",
    "te",
    "trailer",
    "proxy-connection",
    "proxy-authorization",
    "http2-settings",
];

fn injection_from(
    i: usize,
    injection: &SecretInjection,
    rules: &[AllowRule],
) -> Result<Injection, String> {
    let key = format!("secrets.inject[{i}]");
    let secret = injection.secret.get_ref();
    if !crate::secrets::store::is_valid_name(secret) {
        return Err(format!(
            "{key}.secret = \"{secret}\": not a valid secret name (use letters, digits, '_', '-' \
             and '.')"
        ));
    }
    let url = injection.url.get_ref();
    let pattern = UrlPattern::parse(url).map_err(|e| format!("{key}.url = \"{url}\": {e}"))?;
    if !rules.iter().any(|rule| rule.pattern.covers(&pattern)) {
        return Err(format!(
            "{key}.url = \"{url}\": no http.allow rule covers it (same scheme and port, a host \
             pattern and path prefix containing it); add an [[http.allow]] rule for it: the \
             host only sends a secret where the plugin may go"
        ));
    }
    let header = HeaderName::from_bytes(injection.header.as_bytes()).map_err(|_| {
        format!(
            "{key}.header = \"{}\": not a valid header name (e.g. \"Authorization\")",
            injection.header
        )
    })?;
    if RESERVED_HEADERS.contains(&header.as_str()) {
        return Err(format!(
            "{key}.header = \"{}\": the host sets this header itself; use another header (e.g. \
             \"Authorization\")",
            injection.header
        ));
    }
    let format = &injection.format;
    if !format.contains("{secret}") {
        return Err(format!(
            "{key}.format: must contain {{secret}} where the value goes (e.g. \"Bearer {{secret}}\")"
        ));
    }
    if http::HeaderValue::from_str(&format.replace("{secret}", "x")).is_err() {
        return Err(format!(
            "{key}.format: not a valid header value (printable characters, no line breaks)"
        ));
    }
    Ok(Injection {
        secret: secret.clone(),
        pattern,
        header,
        format: format.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest;

    fn grant(text: &str) -> Result<EgressGrant, String> {
        let m = manifest::parse(text).unwrap();
        EgressGrant::from_manifest(&m.http, &m.secrets.inject)
    }

    #[test]
    fn nothing_is_allowed_by_default() {
        let g = grant("").unwrap();
        assert_eq!(g.rule_count(), 0);
        assert_eq!(g.limits, HttpLimits::default());
    }

    #[test]
    fn manifest_example_is_accepted() {
        let g = grant(
            "[http]\ntotal_timeout_ms = 30000\nmax_concurrent_requests = 2\n\
             [[http.allow]]\nurl = \"https://*.cloud.databricks.com/api/2.1/jobs/\"\nmethods = [\"GET\", \"post\"]\n\
             [[http.allow]]\nurl = \"https://*.cloud.databricks.com/api/\"\n\
             [[secrets.inject]]\nsecret = \"databricks_token\"\nurl = \"https://*.cloud.databricks.com/api/\"\nheader = \"Authorization\"\nformat = \"Bearer {secret}\"\n",
        )
        .unwrap();
        assert_eq!(g.rule_count(), 2);
        assert_eq!(
            g.rules[0].methods.as_deref(),
            Some(&["GET".to_string(), "POST".to_string()][..])
        );
        assert_eq!(g.injections[0].header.as_str(), "authorization");
        assert_eq!(g.limits.total_timeout, Duration::from_secs(30));
        assert_eq!(g.slots().available_permits(), 2);
    }

    #[test]
    fn the_manifest_doc_example_is_accepted() {
        let source = include_str!("../manifest.rs");
        let example: String = source
            .lines()
            .skip_while(|l| *l != "//! ```toml")
            .skip(1)
            .take_while(|l| *l != "//! ```")
            .map(|l| format!("{}\n", l.trim_start_matches("//!").trim_start()))
            .collect();
        assert!(example.contains("[[http.allow]]"), "{example}");
        let g = grant(&example).unwrap_or_else(|e| panic!("{e}\n{example}"));
        assert_eq!((g.rule_count(), g.injections.len()), (1, 1));
    }

    #[test]
    fn invalid_entries_name_the_key_value_and_fix() {
        let allow = "[[http.allow]]\nurl = \"https://api.example.com/\"\n";
        let cases = [
            (
                format!("{allow}{allow}[[http.allow]]\nurl = \"http://10.0.0.0/8/\"\n"),
                &["http.allow[2].url", "\"http://10.0.0.0/8/\"", "[10.0.0.0/8]"][..],
            ),
            (
                format!("{allow}methods = []\n"),
                &["http.allow[0].methods", "allows nothing"],
            ),
            (
                "[http]\ntotal_timeout_ms = 0\n".to_string(),
                &["http.total_timeout_ms = 0", "from 1"],
            ),
            (
                "[http]\nmax_concurrent_requests = 0\n".to_string(),
                &["http.max_concurrent_requests"],
            ),
            (
                "[http]\nmax_response_bytes = 0\n".to_string(),
                &["http.max_response_bytes"],
            ),
            (
                format!(
                    "{allow}[[secrets.inject]]\nsecret = \"t\"\nurl = \"https://other.example.com/\"\nheader = \"Authorization\"\n"
                ),
                &["secrets.inject[0].url", "no http.allow rule covers it"],
            ),
            (
                "[[secrets.inject]]\nsecret = \"t\"\nurl = \"https://api.example.com/\"\nheader = \"Authorization\"\n".to_string(),
                &["secrets.inject[0].url", "add an [[http.allow]] rule"],
            ),
            (
                format!(
                    "{allow}[[secrets.inject]]\nsecret = \"../t\"\nurl = \"https://api.example.com/\"\nheader = \"X\"\n"
                ),
                &["secrets.inject[0].secret", "not a valid secret name"],
            ),
            (
                format!(
                    "{allow}[[secrets.inject]]\nsecret = \"t\"\nurl = \"https://api.example.com/\"\nheader = \"Host\"\n"
                ),
                &["secrets.inject[0].header", "sets this header itself"],
            ),
            (
                format!(
                    "{allow}[[secrets.inject]]\nsecret = \"t\"\nurl = \"https://api.example.com/\"\nheader = \"Bad Header\"\n"
                ),
                &["secrets.inject[0].header", "not a valid header name"],
            ),
            (
                format!(
                    "{allow}[[secrets.inject]]\nsecret = \"t\"\nurl = \"https://api.example.com/\"\nheader = \"X-Key\"\nformat = \"Bearer\"\n"
                ),
                &["secrets.inject[0].format", "{secret}"],
            ),
        ];
        for (text, fragments) in cases {
            let err = grant(&text).expect_err(&text);
            for fragment in fragments {
                assert!(
                    err.contains(fragment),
                    "{text}\n-> {err}\n(missing {fragment})"
                );
            }
        }
    }
}
