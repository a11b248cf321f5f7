//! Secrets the operator granted this plugin, read by name.
//!
//! ```no_run
//! use hangar_agent::{AgentError, secrets};
//!
//! fn api_key() -> Result<String, AgentError> {
//!     // `?` turns a SecretError into an AgentError (code "SecretNotGranted", ...).
//!     Ok(secrets::get("openai_api_key")?)
//! }
//! ```
//!
//! The operator grants names in the plugin's manifest (`NAME.toml` beside
//! `NAME.wasm`); nothing is granted by default:
//!
//! ```toml
//! [secrets]
//! names = ["openai_api_key"]
//! ```
//!
//! For credentials that only go into HTTP requests, prefer the manifest's
//! `[[secrets.inject]]`: the host adds the header to matching requests and
//! the agent never holds the value. Never log a value or put it in an error
//! or an output: those are visible to users.
//!
//! Outside WebAssembly (unit tests of an agent) `get` reads the environment
//! variable `_FSEC_NAME` instead, and a missing variable is
//! [`SecretError::NotFound`].

use std::fmt;

use crate::error::AgentError;

/// Why [`get`] returned no value. Each kind carries the secret's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretError {
    /// The plugin's manifest does not grant this name (`[secrets] names`),
    /// or it is not a valid secret name (letters, digits, `_`, `-`, `.`).
    NotGranted(String),
    /// Granted, but the host has no value for it.
    NotFound(String),
    /// Granted and present, but larger than the host returns (64 KiB).
    TooLarge(String),
    /// This call already read as many secrets as the host allows per call
    /// (64). Read each secret once and keep the value; asking again after
    /// this error stops the call.
    TooManyReads(String),
}

impl SecretError {
    /// The name that was asked for.
    pub fn name(&self) -> &str {
        match self {
            SecretError::NotGranted(name)
            | SecretError::NotFound(name)
            | SecretError::TooLarge(name)
            | SecretError::TooManyReads(name) => name,
        }
    }

    /// The machine-readable code the error gets as an [`AgentError`]:
    /// `SecretNotGranted`, `SecretNotFound`, `SecretTooLarge` or
    /// `TooManySecretReads`.
    pub fn code(&self) -> &'static str {
        match self {
            SecretError::NotGranted(_) => "SecretNotGranted",
            SecretError::NotFound(_) => "SecretNotFound",
            SecretError::TooLarge(_) => "SecretTooLarge",
            SecretError::TooManyReads(_) => "TooManySecretReads",
        }
    }
}

impl fmt::Display for SecretError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.name();
        match self {
            SecretError::NotGranted(_) => write!(
                f,
                "secret \"{name}\" is not granted to this plugin (the operator grants it in the \
                 plugin's manifest: [secrets] names = [\"{name}\"])"
            ),
            SecretError::NotFound(_) => write!(
                f,
                "secret \"{name}\" is granted but the host has no value for it"
            ),
            SecretError::TooLarge(_) => write!(
                f,
                "secret \"{name}\" is larger than the host hands to a plugin"
            ),
            SecretError::TooManyReads(_) => write!(
                f,
                "cannot read secret \"{name}\": this call read too many secrets"
            ),
        }
    }
}

impl std::error::Error for SecretError {}

/// A non-recoverable error (a retry of the same task will not grant or
/// create the secret) with [`SecretError::code`] as its code.
impl From<SecretError> for AgentError {
    fn from(e: SecretError) -> Self {
        AgentError::non_recoverable(e.to_string()).with_code(e.code())
    }
}

/// The value of the secret `name`, if the plugin's manifest grants it. A
/// file's single trailing newline is dropped by the host.
pub fn get(name: &str) -> Result<String, SecretError> {
    #[cfg(target_arch = "wasm32")]
    {
        use crate::bindings::base::flyte::agent::secrets as wit;
        wit::get(name).map_err(|e| match e {
            wit::SecretError::NotGranted => SecretError::NotGranted(name.to_string()),
            wit::SecretError::NotFound => SecretError::NotFound(name.to_string()),
            wit::SecretError::TooLarge => SecretError::TooLarge(name.to_string()),
            wit::SecretError::TooManyReads => SecretError::TooManyReads(name.to_string()),
        })
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        std::env::var(format!("_FSEC_{name}")).map_err(|_| SecretError::NotFound(name.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn errors_convert_to_agent_errors_with_a_code() {
        let cases = [
            (SecretError::NotGranted("k".into()), "SecretNotGranted"),
            (SecretError::NotFound("k".into()), "SecretNotFound"),
            (SecretError::TooLarge("k".into()), "SecretTooLarge"),
            (SecretError::TooManyReads("k".into()), "TooManySecretReads"),
        ];
        for (error, code) in cases {
            assert_eq!(error.name(), "k");
            let message = error.to_string();
            assert!(message.contains("\"k\""), "{message}");
            let agent: AgentError = error.into();
            assert_eq!(agent.code, code);
            assert_eq!(agent.kind, ErrorKind::NonRecoverable);
            assert_eq!(agent.message, message);
        }
    }

    #[test]
    fn native_get_reads_the_environment() {
        assert_eq!(
            get("hangar_sdk_test_no_such_secret"),
            Err(SecretError::NotFound(
                "hangar_sdk_test_no_such_secret".into()
            ))
        );
    }
}
