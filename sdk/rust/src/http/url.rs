//! The little URL handling requests need: split an absolute URL into what
//! `wasi:http` wants (scheme, authority, path-with-query), append query
//! parameters, name the origin in error messages. Not a general URL parser.

/// `scheme://authority/path?query` split; the path defaults to `/` and a
/// fragment is dropped (it is never sent).
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
#[derive(Debug)]
pub(crate) struct Parts {
    pub scheme: String,
    pub authority: String,
    pub path_with_query: String,
}

/// Splits an absolute `http://` or `https://` URL, or says what is wrong.
pub(crate) fn split(url: &str) -> Result<Parts, String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| "not an absolute URL (it needs http:// or https://)".to_string())?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err(format!("scheme `{scheme}` is not http or https"));
    }
    let rest = rest.split('#').next().unwrap_or_default();
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    if authority.is_empty() {
        return Err("the URL has no host".to_string());
    }
    let path_with_query = if path.is_empty() {
        "/".to_string()
    } else if path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_string()
    };
    Ok(Parts {
        scheme,
        authority: authority.to_string(),
        path_with_query,
    })
}

#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
/// `scheme://authority/` of `url` (for the `[[http.allow]]` hint), or the
/// URL itself when it cannot be split.
pub(crate) fn origin_of(url: &str) -> String {
    match split(url) {
        Ok(p) => format!("{}://{}/", p.scheme, p.authority),
        Err(_) => url.to_string(),
    }
}

/// Percent-encodes everything but the unreserved characters of RFC 3986
/// (`A-Z a-z 0-9 - . _ ~`): the form for one query name or value.
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Form-encodes one query name or value (`application/x-www-form-urlencoded`,
/// as HTML forms and most HTTP clients do): like [`percent_encode`] but a
/// space becomes `+`.
pub fn form_encode(text: &str) -> String {
    percent_encode(text).replace("%20", "+")
}

/// `url` with `name=value` appended to its query (before any fragment),
/// form-encoded.
pub(crate) fn append_query(url: &str, name: &str, value: &str) -> String {
    let (base, fragment) = match url.split_once('#') {
        Some((b, f)) => (b, Some(f)),
        None => (url, None),
    };
    let separator = if !base.contains('?') {
        "?"
    } else if base.ends_with('?') || base.ends_with('&') {
        ""
    } else {
        "&"
    };
    let mut out = format!(
        "{base}{separator}{}={}",
        form_encode(name),
        form_encode(value)
    );
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_what_wasi_http_needs() {
        let p = split("HTTP://127.0.0.1:8080/a/b?x=1#frag").expect("valid");
        assert_eq!(p.scheme, "http");
        assert_eq!(p.authority, "127.0.0.1:8080");
        assert_eq!(p.path_with_query, "/a/b?x=1");
        assert_eq!(split("https://h").expect("valid").path_with_query, "/");
        assert_eq!(split("https://h?q").expect("valid").path_with_query, "/?q");
    }

    #[test]
    fn rejects_what_cannot_be_sent() {
        assert!(
            split("example.com/x")
                .expect_err("relative")
                .contains("absolute")
        );
        assert!(split("ftp://h/").expect_err("scheme").contains("ftp"));
        assert!(split("http:///x").expect_err("no host").contains("no host"));
    }

    #[test]
    fn encodes_and_appends_query_parameters() {
        assert_eq!(percent_encode("a b&c=d/é~"), "a%20b%26c%3Dd%2F%C3%A9~");
        assert_eq!(append_query("http://h/p", "q", "1 2"), "http://h/p?q=1+2");
        assert_eq!(form_encode("a b+c"), "a+b%2Bc");
        assert_eq!(
            append_query("http://h/p?a=1", "b", "2"),
            "http://h/p?a=1&b=2"
        );
        assert_eq!(append_query("http://h/p?", "b", "2"), "http://h/p?b=2");
        assert_eq!(append_query("http://h/p#f", "b", "2"), "http://h/p?b=2#f");
        assert_eq!(origin_of("https://h:1/a?b"), "https://h:1/");
    }
}
