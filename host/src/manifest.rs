//! The operator's grant file for one plugin: `NAME.toml` beside `NAME.wasm`.
//!
//! The component says what it *is* (name, task categories, sync or async);
//! the manifest says what the operator *allows* it. Today that is its limits;
//! capabilities (HTTP, secrets) join here. Unknown keys are errors so a typo
//! never silently grants or drops anything.
//!
//! ```toml
//! # plugins/echo.toml
//! [limits]
//! memory_mib = 64          # linear memory per instance
//! call_timeout_ms = 5000   # wall-clock time per call
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::limits::LimitsOverride;

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    #[serde(default)]
    pub limits: LimitsOverride,
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
    fn wrong_types_are_errors() {
        let err = parse("[limits]\nmemory_mib = \"lots\"\n").unwrap_err();
        assert!(
            err.contains("memory_mib") || err.contains("line 2"),
            "{err}"
        );
    }
}
