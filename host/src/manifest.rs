//! The operator's grant file for one plugin: `NAME.toml` beside `NAME.wasm`.
//!
//! The component says what it *is* (name, task categories, sync or async);
//! the manifest says what the operator *allows* it. Nothing is granted by
//! default: no outbound HTTP, no secrets. Unknown keys are errors so a typo
//! never silently grants or drops anything.
//!
//! ```toml
//! # plugins/databricks.toml
//! sha256 = "9f86d0…"            # optional: refuse to load any other build
//!
//! [limits]
//! memory_mib = 64               # linear memory per instance
//! call_timeout_ms = 5000        # wall-clock time per call
//!
//! [http]                        # optional per-request limits; also
//! total_timeout_ms = 30000      # connect_timeout_ms, first_byte_timeout_ms,
//!                               # max_response_bytes, max_concurrent_requests
//!
//! # scheme://host[:port]/path-prefix; host: a name, *.suffix, *, an IP or a [CIDR]
//! [[http.allow]]
//! url = "https://*.cloud.databricks.com/api/2.1/jobs/"
//! methods = ["GET", "POST"]     # default: every method
//!
//! [secrets]
//! names = ["openai_api_key"]    # the guest may read these by name
//!
//! [[secrets.inject]]            # the host adds the secret to matching requests;
//! secret = "databricks_token"   # the guest never sees the value
//! url = "https://*.cloud.databricks.com/api/2.1/jobs/"   # inside an http.allow rule
//! header = "Authorization"
//! format = "Bearer {secret}"
//!
//! [config]                      # settings the guest reads by key; not secret
//! base_url = "https://example.cloud.databricks.com"
//!
//! [reuse]                       # opt-in: keep instances between calls
//! enabled = true                # default false: a fresh instance per call
//! max_idle = 8                  # idle instances kept (1..=1024; default:
//!                               # max_concurrent_calls, at most 16)
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::limits::LimitsOverride;

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// sha256 of the component, hex: a different file is refused.
    #[serde(default)]
    pub sha256: Option<Spanned<String>>,
    #[serde(default)]
    pub limits: LimitsOverride,
    #[serde(default)]
    pub http: HttpGrants,
    #[serde(default)]
    pub secrets: SecretGrants,
    /// Operator settings the guest reads by key (`flyte:agent/config`):
    /// not secret, shown by `hangar inspect`.
    #[serde(default)]
    pub config: BTreeMap<String, Spanned<String>>,
    /// Whether the plugin's instances are kept between calls (checked and
    /// resolved by `runtime::instance_pool::ReusePolicy::from_manifest`).
    #[serde(default)]
    pub reuse: ReuseTable,
}

/// `[reuse]`: keep the plugin's instances in an idle pool and reuse them,
/// reset between calls, instead of a fresh instance per call. Opt-in.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ReuseTable {
    /// Reuse instances; absent or false: a fresh instance per call.
    pub enabled: Option<bool>,
    /// Idle instances kept for the next calls (1 to 1024; default the
    /// plugin's `max_concurrent_calls`, at most 16).
    pub max_idle: Option<u32>,
    /// An instance idle this long is dropped, giving back its memory and
    /// slot (1 to 86400; default 60).
    pub idle_timeout_seconds: Option<u32>,
}

/// Outbound HTTP the plugin may make, and per-request limits.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct HttpGrants {
    /// Allowed destinations; nothing is allowed when empty.
    #[serde(default)]
    pub allow: Vec<HttpAllow>,
    pub connect_timeout_ms: Option<u64>,
    pub first_byte_timeout_ms: Option<u64>,
    pub total_timeout_ms: Option<u64>,
    pub max_response_bytes: Option<u64>,
    pub max_concurrent_requests: Option<u32>,
}

/// One allowed destination: `scheme://host[:port]/path-prefix`, where host
/// is a name, `*.suffix`, `*`, an IP address or a `[CIDR]` range (the forms
/// and how they match are in the `egress` module doc).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct HttpAllow {
    pub url: Spanned<String>,
    /// Allowed methods (upper case); all when absent.
    #[serde(default)]
    pub methods: Option<Vec<String>>,
}

/// Secrets the plugin may use.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SecretGrants {
    /// Secrets the guest may read by name.
    #[serde(default)]
    pub names: Vec<Spanned<String>>,
    /// Secrets the host adds to matching requests; the guest never sees them.
    #[serde(default)]
    pub inject: Vec<SecretInjection>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SecretInjection {
    pub secret: Spanned<String>,
    /// Requests matching this URL pattern (same forms as `http.allow`) get it.
    pub url: Spanned<String>,
    pub header: String,
    /// How the header value is built; `{secret}` is replaced by the value.
    #[serde(default = "default_injection_format")]
    pub format: String,
}

fn default_injection_format() -> String {
    "{secret}".to_string()
}

/// Line number (1-based) of a byte offset in `text`, for errors about a
/// value the TOML parser accepted but Hangar does not.
pub fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// Why a manifest could not be used: `FILE:LINE: what is wrong: the fix`
/// (no line when the problem is not at one place, e.g. an unreadable file).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}{}: {reason}", .path.display(), .line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct ManifestError {
    pub path: PathBuf,
    pub line: Option<usize>,
    pub reason: String,
}

/// Where the manifest of the component at `wasm` lives.
pub fn manifest_path_for(wasm: &Path) -> PathBuf {
    wasm.with_extension("toml")
}

/// Reads the manifest beside `wasm`; a missing file means "no grants, host
/// defaults".
pub fn load_for(wasm: &Path) -> Result<Manifest, ManifestError> {
    ManifestFile::load_for(wasm).map(|file| file.manifest)
}

/// Parses manifest text; errors carry the line and column from the TOML
/// parser. (Tests; the host reads manifests with [`ManifestFile`].)
#[cfg(test)]
pub fn parse(text: &str) -> Result<Manifest, String> {
    toml::from_str::<Manifest>(text).map_err(|e| e.to_string().trim_end().to_string())
}

/// A manifest with the file it came from and its text, so that an error
/// found after parsing (an invalid grant, a sha256 mismatch) still names the
/// line to fix.
#[derive(Debug, Clone, Default)]
pub struct ManifestFile {
    pub path: PathBuf,
    /// Whether the file exists (a missing manifest grants nothing).
    pub exists: bool,
    pub text: String,
    pub manifest: Manifest,
}

impl ManifestFile {
    /// Reads and checks the manifest beside `wasm` (missing: no grants).
    pub fn load_for(wasm: &Path) -> Result<ManifestFile, ManifestError> {
        let path = manifest_path_for(wasm);
        match std::fs::read_to_string(&path) {
            Ok(text) => ManifestFile::parse(path, text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ManifestFile::none(wasm)),
            Err(e) => Err(ManifestError {
                path,
                line: None,
                reason: format!("cannot read: {e}: make it readable by the Hangar process"),
            }),
        }
    }

    /// No manifest beside `wasm`: nothing granted, host default limits.
    pub fn none(wasm: &Path) -> ManifestFile {
        ManifestFile {
            path: manifest_path_for(wasm),
            ..ManifestFile::default()
        }
    }

    /// Parses `text` (read from `path`) and checks what the TOML types
    /// cannot (the sha256 pin's format).
    pub fn parse(path: PathBuf, text: String) -> Result<ManifestFile, ManifestError> {
        let manifest = match toml::from_str::<Manifest>(&text) {
            Ok(manifest) => manifest,
            Err(e) => {
                return Err(ManifestError {
                    line: e.span().map(|span| line_of(&text, span.start)),
                    reason: explain_toml_error(e.message(), "docs/manifest.md"),
                    path,
                });
            }
        };
        let file = ManifestFile {
            path,
            exists: true,
            text,
            manifest,
        };
        if let Some(pin) = &file.manifest.sha256
            && !is_sha256_hex(pin.get_ref())
        {
            return Err(file.error_at(
                pin.span().start,
                format!(
                    "sha256 = \"{}\" is not a sha256 digest (64 hex characters): paste the \
                     digest from `sha256sum NAME.wasm` or `hangar inspect NAME.wasm`, or remove the pin",
                    pin.get_ref()
                ),
            ));
        }
        Ok(file)
    }

    /// An error at a byte offset of the manifest.
    pub fn error_at(&self, offset: usize, reason: impl Into<String>) -> ManifestError {
        ManifestError {
            path: self.path.clone(),
            line: self.exists.then(|| line_of(&self.text, offset)),
            reason: reason.into(),
        }
    }

    /// An error from a grant check (which names the key, e.g.
    /// `secrets.names: "x y" is not ...`), placed at the line it is about:
    /// the quoted value it names, else the key it names.
    pub fn error(&self, reason: impl Into<String>) -> ManifestError {
        let reason = reason.into();
        ManifestError {
            path: self.path.clone(),
            line: if self.exists {
                self.line_for(&reason)
            } else {
                None
            },
            reason,
        }
    }

    /// The line `message` is about, if it quotes a value of this manifest
    /// or names one of its keys (`limits.memory_mib`, `http.allow[1].url`).
    pub fn line_for(&self, message: &str) -> Option<usize> {
        let m = &self.manifest;
        let mut values: Vec<&Spanned<String>> = m.sha256.iter().collect();
        for allow in &m.http.allow {
            values.push(&allow.url);
        }
        values.extend(&m.secrets.names);
        for inject in &m.secrets.inject {
            values.push(&inject.secret);
            values.push(&inject.url);
        }
        for (key, value) in &m.config {
            if message.contains(&format!("\"{key}\""))
                || message.contains(&format!("config.{key}:"))
            {
                return Some(line_of(&self.text, value.span().start));
            }
        }
        let quoted = values
            .into_iter()
            .find(|v| !v.get_ref().is_empty() && message.contains(&format!("\"{}\"", v.get_ref())));
        if let Some(value) = quoted {
            return Some(line_of(&self.text, value.span().start));
        }
        line_of_named_key(&self.text, message)
    }
}

/// Whether `text` looks like a sha256 digest in hex.
pub fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The TOML parser's message, on one line, with the fix appended; `docs`
/// is where every key is listed.
pub fn explain_toml_error(message: &str, docs: &str) -> String {
    let message = crate::runtime::one_line(message);
    let fix = if message.starts_with("unknown field") {
        format!("fix the spelling or remove the key (every key is listed in {docs})")
    } else if message.starts_with("invalid type") || message.starts_with("invalid value") {
        format!("give a value of the expected type (see {docs})")
    } else if message.starts_with("missing field") {
        format!("add the key (see {docs})")
    } else if message.starts_with("duplicate key") {
        "keep one of them".to_string()
    } else {
        "fix the TOML syntax".to_string()
    };
    format!("{message}: {fix}")
}

/// The line of the first key of `text` that `message` names
/// (`limits.memory_mib`, `http.allow[1].url`), for errors found after
/// parsing.
pub fn line_of_named_key(text: &str, message: &str) -> Option<usize> {
    key_paths_in(message)
        .into_iter()
        .find_map(|key| key_offset(text, key))
        .map(|offset| line_of(text, offset))
}

/// Dotted key paths named in a message, in order: `limits.memory_mib`,
/// `http.allow[0].url`.
fn key_paths_in(message: &str) -> Vec<&str> {
    message
        .split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '[' | ']')))
        .map(|word| word.trim_matches(|c: char| matches!(c, '.' | '-')))
        .filter(|word| word.contains('.') && word.starts_with(|c: char| c.is_ascii_lowercase()))
        .collect()
}

/// Byte offset of the key at `path` (`a.b`, `a.b[2].c`) in a TOML text; for
/// a path that does not exist, of its longest existing prefix.
fn key_offset(text: &str, path: &str) -> Option<usize> {
    use toml::de::{DeTable, DeValue};
    let root = DeTable::parse(text).ok()?;
    let mut table: &DeTable = root.get_ref();
    let mut found = None;
    for part in path.split('.') {
        let (key, index) = match part.split_once('[') {
            Some((key, rest)) => (key, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (part, None),
        };
        let Some((k, value)) = table.get_key_value(key) else {
            break;
        };
        found = Some(k.span().start);
        let value = match (value.get_ref(), index) {
            (DeValue::Array(items), Some(i)) => match items.get(i) {
                Some(item) => {
                    found = Some(item.span().start.max(k.span().start));
                    item.get_ref()
                }
                None => break,
            },
            (value, _) => value,
        };
        match value {
            DeValue::Table(inner) => table = inner,
            _ => break,
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_manifest_is_host_defaults() {
        assert_eq!(parse("").unwrap(), Manifest::default());
    }

    #[test]
    fn limits_are_read() {
        let m = parse("[limits]\nmemory_mib = 64\ncall_timeout_ms = 500\n").unwrap();
        assert_eq!(m.limits.memory_mib, Some(64));
        assert_eq!(m.limits.call_timeout_ms, Some(500));
    }

    #[test]
    fn unknown_keys_are_errors_with_a_line() {
        let err = parse("[limits]\nmemory_mb = 64\n").unwrap_err();
        assert!(err.contains("memory_mb"), "{err}");
        assert!(err.contains("line 2"), "{err}");
        let err = parse("[limitz]\n").unwrap_err();
        assert!(err.contains("limitz"), "{err}");
    }

    #[test]
    fn grants_are_read_with_positions() {
        let text = "sha256 = \"ab\"\n[[http.allow]]\nurl = \"https://api.example.com/v1/\"\nmethods = [\"GET\"]\n[secrets]\nnames = [\"token\"]\n[[secrets.inject]]\nsecret = \"token\"\nurl = \"https://api.example.com/\"\nheader = \"Authorization\"\nformat = \"Bearer {secret}\"\n";
        let m = parse(text).unwrap();
        assert_eq!(m.sha256.as_ref().map(|s| s.get_ref().as_str()), Some("ab"));
        let allow = &m.http.allow[0];
        assert_eq!(allow.url.get_ref(), "https://api.example.com/v1/");
        assert_eq!(line_of(text, allow.url.span().start), 3);
        assert_eq!(allow.methods.as_deref(), Some(&["GET".to_string()][..]));
        assert_eq!(m.secrets.names[0].get_ref(), "token");
        assert_eq!(m.secrets.inject[0].format, "Bearer {secret}");
        let default_format =
            parse("[[secrets.inject]]\nsecret = \"t\"\nurl = \"https://a/\"\nheader = \"X-Key\"\n")
                .unwrap();
        assert_eq!(default_format.secrets.inject[0].format, "{secret}");
    }

    #[test]
    fn nothing_is_granted_by_default() {
        let m = parse("").unwrap();
        assert!(m.http.allow.is_empty());
        assert!(m.secrets.names.is_empty());
        assert!(m.secrets.inject.is_empty());
        assert!(m.sha256.is_none());
    }

    fn file(text: &str) -> Result<ManifestFile, ManifestError> {
        ManifestFile::parse(PathBuf::from("p/x.toml"), text.to_string())
    }

    #[test]
    fn errors_name_file_line_and_fix() {
        let err = file("[limits]\nmemory_mb = 64\n").unwrap_err();
        assert_eq!(err.line, Some(2));
        let text = err.to_string();
        assert!(
            text.starts_with("p/x.toml:2: unknown field `memory_mb`"),
            "{text}"
        );
        assert!(text.contains("fix the spelling"), "{text}");
        assert!(!text.contains('\n'), "{text}");
    }

    #[test]
    fn sha256_pins_must_be_hex_digests() {
        let digest = "a".repeat(64);
        assert!(file(&format!("sha256 = \"{digest}\"\n")).is_ok());
        assert!(file(&format!("sha256 = \"{}\"\n", digest.to_uppercase())).is_ok());
        for bad in ["ab", "", &"g".repeat(64), &"a".repeat(65)] {
            let err = file(&format!("\n\nsha256 = \"{bad}\"\n")).unwrap_err();
            assert_eq!(err.line, Some(3), "{bad}");
            assert!(err.reason.contains("64 hex"), "{err}");
        }
    }

    #[test]
    fn grant_errors_are_placed_on_their_line() {
        let f = file("[limits]\nmemory_mib = 0\n\n[secrets]\nnames = [\n  \"ok\",\n  \"bad name\",\n]\n[[http.allow]]\nurl = \"https://a/\"\n[[http.allow]]\nurl = \"ftp://b/\"\n").unwrap();
        // (message, line)
        let cases = [
            ("limits.memory_mib = 0 is out of range", Some(2)),
            (
                "secrets.names: \"bad name\" is not a valid secret name",
                Some(7),
            ),
            ("secrets.names: something", Some(5)),
            ("http.allow: \"ftp://b/\": use http or https", Some(12)),
            ("http.allow[1].url: bad", Some(12)),
            ("limits.unknown_key: no such key", Some(1)),
            ("something else entirely", None),
        ];
        for (message, line) in cases {
            assert_eq!(f.line_for(message), line, "{message}");
        }
        assert_eq!(
            f.error("limits.memory_mib = 0").to_string(),
            "p/x.toml:2: limits.memory_mib = 0"
        );
        assert_eq!(
            ManifestFile::none(Path::new("d/a.wasm"))
                .error("x")
                .to_string(),
            "d/a.toml: x"
        );
    }

    #[test]
    fn reuse_is_read_strictly() {
        let table = |enabled, max_idle| ReuseTable {
            enabled,
            max_idle,
            idle_timeout_seconds: None,
        };
        // (manifest text, the [reuse] table read, or a fragment of the error)
        let cases: [(&str, Result<ReuseTable, &str>); 9] = [
            ("", Ok(ReuseTable::default())),
            ("[reuse]\n", Ok(table(None, None))),
            ("[reuse]\nenabled = true\n", Ok(table(Some(true), None))),
            ("[reuse]\nenabled = false\n", Ok(table(Some(false), None))),
            (
                "[reuse]\nenabled = true\nmax_idle = 4\n",
                Ok(table(Some(true), Some(4))),
            ),
            ("[reuse]\nenable = true\n", Err("unknown field `enable`")),
            ("[reuse]\nenabled = \"yes\"\n", Err("expected a boolean")),
            ("[reuse]\nmax_idle = -1\n", Err("line 2")),
            ("reuse = true\n", Err("invalid type")),
        ];
        for (text, expected) in cases {
            match (parse(text), expected) {
                (Ok(m), Ok(want)) => assert_eq!(m.reuse, want, "{text:?}"),
                (Err(e), Err(fragment)) => assert!(e.contains(fragment), "{text:?}: {e}"),
                (got, want) => panic!("{text:?}: got {got:?}, expected {want:?}"),
            }
        }
    }

    #[test]
    fn wrong_types_are_errors() {
        let err = parse("[limits]\nmemory_mib = \"lots\"\n").unwrap_err();
        assert!(
            err.contains("memory_mib") || err.contains("line 2"),
            "{err}"
        );
    }
}
