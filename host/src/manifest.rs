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
//! [http]                        # optional per-request limits
//! total_timeout_ms = 30000
//!
//! [[http.allow]]                # scheme://host[:port]/path-prefix
//! url = "https://*.cloud.databricks.com/api/2.1/jobs/"
//! methods = ["GET", "POST"]     # default: every method
//!
//! [secrets]
//! names = ["openai_api_key"]    # the guest may read these by name
//!
//! [[secrets.inject]]            # the host adds the secret to matching requests;
//! secret = "databricks_token"   # the guest never sees the value
//! url = "https://*.cloud.databricks.com/api/"
//! header = "Authorization"
//! format = "Bearer {secret}"
//! ```

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
/// is a name, `*.suffix`, an IP address or a CIDR range.
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

/// Why a manifest could not be used; the message names the file and the fix.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct ManifestError {
    pub path: PathBuf,
    pub reason: String,
}

/// Where the manifest of the component at `wasm` lives.
pub fn manifest_path_for(wasm: &Path) -> PathBuf {
    wasm.with_extension("toml")
}

/// Reads the manifest beside `wasm`; a missing file means "no grants, host
/// defaults".
pub fn load_for(wasm: &Path) -> Result<Manifest, ManifestError> {
    let path = manifest_path_for(wasm);
    match std::fs::read_to_string(&path) {
        Ok(text) => parse(&text).map_err(|reason| ManifestError { path, reason }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Manifest::default()),
        Err(e) => Err(ManifestError {
            path,
            reason: format!("cannot read: {e}"),
        }),
    }
}

/// Parses manifest text; errors carry the line and column from the TOML parser.
pub fn parse(text: &str) -> Result<Manifest, String> {
    toml::from_str::<Manifest>(text).map_err(|e| e.to_string().trim_end().to_string())
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
        let default_format = parse("[[secrets.inject]]\nsecret = \"t\"\nurl = \"https://a/\"\nheader = \"X-Key\"\n").unwrap();
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

    #[test]
    fn wrong_types_are_errors() {
        let err = parse("[limits]\nmemory_mib = \"lots\"\n").unwrap_err();
        assert!(
            err.contains("memory_mib") || err.contains("line 2"),
            "{err}"
        );
    }
}
