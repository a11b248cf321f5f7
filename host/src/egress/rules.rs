//! URL patterns (`scheme://host[:port]/path-prefix`) as written in
//! `[[http.allow]]` and `[[secrets.inject]]`, read once at load into typed
//! rules, and matched against requests. See the module doc of `egress` for
//! the accepted forms. Pure functions, no I/O.

use std::fmt;
use std::net::IpAddr;

use super::addr::{self, Cidr, Host};
use super::path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub fn parse(text: &str) -> Option<Scheme> {
        if text.eq_ignore_ascii_case("http") {
            Some(Scheme::Http)
        } else if text.eq_ignore_ascii_case("https") {
            Some(Scheme::Https)
        } else {
            None
        }
    }

    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// Which hosts a rule names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPattern {
    /// One DNS name (lower case, no trailing dot).
    Exact(String),
    /// `*.suffix`: names with one or more labels before `.suffix`; not the
    /// bare `suffix` itself.
    Suffix(String),
    /// `*`: any DNS name (not an IP literal).
    AnyName,
    /// An IP address or a `[CIDR]` range: requests to an IP literal in it,
    /// and requests to a name whose every address is in it.
    Addr(Cidr),
}

impl HostPattern {
    pub fn is_address(&self) -> bool {
        matches!(self, HostPattern::Addr(_))
    }

    /// Whether a request to `host` (resolving to `addrs` when a name) is
    /// addressed to this pattern.
    pub fn matches(&self, host: &Host, addrs: &[IpAddr]) -> bool {
        match (self, host) {
            (HostPattern::Exact(name), Host::Name(host)) => name == host,
            (HostPattern::Suffix(suffix), Host::Name(host)) => is_below(suffix, host),
            (HostPattern::AnyName, Host::Name(_)) => true,
            (HostPattern::Addr(cidr), Host::Ip(ip)) => cidr.contains(*ip),
            (HostPattern::Addr(cidr), Host::Name(_)) => {
                !addrs.is_empty() && addrs.iter().all(|ip| cidr.contains(*ip))
            }
            _ => false,
        }
    }

    /// Whether every host `other` matches is matched by `self`.
    pub fn covers(&self, other: &HostPattern) -> bool {
        use HostPattern::*;
        match (self, other) {
            (Exact(a), Exact(b)) => a == b,
            (Suffix(s), Exact(name)) => is_below(s, name),
            (Suffix(s), Suffix(t)) => s == t || is_below(s, t),
            (AnyName, Exact(_) | Suffix(_) | AnyName) => true,
            (Addr(a), Addr(b)) => a.covers(b),
            _ => false,
        }
    }
}

/// `name` is `something.suffix` (at least one more label).
fn is_below(suffix: &str, name: &str) -> bool {
    name.len() > suffix.len() + 1
        && name.ends_with(suffix)
        && name.as_bytes()[name.len() - suffix.len() - 1] == b'.'
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostPattern::Exact(name) => f.write_str(name),
            HostPattern::Suffix(suffix) => write!(f, "*.{suffix}"),
            HostPattern::AnyName => f.write_str("*"),
            HostPattern::Addr(cidr) if cidr.is_single() => {
                write!(f, "{}", Host::Ip(cidr.addr))
            }
            HostPattern::Addr(cidr) => write!(f, "[{cidr}]"),
        }
    }
}

/// `scheme://host[:port]/path-prefix`, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlPattern {
    pub scheme: Scheme,
    pub host: HostPattern,
    /// The scheme's default port when the pattern names none.
    pub port: u16,
    /// Normalized, without a trailing slash (`/` for everything).
    pub path: String,
}

impl fmt::Display for UrlPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}://{}:{}{}",
            self.scheme.as_str(),
            self.host,
            self.port,
            self.path
        )
    }
}

impl UrlPattern {
    /// Reads a pattern; the error says what is wrong and how to write it.
    pub fn parse(text: &str) -> Result<UrlPattern, String> {
        let Some((scheme, rest)) = text.split_once("://") else {
            return Err("write scheme://host[:port]/path-prefix, e.g. \
                 \"https://api.example.com/v1/\""
                .into());
        };
        let scheme = Scheme::parse(scheme)
            .ok_or_else(|| format!("the scheme `{scheme}` is not http or https"))?;
        let (authority, path) = split_authority(rest);
        if authority.contains('@') {
            return Err("a rule names no user info (`user@`): write only the host".into());
        }
        let (host, port) = split_host_port(authority)?;
        let host = parse_host_pattern(host)?;
        let port = match port {
            Some(port) => parse_port(port)?,
            None => scheme.default_port(),
        };
        if let HostPattern::Addr(cidr) = &host
            && cidr.is_single()
            && looks_like_prefix_length(path)
        {
            return Err(format!(
                "`{host}{path}` looks like a CIDR range: write ranges in brackets, \
                 e.g. \"{}://[10.0.0.0/8]:8080/\"",
                scheme.as_str()
            ));
        }
        let path = path::parse_prefix(path)?;
        Ok(UrlPattern {
            scheme,
            host,
            port,
            path,
        })
    }

    /// Whether every request this pattern matches (scheme, host, port,
    /// path) is matched by `self`.
    pub fn covers(&self, other: &UrlPattern) -> bool {
        self.scheme == other.scheme
            && self.port == other.port
            && self.host.covers(&other.host)
            && path::covers(&self.path, &other.path)
    }
}

/// `host[:port]` and the path (`/` when absent). A '/' inside brackets is
/// a CIDR length: the path starts after ']'.
fn split_authority(rest: &str) -> (&str, &str) {
    let from = if rest.starts_with('[') {
        rest.find(']').unwrap_or(0)
    } else {
        0
    };
    match rest[from..].find('/') {
        Some(i) => rest.split_at(from + i),
        None => (rest, "/"),
    }
}

/// Splits `host[:port]`, where host may be `[...]`.
pub fn split_host_port(authority: &str) -> Result<(&str, Option<&str>), String> {
    if authority.starts_with('[') {
        let close = authority
            .find(']')
            .ok_or_else(|| format!("`{authority}`: '[' without ']'"))?;
        let (host, rest) = authority.split_at(close + 1);
        return match rest {
            "" => Ok((host, None)),
            _ => match rest.strip_prefix(':') {
                Some(port) => Ok((host, Some(port))),
                None => Err(format!("`{authority}`: unexpected text after ']'")),
            },
        };
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => Ok((host, Some(port))),
        None => Ok((authority, None)),
    }
}

pub fn parse_port(port: &str) -> Result<u16, String> {
    match port.parse::<u16>() {
        Ok(n) if n > 0 && port.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
        _ => Err(format!("`{port}` is not a port number from 1 to 65535")),
    }
}

fn parse_host_pattern(host: &str) -> Result<HostPattern, String> {
    if host == "*" {
        return Ok(HostPattern::AnyName);
    }
    if let Some(suffix) = host.strip_prefix("*.") {
        return match addr::parse_host(suffix)? {
            Host::Name(name) if !name.contains('*') => Ok(HostPattern::Suffix(name)),
            _ => Err(format!("`{host}`: a wildcard takes a DNS name after `*.`")),
        };
    }
    if host.contains('*') {
        return Err(format!(
            "`{host}`: `*` may only be the whole host or its first label (`*.example.com`)"
        ));
    }
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']'))
        && inner.contains('/')
    {
        return Ok(HostPattern::Addr(Cidr::parse(inner)?));
    }
    match addr::parse_host(host)? {
        Host::Ip(ip) => Ok(HostPattern::Addr(Cidr::single(ip))),
        Host::Name(name) => Ok(HostPattern::Exact(name)),
    }
}

/// `/8` or `/24/...`: what is left of an unbracketed `10.0.0.0/8`.
fn looks_like_prefix_length(path: &str) -> bool {
    let first = path[1..].split('/').next().unwrap_or_default();
    !first.is_empty() && first.len() <= 3 && first.bytes().all(|b| b.is_ascii_digit())
}

/// Reads a rule's method list: HTTP tokens, compared in upper case.
pub fn parse_methods(methods: &[String]) -> Result<Vec<String>, String> {
    if methods.is_empty() {
        return Err(
            "an empty list allows nothing: list methods, or drop the key \
                    to allow every method"
                .into(),
        );
    }
    methods
        .iter()
        .map(|m| {
            let token = !m.is_empty()
                && m.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
            if token {
                Ok(m.to_ascii_uppercase())
            } else {
                Err(format!("`{m}` is not an HTTP method (e.g. \"GET\")"))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[rustfmt::skip] // one case per line
    fn patterns_parse_into_typed_rules() {
        // (pattern, Display of the parsed pattern)
        let cases = [
            ("https://api.example.com/v1/", "https://api.example.com:443/v1"),
            ("https://API.Example.com./v1", "https://api.example.com:443/v1"),
            ("http://api.example.com", "http://api.example.com:80/"),
            ("HTTP://api.example.com:8080/", "http://api.example.com:8080/"),
            ("https://*.example.com/", "https://*.example.com:443/"),
            ("https://*/", "https://*:443/"),
            ("http://127.0.0.1:8080/", "http://127.0.0.1:8080/"),
            ("http://[::1]:8080/x", "http://[::1]:8080/x"),
            ("http://[::ffff:127.0.0.1]/", "http://127.0.0.1:80/"),
            ("http://[10.0.0.0/8]:8080/", "http://[10.0.0.0/8]:8080/"),
            ("http://[10.0.0.0/8]", "http://[10.0.0.0/8]:80/"),
            ("http://[fd00::/8]/api/", "http://[fd00::/8]:80/api"),
        ];
        for (text, shown) in cases {
            let pattern = UrlPattern::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(pattern.to_string(), shown, "{text}");
        }
    }

    #[test]
    #[rustfmt::skip] // one case per line
    fn bad_patterns_say_how_to_fix_them() {
        let cases = [
            ("api.example.com/v1", "scheme://host"),
            ("ftp://example.com/", "not http or https"),
            ("https://user@example.com/", "user info"),
            ("https://ex*ample.com/", "first label"),
            ("https://*.*.example.com/", "not a valid host name"),
            ("https://*.127.0.0.1/", "wildcard"),
            ("https://example.com:0/", "port number"),
            ("https://example.com:99999/", "port number"),
            ("https://example.com:http/", "port number"),
            ("http://10.0.0.0/8/", "in brackets"),
            ("http://10.0.0.1/24", "in brackets"),
            ("http://[10.0.0.1/8]/", "host bits"),
            ("http://[10.0.0.0/40]/", "prefix length"),
            ("http://0177.0.0.1/", "non-canonical"),
            ("http://2130706433/", "non-canonical"),
            ("https://example.com/api/../admin", "normal form"),
            ("https://example.com/api?x=1", "no query"),
            ("https:///", "no host"),
            ("http://[::1/", "without ']'"),
        ];
        for (text, fragment) in cases {
            let err = UrlPattern::parse(text).expect_err(text);
            assert!(err.contains(fragment), "{text}: {err}");
        }
    }

    #[test]
    #[rustfmt::skip] // one case per line
    fn coverage_between_patterns() {
        // (outer, inner, covered)
        let cases = [
            ("https://api.example.com/", "https://api.example.com/v1/", true),
            ("https://api.example.com/v1", "https://api.example.com/", false),
            ("https://api.example.com/", "http://api.example.com/", false),
            ("https://api.example.com/", "https://api.example.com:8443/", false),
            ("https://*.example.com/", "https://api.example.com/", true),
            ("https://*.example.com/", "https://example.com/", false),
            ("https://*.example.com/", "https://*.eu.example.com/", true),
            ("https://*.eu.example.com/", "https://*.example.com/", false),
            ("https://*/", "https://*.example.com/", true),
            ("https://*/", "https://10.0.0.1/", false),
            ("http://[10.0.0.0/8]/", "http://10.1.2.3/", true),
            ("http://[10.0.0.0/8]/", "http://[10.1.0.0/16]/", true),
            ("http://[10.1.0.0/16]/", "http://[10.0.0.0/8]/", false),
            ("http://[10.0.0.0/8]/", "http://internal.example/", false),
        ];
        for (outer, inner, covered) in cases {
            let outer_p = UrlPattern::parse(outer).unwrap();
            let inner_p = UrlPattern::parse(inner).unwrap();
            assert_eq!(outer_p.covers(&inner_p), covered, "{outer} covers {inner}");
        }
    }

    #[test]
    fn methods_are_tokens() {
        assert_eq!(
            parse_methods(&["get".into(), "POST".into()]).unwrap(),
            ["GET", "POST"]
        );
        assert!(parse_methods(&[]).unwrap_err().contains("allows nothing"));
        assert!(parse_methods(&["GE T".into()]).is_err());
        assert!(parse_methods(&["".into()]).is_err());
    }
}
