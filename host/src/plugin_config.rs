//! The `flyte:agent/config` capability: operator settings for one plugin,
//! from the `[config]` table of its manifest.
//!
//! Config is for values that are not secret and that an operator changes
//! without rebuilding the agent (a base URL, a default model, a region).
//! Unlike secrets, values are shown by `hangar inspect` and never audited.
//! [`PluginConfig::from_manifest`] is the one place keys and values are
//! checked; a guest only ever reads what that check accepted.

use std::collections::BTreeMap;

use toml::Spanned;

use crate::runtime::bindings::config;
use crate::runtime::instance_state::InstanceState;

/// Most keys one manifest may set.
pub const MAX_KEYS: usize = 256;
/// Longest key, in bytes.
pub const MAX_KEY_BYTES: usize = 128;
/// Largest value, in bytes (a config value is a setting, not data).
pub const MAX_VALUE_BYTES: usize = 64 * 1024;

/// The `[config]` table of a plugin's manifest, checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PluginConfig {
    values: BTreeMap<String, String>,
}

impl PluginConfig {
    /// Checks the manifest's `[config]` table. Errors name the key and say
    /// what to change (`config.<key>: ...`).
    pub fn from_manifest(table: &BTreeMap<String, Spanned<String>>) -> Result<Self, String> {
        if table.len() > MAX_KEYS {
            return Err(format!(
                "config: {} keys, more than the {MAX_KEYS} a manifest may set: keep settings \
                 few, and pass data through task inputs instead",
                table.len()
            ));
        }
        let mut values = BTreeMap::new();
        for (key, value) in table {
            check_key(key)?;
            let value = value.get_ref();
            if value.len() > MAX_VALUE_BYTES {
                return Err(format!(
                    "config.{key}: the value is {} bytes, over the {MAX_VALUE_BYTES} a config \
                     value may hold: pass large data through task inputs or a blob",
                    value.len()
                ));
            }
            values.insert(key.clone(), value.clone());
        }
        Ok(PluginConfig { values })
    }

    /// The value of `key`, if the manifest sets it.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }
}

/// Keys are what an agent would type as a constant: letters, digits, `_`,
/// `-` and `.`, starting with a letter.
fn check_key(key: &str) -> Result<(), String> {
    let valid = key.len() <= MAX_KEY_BYTES
        && key.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if valid {
        Ok(())
    } else {
        Err(format!(
            "config: \"{key}\" is not a valid config key: use letters, digits, '_', '-' and '.', \
             starting with a letter, at most {MAX_KEY_BYTES} bytes"
        ))
    }
}

/// The guest's view: `get(key)` answers from the plugin's checked config.
impl config::Host for InstanceState {
    fn get(&mut self, key: String) -> Option<String> {
        self.capabilities.config.get(&key).map(str::to_string)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(pairs: &[(&str, &str)]) -> BTreeMap<String, Spanned<String>> {
        let text: String = pairs
            .iter()
            .map(|(k, v)| format!("\"{k}\" = {}\n", toml::Value::String(v.to_string())))
            .collect();
        toml::from_str(&text).expect("test table parses")
    }

    #[test]
    fn keys_and_values_are_checked() {
        let long_value = "v".repeat(MAX_VALUE_BYTES + 1);
        let long_key = "k".repeat(MAX_KEY_BYTES + 1);
        /// Pairs in the table, and `Ok` or a fragment of the error.
        type Case<'a> = (Vec<(&'a str, &'a str)>, Result<(), &'a str>);
        let cases: Vec<Case> = vec![
            (vec![], Ok(())),
            (vec![("base_url", "https://api.example.com/v1")], Ok(())),
            (vec![("model.default-name", "gpt")], Ok(())),
            (vec![("empty", "")], Ok(())),
            (
                vec![("1abc", "x")],
                Err("\"1abc\" is not a valid config key"),
            ),
            (
                vec![("has space", "x")],
                Err("\"has space\" is not a valid"),
            ),
            (vec![("", "x")], Err("\"\" is not a valid config key")),
            (
                vec![(long_key.as_str(), "x")],
                Err("is not a valid config key"),
            ),
            (
                vec![("big", long_value.as_str())],
                Err("config.big: the value is"),
            ),
        ];
        for (pairs, expected) in cases {
            let result = PluginConfig::from_manifest(&table(&pairs));
            match (result, expected) {
                (Ok(config), Ok(())) => {
                    for (k, v) in &pairs {
                        assert_eq!(config.get(k), Some(*v));
                    }
                }
                (Err(e), Err(fragment)) => assert!(e.contains(fragment), "{e} !~ {fragment}"),
                (got, want) => panic!("{pairs:?}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn too_many_keys_is_an_error() {
        let keys: Vec<String> = (0..=MAX_KEYS).map(|i| format!("k{i}")).collect();
        let pairs: Vec<(&str, &str)> = keys.iter().map(|k| (k.as_str(), "v")).collect();
        let err = PluginConfig::from_manifest(&table(&pairs)).expect_err("too many");
        assert!(err.contains("more than the 256"), "{err}");
    }

    #[test]
    fn unknown_key_is_none() {
        let config = PluginConfig::from_manifest(&table(&[("a", "1")])).expect("valid");
        assert_eq!(config.get("b"), None);
        assert_eq!(PluginConfig::default().get("a"), None);
    }
}
