//! Everything a plugin's instances may use beyond pure computation, as
//! granted by its manifest: one value per plugin, shared by every instance
//! (each call gets a cheap `Arc` clone).
//!
//! Each capability lives in its own module (`egress`, `secrets`, `plugin_config`) and knows
//! nothing of the others; this struct only carries them side by side.

use std::sync::Arc;

use crate::audit::AuditLog;
use crate::egress::EgressGrant;
use crate::manifest::Manifest;
use crate::plugin_config::PluginConfig;
use crate::secrets::{SecretGrant, SecretStore};

/// Host-wide services capabilities draw on.
#[derive(Clone)]
pub struct HostServices {
    pub audit: AuditLog,
    pub secret_store: Arc<SecretStore>,
}

impl Default for HostServices {
    fn default() -> Self {
        HostServices {
            audit: AuditLog::off(),
            secret_store: Arc::new(SecretStore::default()),
        }
    }
}

pub struct Capabilities {
    /// The plugin's id in audit events: its file name without `.wasm`.
    pub plugin: String,
    pub audit: AuditLog,
    pub secret_store: Arc<SecretStore>,
    pub secrets: SecretGrant,
    pub egress: EgressGrant,
    /// Operator settings the guest reads with `flyte:agent/config`.
    pub config: PluginConfig,
    /// Where its instances and refusals are counted.
    pub metrics: crate::metrics::PluginMetrics,
}

impl Capabilities {
    /// The capabilities `manifest` grants; errors name the manifest key.
    pub fn from_manifest(
        plugin: &str,
        manifest: &Manifest,
        host: &HostServices,
    ) -> Result<Capabilities, String> {
        Ok(Capabilities {
            plugin: plugin.to_string(),
            audit: host.audit.clone(),
            secret_store: host.secret_store.clone(),
            secrets: SecretGrant::from_manifest(&manifest.secrets)?,
            egress: EgressGrant::from_manifest(&manifest.http, &manifest.secrets.inject)?,
            config: PluginConfig::from_manifest(&manifest.config)?,
            metrics: crate::metrics::global().plugin(plugin),
        })
    }
}
