//! `AgentError`: how an agent says a job failed.
//!
//! The host turns it into a failed `Resource` carrying the message (not into
//! a gRPC error); the kind decides whether propeller may retry.

use std::fmt;

use crate::bindings::wit;

/// Whether retrying the task may help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The job failed and retrying will not help.
    NonRecoverable,
    /// A retry may succeed (quota, a transient outage...).
    Recoverable,
}

/// A failed job: message for humans, short code for machines, and a kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentError {
    /// Shown to the user.
    pub message: String,
    /// Short machine-readable code, e.g. `"QuotaExceeded"`; may be empty.
    pub code: String,
    /// Whether a retry may help.
    pub kind: ErrorKind,
}

impl AgentError {
    /// A failure that retrying will not fix.
    pub fn non_recoverable(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            code: String::new(),
            kind: ErrorKind::NonRecoverable,
        }
    }

    /// A failure that a retry may fix.
    pub fn recoverable(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            code: String::new(),
            kind: ErrorKind::Recoverable,
        }
    }

    /// Sets the machine-readable code.
    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = code.into();
        self
    }

    /// True for [`ErrorKind::Recoverable`].
    pub fn is_recoverable(&self) -> bool {
        self.kind == ErrorKind::Recoverable
    }
}

impl fmt::Display for AgentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.code.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{} ({})", self.message, self.code)
        }
    }
}

impl std::error::Error for AgentError {}

impl From<AgentError> for wit::AgentError {
    fn from(e: AgentError) -> Self {
        wit::AgentError {
            message: e.message,
            code: e.code,
            kind: match e.kind {
                ErrorKind::NonRecoverable => wit::ErrorKind::NonRecoverable,
                ErrorKind::Recoverable => wit::ErrorKind::Recoverable,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_and_converts() {
        let e = AgentError::recoverable("try again later").with_code("Busy");
        assert!(e.is_recoverable());
        assert_eq!(e.to_string(), "try again later (Busy)");
        let w: wit::AgentError = e.into();
        assert_eq!(w.message, "try again later");
        assert_eq!(w.code, "Busy");
        assert!(matches!(w.kind, wit::ErrorKind::Recoverable));

        let e = AgentError::non_recoverable("broken");
        assert_eq!(e.to_string(), "broken");
        let w: wit::AgentError = e.into();
        assert!(matches!(w.kind, wit::ErrorKind::NonRecoverable));
    }
}
