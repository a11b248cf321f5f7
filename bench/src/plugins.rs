//! Many distinct small plugins from one: copies of the Rust echo component
//! whose task type (and agent name) `echo` is rewritten in its data segment
//! to `e000`, `e001`, ... Same length, so the component stays valid; each
//! copy has its own content hash (so its own compile-cache entry) and its
//! own task type (so Hangar does not refuse it as a clash). Whether Hangar
//! really loaded them all is checked with its `hangar_plugins_loaded` gauge.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};

/// The bytes rewritten: the Rust echo agent's name and task type.
pub const PATTERN: &[u8] = b"echo";

/// Task type of copy `i` (`e000`...`e999`).
pub fn task_type(i: usize) -> String {
    format!("e{i:03}")
}

/// `source` with every occurrence of [`PATTERN`] replaced by `replacement`
/// (same length). Errors when the pattern is absent.
pub fn rewrite(source: &[u8], replacement: &[u8]) -> Result<Vec<u8>> {
    if replacement.len() != PATTERN.len() {
        bail!("replacement must be {} bytes", PATTERN.len());
    }
    let mut out = source.to_vec();
    let mut found = 0;
    let mut i = 0;
    while i + PATTERN.len() <= out.len() {
        if &out[i..i + PATTERN.len()] == PATTERN {
            out[i..i + PATTERN.len()].copy_from_slice(replacement);
            found += 1;
            i += PATTERN.len();
        } else {
            i += 1;
        }
    }
    if found == 0 {
        bail!(
            "the component has no {:?} to rewrite",
            String::from_utf8_lossy(PATTERN)
        );
    }
    Ok(out)
}

/// Writes `n` distinct copies of `source` into a fresh directory `dir`.
pub fn write_distinct(source: &Path, n: usize, dir: &Path) -> Result<PathBuf> {
    if n > 1000 {
        bail!("at most 1000 distinct plugins");
    }
    let bytes =
        std::fs::read(source).with_context(|| format!("cannot read {}", source.display()))?;
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for i in 0..n {
        let copy = rewrite(&bytes, task_type(i).as_bytes())?;
        let file = dir.join(format!("echo-{i:03}.wasm"));
        std::fs::write(&file, copy).with_context(|| format!("cannot write {}", file.display()))?;
    }
    Ok(dir.to_path_buf())
}

/// The value of the gauge `hangar_plugins_loaded` on Hangar's metrics port.
pub fn plugins_loaded(metrics: &str) -> Result<u64> {
    let body = http_get(metrics, "/metrics")?;
    let line = body
        .lines()
        .find(|l| l.starts_with("hangar_plugins_loaded "))
        .context("no hangar_plugins_loaded in /metrics")?;
    let value = line.trim_start_matches("hangar_plugins_loaded ").trim();
    let value: f64 = value
        .parse()
        .with_context(|| format!("unreadable gauge {line:?}"))?;
    Ok(value as u64)
}

/// A minimal HTTP/1.1 GET (the metrics port speaks plain HTTP).
pub fn http_get(address: &str, path: &str) -> Result<String> {
    let mut stream =
        TcpStream::connect(address).with_context(|| format!("cannot connect to {address}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .with_context(|| format!("cannot read http://{address}{path}"))?;
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_every_occurrence() {
        let out = rewrite(b"xxechoyyechozz", b"e042").expect("rewrite");
        assert_eq!(out, b"xxe042yye042zz");
    }

    #[test]
    fn refuses_absent_pattern_and_bad_length() {
        assert!(rewrite(b"nothing here", b"e000").is_err());
        assert!(rewrite(b"echo", b"e0").is_err());
    }

    #[test]
    fn task_types_are_four_bytes() {
        assert_eq!(task_type(7), "e007");
        assert_eq!(task_type(999).len(), PATTERN.len());
    }
}
