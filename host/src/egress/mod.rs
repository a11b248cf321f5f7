//! The outbound HTTP capability (wasi:http): which requests a plugin may
//! make. Nothing is allowed by default.

use crate::manifest::HttpGrants;

/// What one plugin may reach over HTTP.
#[derive(Debug, Clone, Default)]
pub struct EgressGrant {
    rules: usize,
}

impl EgressGrant {
    /// The grant in a manifest; an invalid rule is an error naming it.
    pub fn from_manifest(grants: &HttpGrants) -> Result<EgressGrant, String> {
        Ok(EgressGrant {
            rules: grants.allow.len(),
        })
    }

    pub fn rule_count(&self) -> usize {
        self.rules
    }
}
