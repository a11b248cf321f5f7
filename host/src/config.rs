//! The operator's host configuration, `hangar.toml` (`--config`): defaults
//! every plugin gets, where secrets come from, where audit events go.
//!
//! Per-plugin grants live in each plugin's manifest, not here. Unknown keys
//! are errors, so a typo never silently changes a security setting.
//!
//! ```toml
//! [limits]                 # defaults for every plugin; a manifest may override
//! memory_mib = 128         # every key, its default and range: limits.rs
//! call_timeout_ms = 10000
//! max_concurrent_calls = 32
//!
//! [secrets]
//! env_prefix = "_FSEC_"    # secret NAME is read from env var _FSEC_NAME ...
//! dir = "/etc/secrets"     # ... or from the file /etc/secrets/NAME
//!
//! [audit]
//! destination = "stdout"   # "stdout", "off", or a file path (appended to)
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::limits::LimitsOverride;

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct HostConfig {
    #[serde(default)]
    pub limits: LimitsOverride,
    #[serde(default)]
    pub secrets: SecretSources,
    #[serde(default)]
    pub audit: AuditConfig,
}

/// Where secret values come from, in lookup order: environment, then files.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SecretSources {
    /// Secret NAME is read from the environment variable PREFIX + NAME
    /// (flytekit's agents use `_FSEC_`). Empty disables the environment.
    #[serde(default = "default_env_prefix")]
    pub env_prefix: String,
    /// Secret NAME is read from the file DIR/NAME (how Kubernetes mounts a
    /// Secret). Unset disables files.
    #[serde(default)]
    pub dir: Option<PathBuf>,
}

impl Default for SecretSources {
    fn default() -> Self {
        SecretSources {
            env_prefix: default_env_prefix(),
            dir: None,
        }
    }
}

fn default_env_prefix() -> String {
    "_FSEC_".to_string()
}

/// Where audit events (one JSON object per line) are written.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// `"stdout"`, `"stderr"`, `"off"`, or a file path (created if missing,
    /// appended to).
    #[serde(default = "default_audit_destination")]
    pub destination: String,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            destination: default_audit_destination(),
        }
    }
}

fn default_audit_destination() -> String {
    "stdout".to_string()
}

/// Reads `path`; errors name the file and the line.
pub fn load(path: &Path) -> anyhow::Result<HostConfig> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read the config file {}: {e}", path.display()))?;
    parse(&text).map_err(|reason| anyhow::anyhow!("{}: {reason}", path.display()))
}

pub fn parse(text: &str) -> Result<HostConfig, String> {
    toml::from_str::<HostConfig>(text).map_err(|e| e.to_string().trim_end().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_when_empty() {
        let config = parse("").unwrap();
        assert_eq!(config, HostConfig::default());
        assert_eq!(config.secrets.env_prefix, "_FSEC_");
        assert_eq!(config.audit.destination, "stdout");
    }

    #[test]
    fn reads_every_section() {
        let config = parse(
            "[limits]\nmemory_mib = 64\n[secrets]\nenv_prefix = \"\"\ndir = \"/etc/secrets\"\n[audit]\ndestination = \"/var/log/audit.jsonl\"\n",
        )
        .unwrap();
        assert_eq!(config.limits.memory_mib, Some(64));
        assert_eq!(config.secrets.env_prefix, "");
        assert_eq!(config.secrets.dir, Some(PathBuf::from("/etc/secrets")));
        assert_eq!(config.audit.destination, "/var/log/audit.jsonl");
    }

    #[test]
    fn unknown_keys_are_errors() {
        for text in ["[secret]\n", "[audit]\ndest = \"x\"\n", "listen = 1\n"] {
            assert!(parse(text).is_err(), "{text}");
        }
    }
}
