//! Operator settings for this plugin: the `[config]` table of its manifest
//! (`NAME.toml` beside `NAME.wasm`), string keys to string values.
//!
//! For values that are not secret and that an operator changes without
//! rebuilding the agent (a base URL, a default model, a region). Secrets
//! never go here: `hangar inspect` shows config values. Use [`crate::secrets`].
//!
//! ```toml
//! [config]
//! base_url = "https://api.example.com/v1"
//! ```
//!
//! ```no_run
//! let base = hangar_agent::config::get("base_url")
//!     .unwrap_or_else(|| "https://api.example.com/v1".to_string());
//! ```
//!
//! Outside WebAssembly (unit tests of an agent) [`get`] reads the
//! environment variable `HANGAR_CONFIG_<key>` instead.

use crate::error::AgentError;

/// The value of `key`, or `None` when the manifest's `[config]` table does
/// not set it.
pub fn get(key: &str) -> Option<String> {
    #[cfg(target_arch = "wasm32")]
    {
        crate::bindings::base::flyte::agent::config::get(key)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        std::env::var(format!("HANGAR_CONFIG_{key}")).ok()
    }
}

/// The value of `key`, or an error telling the operator which line to add to
/// the manifest (code `MissingConfig`, non-recoverable).
pub fn require(key: &str) -> Result<String, AgentError> {
    get(key).ok_or_else(|| missing(key))
}

fn missing(key: &str) -> AgentError {
    AgentError::non_recoverable(format!(
        "config \"{key}\" is not set: the operator sets it in the plugin's manifest \
         (NAME.toml beside NAME.wasm) under [config], e.g. {key} = \"...\""
    ))
    .with_code("MissingConfig")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_key_is_none_and_require_explains_the_fix() {
        assert_eq!(get("hangar_sdk_test_no_such_key"), None);
        let e = require("hangar_sdk_test_no_such_key").expect_err("missing");
        assert_eq!(e.code, "MissingConfig");
        assert!(e.message.contains("[config]"), "{}", e.message);
        assert!(
            e.message.contains("hangar_sdk_test_no_such_key = "),
            "{}",
            e.message
        );
    }
}
