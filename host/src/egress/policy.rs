//! The one place that says yes or no to an outbound request: [`decide`].
//!
//! Pure (no I/O): the caller resolves the name first and passes the
//! addresses in; the decision says which of them to connect to and which
//! secrets to inject. Every allow and every deny goes through it.

use std::net::IpAddr;

use super::addr::{self, Host};
use super::path;
use super::rules::{self, HostPattern, Scheme};
use super::{AllowRule, EgressGrant};

/// A request as the guest made it.
#[derive(Debug, Clone, Copy)]
pub struct OutgoingRequest<'a> {
    pub method: &'a str,
    pub scheme: &'a str,
    /// `host[:port]` as the guest set it.
    pub authority: &'a str,
    /// The path and query (`/v1/jobs?id=3`).
    pub path_and_query: &'a str,
}

/// A request, read: what the rules are matched against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub scheme: Scheme,
    pub host: Host,
    pub port: u16,
    /// Upper case.
    pub method: String,
    /// The path as sent (no query).
    pub path: String,
    /// The path's normalized readings (see [`path::readings`]).
    readings: [String; 2],
}

impl Target {
    /// `scheme://host:port/path`, no query: how the request is named in
    /// logs and audit events.
    pub fn display_url(&self) -> String {
        format!(
            "{}://{}:{}{}",
            self.scheme.as_str(),
            self.host,
            self.port,
            self.path
        )
    }

    /// The DNS name to resolve, if the host is not an IP literal.
    pub fn name(&self) -> Option<&str> {
        match &self.host {
            Host::Name(name) => Some(name),
            Host::Ip(_) => None,
        }
    }
}

/// Reads a request; an error is a reason to deny it.
pub fn target(request: &OutgoingRequest) -> Result<Target, String> {
    let scheme = Scheme::parse(request.scheme)
        .ok_or_else(|| format!("the scheme `{}` is not http or https", request.scheme))?;
    if request.authority.contains('@') {
        return Err(
            "the URL carries user info (`user@host`): refused, as readers disagree on the host"
                .into(),
        );
    }
    let (host, port) = rules::split_host_port(request.authority)?;
    let host = addr::parse_host(host)?;
    let port = match port {
        None | Some("") => scheme.default_port(),
        Some(port) => rules::parse_port(port)?,
    };
    let method = request.method;
    if method.is_empty()
        || !method
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
    {
        return Err(format!("`{method}` is not an HTTP method"));
    }
    let path = request
        .path_and_query
        .split(['?', '#'])
        .next()
        .unwrap_or_default();
    let path = if path.is_empty() { "/" } else { path };
    let readings = path::readings(path)?;
    Ok(Target {
        scheme,
        host,
        port,
        method: method.to_ascii_uppercase(),
        path: path.to_string(),
        readings,
    })
}

/// What [`decide`] said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allowed {
        /// Index into `http.allow`.
        rule: usize,
        /// The vetted addresses, the only ones to connect to.
        connect_to: Vec<IpAddr>,
        /// Indices into `secrets.inject` of the injections that apply.
        inject: Vec<usize>,
    },
    Denied {
        reason: String,
    },
}

/// Whether any rule could allow `target` whatever its addresses: if not,
/// the name need not be resolved (no DNS query leaks for a denied name).
pub fn worth_resolving(grant: &EgressGrant, target: &Target) -> bool {
    grant.rules.iter().any(|rule| {
        rule.pattern.scheme == target.scheme
            && rule.pattern.port == target.port
            && (rule.pattern.host.is_address() || rule.pattern.host.matches(&target.host, &[]))
    })
}

/// The decision: may this plugin send `request`, whose host name (if it is
/// a name) resolved to `resolved`?
///
/// Allowed when the first rule matching scheme, host, port, path and
/// method also accepts every address: a rule naming an address or range
/// accepts the addresses inside it (a cloud metadata address only when
/// named exactly); a name rule accepts only ordinary public addresses.
pub fn decide(grant: &EgressGrant, request: &OutgoingRequest, resolved: &[IpAddr]) -> Decision {
    let target = match target(request) {
        Ok(target) => target,
        Err(reason) => return Decision::Denied { reason },
    };
    let addrs: Vec<IpAddr> = match &target.host {
        Host::Ip(ip) => vec![*ip],
        Host::Name(_) => {
            let mut addrs: Vec<IpAddr> = Vec::with_capacity(resolved.len());
            for ip in resolved.iter().map(|ip| addr::canonical_ip(*ip)) {
                if !addrs.contains(&ip) {
                    addrs.push(ip);
                }
            }
            addrs
        }
    };
    if grant.rules.is_empty() {
        return Decision::Denied {
            reason: "the plugin's manifest allows no outbound HTTP (no [[http.allow]] rule)".into(),
        };
    }
    // The closest miss explains a denial best: (closeness, reason).
    let mut closest: Option<(u8, String)> = None;
    let mut miss = |rank: u8, reason: String| {
        if closest.as_ref().is_none_or(|(r, _)| rank > *r) {
            closest = Some((rank, reason));
        }
    };
    for (i, rule) in grant.rules.iter().enumerate() {
        let pattern = &rule.pattern;
        if pattern.scheme != target.scheme
            || pattern.port != target.port
            || !pattern.host.matches(&target.host, &addrs)
        {
            continue;
        }
        if !target
            .readings
            .iter()
            .all(|reading| path::within(&pattern.path, reading))
        {
            miss(
                1,
                format!(
                    "the path `{}` is outside http.allow[{i}]'s prefix `{}`",
                    target.path, pattern.path
                ),
            );
            continue;
        }
        if target.method == "CONNECT"
            && !rule
                .methods
                .as_ref()
                .is_some_and(|m| m.contains(&target.method))
        {
            miss(
                2,
                format!(
                    "the method CONNECT (a tunnel) must be listed in http.allow[{i}].methods \
                     to be allowed"
                ),
            );
            continue;
        }
        if let Some(methods) = &rule.methods
            && !methods.contains(&target.method)
        {
            miss(
                2,
                format!(
                    "the method {} is not in http.allow[{i}].methods {methods:?}",
                    target.method
                ),
            );
            continue;
        }
        if let Some(reason) = refused_address(rule, &target, &addrs) {
            miss(3, reason);
            continue;
        }
        let inject = grant
            .injections
            .iter()
            .enumerate()
            .filter(|(_, injection)| {
                let p = &injection.pattern;
                p.scheme == target.scheme
                    && p.port == target.port
                    && p.host.matches(&target.host, &addrs)
                    && target.readings.iter().all(|r| path::within(&p.path, r))
            })
            .map(|(j, _)| j)
            .collect();
        return Decision::Allowed {
            rule: i,
            connect_to: addrs,
            inject,
        };
    }
    let reason = match closest {
        Some((_, reason)) => reason,
        None => format!(
            "no http.allow rule matches {}://{}:{}",
            target.scheme.as_str(),
            target.host,
            target.port
        ),
    };
    Decision::Denied { reason }
}

/// Why `rule` may not reach one of `addrs`, if so.
fn refused_address(rule: &AllowRule, target: &Target, addrs: &[IpAddr]) -> Option<String> {
    if addrs.is_empty() {
        return Some(format!("`{}` did not resolve to any address", target.host));
    }
    match &rule.pattern.host {
        HostPattern::Addr(cidr) => addrs.iter().find_map(|ip| {
            let metadata = addr::cloud_metadata(*ip)?;
            (!cidr.is_single()).then(|| {
                format!(
                    "{ip} is {metadata}: only a rule naming exactly that address reaches it, \
                     not the range [{cidr}]"
                )
            })
        }),
        _ => addrs.iter().find_map(|ip| {
            let what = addr::special_purpose(*ip)?;
            let via = match &target.host {
                Host::Name(name) => format!("`{name}` resolves to {ip}, which is"),
                Host::Ip(_) => format!("{ip} is"),
            };
            Some(format!(
                "{via} {what}: a rule naming a host by name never reaches such addresses; a rule \
                 naming the address or its range does (e.g. http://{}:{}/ or a [CIDR])",
                Host::Ip(*ip),
                target.port
            ))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest;

    fn grant(rules: &str, injections: &str) -> EgressGrant {
        let text = format!("{rules}\n{injections}");
        let m = manifest::parse(&text).unwrap();
        EgressGrant::from_manifest(&m.http, &m.secrets.inject).unwrap()
    }

    fn allow(url: &str, methods: Option<&[&str]>) -> String {
        match methods {
            None => format!("[[http.allow]]\nurl = \"{url}\"\n"),
            Some(m) => format!(
                "[[http.allow]]\nurl = \"{url}\"\nmethods = [{}]\n",
                m.iter()
                    .map(|m| format!("\"{m}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    /// Splits `http://host:port/path?q` the way wasi:http hands it over.
    fn request<'a>(method: &'a str, url: &'a str) -> OutgoingRequest<'a> {
        let (scheme, rest) = url.split_once("://").unwrap();
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path_and_query) = rest.split_at(split);
        OutgoingRequest {
            method,
            scheme,
            authority,
            path_and_query,
        }
    }

    fn ips(list: &[&str]) -> Vec<IpAddr> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    const PUBLIC: &[&str] = &["93.184.216.34"];

    /// (rules, method, url, resolved addresses, expected): `Ok(rule)` for
    /// allowed by `http.allow[rule]`, `Err(fragment of the reason)`.
    type Case = (
        &'static str,
        &'static str,
        &'static str,
        &'static [&'static str],
        Result<usize, &'static str>,
    );

    fn check(cases: &[Case], rules_for: impl Fn(&str) -> String) {
        for (rules, method, url, resolved, expected) in cases {
            let g = grant(&rules_for(rules), "");
            let decision = decide(&g, &request(method, url), &ips(resolved));
            match (expected, &decision) {
                (Ok(rule), Decision::Allowed { rule: got, .. }) => {
                    assert_eq!(rule, got, "{rules} {method} {url}")
                }
                (Err(fragment), Decision::Denied { reason }) => assert!(
                    reason.contains(fragment),
                    "{rules} {method} {url}: {reason:?} lacks {fragment:?}"
                ),
                _ => panic!(
                    "{rules} {method} {url} {resolved:?}: expected {expected:?}, got {decision:?}"
                ),
            }
        }
    }

    /// Each `rules` entry is `url` or `url METHOD,METHOD`, `;`-separated.
    fn rules_of(spec: &str) -> String {
        spec.split(';')
            .filter(|s| !s.trim().is_empty())
            .map(|s| {
                let mut parts = s.split_whitespace();
                let url = parts.next().unwrap();
                match parts.next() {
                    Some(m) => allow(url, Some(&m.split(',').collect::<Vec<_>>())),
                    None => allow(url, None),
                }
            })
            .collect()
    }

    #[test]
    #[rustfmt::skip] // one case per line
    fn rule_forms() {
        let cases: &[Case] = &[
            // nothing allowed by default
            ("", "GET", "https://api.example.com/", PUBLIC, Err("allows no outbound HTTP")),
            // exact host, case-insensitive, trailing dot
            ("https://api.example.com/", "GET", "https://api.example.com/x", PUBLIC, Ok(0)),
            ("https://api.example.com/", "GET", "https://API.EXAMPLE.COM/x", PUBLIC, Ok(0)),
            ("https://api.example.com/", "GET", "https://api.example.com./x", PUBLIC, Ok(0)),
            ("https://API.example.com./", "GET", "https://api.example.com/x", PUBLIC, Ok(0)),
            ("https://api.example.com/", "GET", "https://api.example.org/", PUBLIC, Err("no http.allow rule matches https://api.example.org:443")),
            ("https://api.example.com/", "GET", "https://xapi.example.com/", PUBLIC, Err("no http.allow rule")),
            ("https://api.example.com/", "GET", "https://api.example.com.evil.net/", PUBLIC, Err("no http.allow rule")),
            // scheme
            ("https://api.example.com/", "GET", "http://api.example.com/", PUBLIC, Err("no http.allow rule matches http://")),
            ("https://api.example.com/", "GET", "ftp://api.example.com/", PUBLIC, Err("not http or https")),
            // *. suffix: below the apex, not the apex itself
            ("https://*.example.com/", "GET", "https://api.example.com/", PUBLIC, Ok(0)),
            ("https://*.example.com/", "GET", "https://a.b.example.com/", PUBLIC, Ok(0)),
            ("https://*.example.com/", "GET", "https://example.com/", PUBLIC, Err("no http.allow rule")),
            ("https://*.example.com/", "GET", "https://badexample.com/", PUBLIC, Err("no http.allow rule")),
            ("https://*.example.com/", "GET", "https://example.com.evil.net/", PUBLIC, Err("no http.allow rule")),
            ("https://*.example.com/;https://example.com/", "GET", "https://example.com/", PUBLIC, Ok(1)),
            // * is any name, never an IP literal
            ("https://*/", "GET", "https://anything.example.net/", PUBLIC, Ok(0)),
            ("https://*/", "GET", "https://93.184.216.34/", &[], Err("no http.allow rule")),
            // ports: default by scheme, or explicit
            ("https://api.example.com/", "GET", "https://api.example.com:443/", PUBLIC, Ok(0)),
            ("https://api.example.com/", "GET", "https://api.example.com:8443/", PUBLIC, Err("no http.allow rule matches https://api.example.com:8443")),
            ("http://api.example.com:8080/", "GET", "http://api.example.com:8080/", PUBLIC, Ok(0)),
            ("http://api.example.com:8080/", "GET", "http://api.example.com/", PUBLIC, Err("no http.allow rule")),
            ("http://api.example.com/", "GET", "http://api.example.com:80/", PUBLIC, Ok(0)),
            // path prefixes at segment boundaries, on normalized paths
            ("https://api.example.com/api", "GET", "https://api.example.com/api", PUBLIC, Ok(0)),
            ("https://api.example.com/api", "GET", "https://api.example.com/api/v1?x=/../../", PUBLIC, Ok(0)),
            ("https://api.example.com/api/", "GET", "https://api.example.com/api", PUBLIC, Ok(0)),
            ("https://api.example.com/api", "GET", "https://api.example.com/apiary", PUBLIC, Err("outside http.allow[0]'s prefix `/api`")),
            ("https://api.example.com/api/", "GET", "https://api.example.com/apiary", PUBLIC, Err("outside")),
            ("https://api.example.com/api", "GET", "https://api.example.com/", PUBLIC, Err("outside")),
            ("https://api.example.com/api", "GET", "https://api.example.com", PUBLIC, Err("outside")),
            ("https://api.example.com/api", "GET", "https://api.example.com/API", PUBLIC, Err("outside")),
            ("https://api.example.com/api", "GET", "https://api.example.com/api/../admin", PUBLIC, Err("outside")),
            ("https://api.example.com/api", "GET", "https://api.example.com/api/%2e%2e/admin", PUBLIC, Err("outside")),
            ("https://api.example.com/api", "GET", "https://api.example.com/api/%2E%2E/admin", PUBLIC, Err("outside")),
            ("https://api.example.com/api", "GET", "https://api.example.com/api/..%2Fadmin", PUBLIC, Err("outside")),
            ("https://api.example.com/api", "GET", "https://api.example.com/api/..%5cadmin", PUBLIC, Err("outside")),
            ("https://api.example.com/api", "GET", "https://api.example.com/api/..;/admin", PUBLIC, Err("outside")),
            ("https://api.example.com/api", "GET", "https://api.example.com/api/v1/../../admin", PUBLIC, Err("outside")),
            ("https://api.example.com/api", "GET", "https://api.example.com/api/v1/../v2", PUBLIC, Ok(0)),
            ("https://api.example.com/api", "GET", "https://api.example.com/%61pi/v1", PUBLIC, Ok(0)),
            ("https://api.example.com/api", "GET", "https://api.example.com/api/%zz", PUBLIC, Err("malformed %-escape")),
            // methods
            ("https://api.example.com/ GET,POST", "GET", "https://api.example.com/", PUBLIC, Ok(0)),
            ("https://api.example.com/ GET,POST", "post", "https://api.example.com/", PUBLIC, Ok(0)),
            ("https://api.example.com/ GET,POST", "DELETE", "https://api.example.com/", PUBLIC, Err("the method DELETE is not in http.allow[0].methods")),
            ("https://api.example.com/ get", "GET", "https://api.example.com/", PUBLIC, Ok(0)),
            ("https://api.example.com/", "PATCH", "https://api.example.com/", PUBLIC, Ok(0)),
            ("https://api.example.com/", "CONNECT", "https://api.example.com/", PUBLIC, Err("CONNECT (a tunnel) must be listed")),
            ("https://api.example.com/ CONNECT", "CONNECT", "https://api.example.com/", PUBLIC, Ok(0)),
            ("https://api.example.com/", "BAD METHOD", "https://api.example.com/", PUBLIC, Err("not an HTTP method")),
            // the first matching rule decides; later rules still get a chance
            ("https://api.example.com/v1 GET;https://api.example.com/ POST", "POST", "https://api.example.com/v1/x", PUBLIC, Ok(1)),
            ("https://api.example.com/v1 GET;https://api.example.com/v2", "DELETE", "https://api.example.com/v1/x", PUBLIC, Err("DELETE is not in http.allow[0]")),
            // IP and CIDR rules
            ("http://127.0.0.1:8080/", "GET", "http://127.0.0.1:8080/x", &[], Ok(0)),
            ("http://127.0.0.1:8080/", "GET", "http://127.0.0.2:8080/x", &[], Err("no http.allow rule")),
            ("http://127.0.0.1:8080/", "GET", "http://[::ffff:127.0.0.1]:8080/", &[], Ok(0)),
            ("http://[::1]:8080/", "GET", "http://[0:0:0:0:0:0:0:1]:8080/", &[], Ok(0)),
            ("http://[10.0.0.0/8]/", "GET", "http://10.20.30.40/", &[], Ok(0)),
            ("http://[10.0.0.0/8]/", "GET", "http://11.0.0.1/", &[], Err("no http.allow rule")),
            ("http://[10.0.0.0/8]/", "GET", "http://internal.corp/", &["10.1.1.1"], Ok(0)),
            ("http://[10.0.0.0/8]/", "GET", "http://internal.corp/", &["10.1.1.1", "192.168.1.1"], Err("no http.allow rule")),
            ("http://[fd00::/8]/", "GET", "http://[fd12::1]/", &[], Ok(0)),
            ("http://93.184.216.34/", "GET", "http://93.184.216.34/", &[], Ok(0)),
            // metadata needs the exact address
            ("http://169.254.169.254/", "GET", "http://169.254.169.254/latest/meta-data", &[], Ok(0)),
            ("http://[169.254.0.0/16]/", "GET", "http://169.254.169.254/", &[], Err("only a rule naming exactly that address")),
            ("http://[169.254.0.0/16]/", "GET", "http://169.254.1.1/", &[], Ok(0)),
            ("http://[0.0.0.0/0]/", "GET", "http://100.100.100.200/", &[], Err("cloud metadata")),
        ];
        check(cases, rules_of);
    }

    #[test]
    #[rustfmt::skip] // one case per line
    fn bypass_attempts_are_denied() {
        let cases: &[Case] = &[
            // odd IPv4 spellings of loopback: refused before any rule applies
            ("http://*/", "GET", "http://2130706433/", &[], Err("non-canonical spelling of the IPv4 address 127.0.0.1")),
            ("http://*/", "GET", "http://0177.0.0.1/", &[], Err("non-canonical")),
            ("http://*/", "GET", "http://0x7f.1/", &[], Err("non-canonical")),
            ("http://*/", "GET", "http://127.1/", &[], Err("non-canonical")),
            ("http://*/", "GET", "http://0x7f000001/", &[], Err("non-canonical")),
            ("http://127.0.0.1/", "GET", "http://127.1/", &[], Err("non-canonical")),
            // IP literals are never matched by name rules
            ("http://*/", "GET", "http://127.0.0.1/", &[], Err("no http.allow rule")),
            ("http://*/", "GET", "http://[::1]/", &[], Err("no http.allow rule")),
            ("http://*/", "GET", "http://[::ffff:127.0.0.1]/", &[], Err("no http.allow rule")),
            ("http://*/", "GET", "http://[0:0:0:0:0:0:0:1]/", &[], Err("no http.allow rule")),
            ("http://localhost/", "GET", "http://[::1]/", &[], Err("no http.allow rule")),
            // IPv6 forms against an IPv4 rule: only the same address
            ("http://127.0.0.1/", "GET", "http://[::1]/", &[], Err("no http.allow rule")),
            ("http://127.0.0.1/", "GET", "http://[::127.0.0.1]/", &[], Err("no http.allow rule")),
            ("http://127.0.0.1/", "GET", "http://[64:ff9b::7f00:1]/", &[], Err("no http.allow rule")),
            ("http://[fe80::/10]/", "GET", "http://[fe80::1%25eth0]/", &[], Err("zone identifiers")),
            // names resolving to special-purpose addresses
            ("http://localhost:8080/", "GET", "http://localhost:8080/", &["127.0.0.1"], Err("`localhost` resolves to 127.0.0.1, which is a loopback address")),
            ("http://localhost:8080/", "GET", "http://localhost:8080/", &["::1"], Err("loopback")),
            ("https://*.example.com/", "GET", "https://rebind.example.com/", &["10.0.0.5"], Err("private")),
            ("https://*.example.com/", "GET", "https://rebind.example.com/", &["172.20.0.1"], Err("private")),
            ("https://*.example.com/", "GET", "https://rebind.example.com/", &["192.168.0.10"], Err("private")),
            ("https://*.example.com/", "GET", "https://cgnat.example.com/", &["100.64.0.1"], Err("carrier-grade NAT")),
            ("https://*.example.com/", "GET", "https://meta.example.com/", &["169.254.169.254"], Err("cloud metadata")),
            ("https://*.example.com/", "GET", "https://meta.example.com/", &["fd00:ec2::254"], Err("cloud metadata")),
            ("https://*.example.com/", "GET", "https://meta.example.com/", &["100.100.100.200"], Err("cloud metadata")),
            ("https://*.example.com/", "GET", "https://ll.example.com/", &["fe80::1"], Err("link-local")),
            ("https://*.example.com/", "GET", "https://ula.example.com/", &["fd00::1"], Err("unique-local")),
            ("https://*.example.com/", "GET", "https://m.example.com/", &["::ffff:127.0.0.1"], Err("loopback")),
            ("https://*.example.com/", "GET", "https://n.example.com/", &["64:ff9b::a00:1"], Err("embedding 10.0.0.1")),
            ("https://*.example.com/", "GET", "https://z.example.com/", &["0.0.0.0"], Err("unspecified")),
            ("https://*.example.com/", "GET", "https://mc.example.com/", &["239.1.1.1"], Err("multicast")),
            // one refused address refuses the name (no mixing public and private)
            ("https://*.example.com/", "GET", "https://mix.example.com/", &["93.184.216.34", "127.0.0.1"], Err("loopback")),
            ("https://*.example.com/", "GET", "https://void.example.com/", &[], Err("did not resolve")),
            // user info: the host is what follows '@', and it is refused anyway
            ("http://allowed.com/", "GET", "http://allowed.com@evil.com/", PUBLIC, Err("user info")),
            ("http://allowed.com/", "GET", "http://user:pw@allowed.com/", PUBLIC, Err("user info")),
            // a redirect target is a new request, checked like any other
            ("http://127.0.0.1:8080/", "GET", "http://127.0.0.1:9090/", &[], Err("no http.allow rule matches http://127.0.0.1:9090")),
            ("https://api.example.com/", "GET", "https://evil.example.net/", PUBLIC, Err("no http.allow rule")),
            // malformed authorities
            ("https://api.example.com/", "GET", "https://api.example.com:0/", PUBLIC, Err("port number")),
            ("https://api.example.com/", "GET", "https://api%2eexample.com/", PUBLIC, Err("not a valid host name")),
            ("https://api.example.com/", "GET", "https:///", PUBLIC, Err("no host")),
        ];
        check(cases, rules_of);
    }

    #[test]
    fn allowed_decisions_connect_only_to_vetted_addresses() {
        let g = grant(&allow("https://api.example.com/", None), "");
        let decision = decide(
            &g,
            &request("GET", "https://api.example.com/"),
            &ips(&["93.184.216.34", "::ffff:93.184.216.34", "2606:2800::1"]),
        );
        assert_eq!(
            decision,
            Decision::Allowed {
                rule: 0,
                connect_to: ips(&["93.184.216.34", "2606:2800::1"]),
                inject: vec![]
            }
        );
        // an IP literal connects to itself, whatever was passed in
        let g = grant(&allow("http://127.0.0.1:8080/", None), "");
        let decision = decide(
            &g,
            &request("GET", "http://127.0.0.1:8080/"),
            &ips(&["10.0.0.1"]),
        );
        assert!(
            matches!(decision, Decision::Allowed { connect_to, .. } if connect_to == ips(&["127.0.0.1"]))
        );
    }

    #[test]
    #[rustfmt::skip] // one case per line
    fn secrets_are_injected_only_where_bound() {
        let rules = format!(
            "{}{}",
            allow("https://api.example.com/", None),
            allow("https://*.example.org/", None)
        );
        let injections = "[[secrets.inject]]\nsecret = \"token\"\nurl = \"https://api.example.com/v1/\"\nheader = \"Authorization\"\nformat = \"Bearer {secret}\"\n\
                          [[secrets.inject]]\nsecret = \"org_key\"\nurl = \"https://*.example.org/\"\nheader = \"X-Key\"\n";
        let g = grant(&rules, injections);
        // (method, url, resolved, injections applied)
        let cases: &[(&str, &str, &[&str], &[usize])] = &[
            ("GET", "https://api.example.com/v1/jobs", PUBLIC, &[0]),
            ("POST", "https://API.example.com./v1", PUBLIC, &[0]),
            ("GET", "https://api.example.com/v2/jobs", PUBLIC, &[]),
            ("GET", "https://api.example.com/v1/../v2", PUBLIC, &[]),
            ("GET", "https://api.example.com/v1%2F..%2Fv2", PUBLIC, &[]),
            ("GET", "https://api.example.com/v10", PUBLIC, &[]),
            ("GET", "https://a.example.org/", PUBLIC, &[1]),
            ("GET", "https://example.org/", PUBLIC, &[]),
        ];
        for (method, url, resolved, expected) in cases {
            match decide(&g, &request(method, url), &ips(resolved)) {
                Decision::Allowed { inject, .. } => assert_eq!(inject, *expected, "{url}"),
                Decision::Denied { reason } => {
                    assert!(expected.is_empty(), "{url} denied: {reason}")
                }
            }
        }
        // denied requests never carry a secret: there is no Allowed to read
        let denied = decide(
            &g,
            &request("GET", "https://evil.example.net/v1/"),
            &ips(PUBLIC),
        );
        assert!(matches!(denied, Decision::Denied { .. }));
        let loopback = decide(
            &g,
            &request("GET", "https://api.example.com/v1/"),
            &ips(&["127.0.0.1"]),
        );
        assert!(matches!(loopback, Decision::Denied { .. }));
    }

    #[test]
    fn names_are_resolved_only_when_a_rule_could_allow_them() {
        let g = grant(
            &format!(
                "{}{}",
                allow("https://api.example.com/", None),
                allow("http://[10.0.0.0/8]:8080/", None)
            ),
            "",
        );
        let worth = |url| worth_resolving(&g, &target(&request("GET", url)).unwrap());
        assert!(worth("https://api.example.com/x"));
        assert!(!worth("https://evil.example.net/"));
        assert!(
            worth("http://svc.cluster.local:8080/"),
            "address rules match names by address"
        );
        assert!(!worth("http://svc.cluster.local:9090/"));
    }

    #[test]
    fn audit_urls_have_no_query() {
        let t = target(&request("GET", "https://API.example.com/v1/jobs?token=abc")).unwrap();
        assert_eq!(t.display_url(), "https://api.example.com:443/v1/jobs");
        let t = target(&request("GET", "http://[::1]:8080")).unwrap();
        assert_eq!(t.display_url(), "http://[::1]:8080/");
    }
}
