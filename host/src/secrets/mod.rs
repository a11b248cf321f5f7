//! The secrets capability: a plugin reads a secret only by a name its
//! manifest grants. [`decide`] is the one place that says yes or no;
//! `guest_access` serves the guest's `flyte:agent/secrets` import with it.

pub mod guest_access;
pub mod store;

use std::collections::BTreeSet;

pub use store::{SecretStore, SecretValue};

use crate::manifest::SecretGrants;

/// The secret names one plugin may read.
#[derive(Debug, Clone, Default)]
pub struct SecretGrant {
    names: BTreeSet<String>,
}

/// Whether a plugin may read a secret, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretDecision {
    Allowed,
    Denied(String),
}

impl SecretGrant {
    /// The grant in a manifest; an invalid name is an error naming it.
    pub fn from_manifest(grants: &SecretGrants) -> Result<SecretGrant, String> {
        let mut names = BTreeSet::new();
        for name in &grants.names {
            let name = name.get_ref();
            if !store::is_valid_name(name) {
                return Err(format!(
                    "secrets.names: \"{name}\" is not a valid secret name (use letters, digits, '_', '-' and '.')"
                ));
            }
            names.insert(name.clone());
        }
        Ok(SecretGrant { names })
    }
}

/// The one decision: may this plugin read `name`?
pub fn decide(grant: &SecretGrant, name: &str) -> SecretDecision {
    if !store::is_valid_name(name) {
        return SecretDecision::Denied("not a valid secret name".into());
    }
    if grant.names.contains(name) {
        SecretDecision::Allowed
    } else {
        SecretDecision::Denied("not granted by the plugin's manifest (secrets.names)".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(names: &[&str]) -> SecretGrant {
        SecretGrant {
            names: names.iter().map(|n| n.to_string()).collect(),
        }
    }

    #[test]
    fn only_granted_names_are_allowed() {
        let g = grant(&["openai_api_key", "db.token"]);
        let cases = [
            ("openai_api_key", true),
            ("db.token", true),
            ("OPENAI_API_KEY", false),
            ("other", false),
            ("", false),
            ("../openai_api_key", false),
        ];
        for (name, allowed) in cases {
            assert_eq!(
                decide(&g, name) == SecretDecision::Allowed,
                allowed,
                "{name:?}"
            );
        }
        assert!(matches!(
            decide(&grant(&[]), "x"),
            SecretDecision::Denied(_)
        ));
    }
}
