//! Path prefixes, matched on normalized paths so that `..`, `%2e%2e` and
//! encoded slashes cannot walk out of an allowed prefix.
//!
//! A request path is read twice, and must be inside the prefix both ways:
//!
//! * strictly (RFC 3986): percent-encoded unreserved characters decoded
//!   (`%2e` is `.`, `%7E` is `~`), other escapes kept (hex in upper case),
//!   then dot segments removed;
//! * leniently, the way a permissive server might read it: also `%2F`,
//!   `%5C` and `\` as `/`, and `;params` dropped from each segment (Tomcat
//!   reads `/api/..;/admin` as `/admin`), then dot segments removed.
//!
//! Paths are case-sensitive. Pure functions, no I/O.

/// The path readings the policy checks, strict first.
pub fn readings(path: &str) -> Result<[String; 2], String> {
    let path = if path.is_empty() { "/" } else { path };
    if !path.starts_with('/') {
        return Err(format!("the path `{path}` does not start with '/'"));
    }
    let strict = remove_dot_segments(&decode(path, false)?);
    let lenient_text = decode(path, true)?.replace('\\', "/");
    let lenient: Vec<&str> = lenient_text
        .split('/')
        .map(|segment| segment.split(';').next().unwrap_or_default())
        .collect();
    let lenient = remove_dot_segments(&lenient.join("/"));
    Ok([strict, lenient])
}

/// A rule's path prefix in normal form: it must start with '/', hold no
/// query, fragment, dot segment or needless escape. The trailing slash is
/// dropped (`/api/` and `/api` mean the same prefix).
pub fn parse_prefix(prefix: &str) -> Result<String, String> {
    if prefix.contains(['?', '#']) {
        return Err("a rule has no query or fragment: end it at the path".into());
    }
    let [strict, lenient] = readings(prefix)?;
    if strict != prefix || lenient != strict {
        return Err(format!(
            "the path prefix `{prefix}` is not in normal form (no `.` or `..` segments, no \
             `;`, `\\` or escapes of unreserved characters or slashes): write `{lenient}`"
        ));
    }
    Ok(trim_slash(&strict))
}

fn trim_slash(path: &str) -> String {
    match path.strip_suffix('/') {
        Some(trimmed) if !trimmed.is_empty() => trimmed.to_string(),
        _ => path.to_string(),
    }
}

/// Whether a normalized `path` is inside `prefix` (from [`parse_prefix`]):
/// equal to it or below it at a segment boundary, so `/api` covers `/api`,
/// `/api/` and `/api/v1` but not `/apiary`.
pub fn within(prefix: &str, path: &str) -> bool {
    prefix == "/"
        || path == prefix
        || (path.starts_with(prefix) && path.as_bytes().get(prefix.len()) == Some(&b'/'))
}

/// Whether every path inside `inner` is inside `outer` (both from
/// [`parse_prefix`]).
pub fn covers(outer: &str, inner: &str) -> bool {
    within(outer, inner)
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Decodes escapes of unreserved characters (and of `/` and `\` when
/// `slashes`); keeps the others with upper-case hex.
fn decode(path: &str, slashes: bool) -> Result<String, String> {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'%' {
            out.push(bytes[i] as char);
            i += 1;
            continue;
        }
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| format!("the path `{path}` has a malformed %-escape"))?;
        let byte = u8::from_str_radix(hex, 16).map_err(|e| e.to_string())?;
        if is_unreserved(byte) {
            out.push(byte as char);
        } else if slashes && matches!(byte, b'/' | b'\\') {
            out.push('/');
        } else {
            out.push('%');
            out.push_str(&hex.to_ascii_uppercase());
        }
        i += 3;
    }
    Ok(out)
}

/// RFC 3986 section 5.2.4 for a path starting with '/'.
fn remove_dot_segments(path: &str) -> String {
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let mut out: Vec<&str> = Vec::with_capacity(segments.len());
    let count = segments.len();
    for (i, segment) in segments.into_iter().enumerate() {
        let last = i + 1 == count;
        match segment {
            "." => {}
            ".." => {
                out.pop();
            }
            other => {
                out.push(other);
                continue;
            }
        }
        if last {
            out.push("");
        }
    }
    format!("/{}", out.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[rustfmt::skip] // one case per line
    fn paths_are_normalized_both_ways() {
        // (path, strict, lenient)
        let cases = [
            ("", "/", "/"),
            ("/", "/", "/"),
            ("/api/v1", "/api/v1", "/api/v1"),
            ("/api/../admin", "/admin", "/admin"),
            ("/api/./v1/", "/api/v1/", "/api/v1/"),
            ("/api/v1/..", "/api/", "/api/"),
            ("/..", "/", "/"),
            ("/../../etc", "/etc", "/etc"),
            ("/api/%2e%2e/admin", "/admin", "/admin"),
            ("/api/%2E./admin", "/admin", "/admin"),
            ("/api/..%2fadmin", "/api/..%2Fadmin", "/admin"),
            ("/api/..%5cadmin", "/api/..%5Cadmin", "/admin"),
            ("/api/..\\admin", "/api/..\\admin", "/admin"),
            ("/api/..;/admin", "/api/..;/admin", "/admin"),
            ("/api;x=1/v1", "/api;x=1/v1", "/api/v1"),
            ("/%61pi/v1", "/api/v1", "/api/v1"),
            ("/a%20b", "/a%20b", "/a%20b"),
            ("/a%2fb", "/a%2Fb", "/a/b"),
            ("/api//x", "/api//x", "/api//x"),
        ];
        for (path, strict, lenient) in cases {
            let [s, l] = readings(path).unwrap();
            assert_eq!((s.as_str(), l.as_str()), (strict, lenient), "{path:?}");
        }
        for bad in ["/a%2", "/a%zz", "/a%", "api", "*"] {
            assert!(readings(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    #[rustfmt::skip] // one case per line
    fn prefixes_match_at_segment_boundaries() {
        // (prefix, path, inside)
        let cases = [
            ("/", "/anything/at/all", true),
            ("/api", "/api", true),
            ("/api", "/api/", true),
            ("/api", "/api/v1", true),
            ("/api", "/apiary", false),
            ("/api", "/ap", false),
            ("/api", "/", false),
            ("/api/v1", "/api", false),
            ("/api/v1", "/api/v1/jobs", true),
            ("/api/v1", "/api/v10", false),
            ("/API", "/api", false),
        ];
        for (prefix, path, inside) in cases {
            assert_eq!(within(prefix, path), inside, "{prefix} vs {path}");
        }
    }

    #[test]
    fn rule_prefixes_must_be_normal() {
        assert_eq!(parse_prefix("/").unwrap(), "/");
        assert_eq!(parse_prefix("/api/").unwrap(), "/api");
        assert_eq!(parse_prefix("/api/v1").unwrap(), "/api/v1");
        assert_eq!(parse_prefix("/a%20b/").unwrap(), "/a%20b");
        for (bad, fragment) in [
            ("/api/../admin", "write `/admin`"),
            ("/%61pi", "write `/api`"),
            ("/api?x=1", "no query"),
            ("/a%2fb", "normal form"),
            ("/a;b", "normal form"),
            ("api", "start with '/'"),
        ] {
            let err = parse_prefix(bad).unwrap_err();
            assert!(err.contains(fragment), "{bad}: {err}");
        }
    }
}
