//! `Resource`: the state of a job as `get` (async) or `do_task` (sync)
//! report it, with constructors for the common phases and builder methods
//! for the optional parts.

use serde_json::{Map, Value};

use crate::bindings::wit;

/// `flyteidl.core.TaskExecution.Phase`, without UNDEFINED.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    Queued,
    WaitingForResources,
    Initializing,
    Running,
    Succeeded,
    Aborted,
    Failed,
    RetryableFailed,
}

impl Phase {
    /// True when propeller stops polling: succeeded, aborted or failed.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Phase::Succeeded | Phase::Aborted | Phase::Failed | Phase::RetryableFailed
        )
    }
}

/// Outputs of a succeeded task.
#[derive(Debug, Clone, PartialEq)]
pub enum Outputs {
    /// Plain JSON values by output name; the host converts them with the
    /// output types the task declares.
    Json(Map<String, Value>),
    /// A protobuf-encoded `flyteidl.core.LiteralMap`, passed on as is.
    LiteralMap(Vec<u8>),
}

impl From<Map<String, Value>> for Outputs {
    fn from(map: Map<String, Value>) -> Self {
        Outputs::Json(map)
    }
}

/// A link shown next to the task in the Flyte console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLink {
    pub name: String,
    pub uri: String,
}

/// The state of a job.
///
/// ```
/// # use hangar_agent::{Phase, Resource};
/// let r = Resource::running()
///     .with_message("3 s left")
///     .with_log_link("console", "https://example.com/job/1");
/// assert_eq!(r.phase, Phase::Running);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    pub phase: Phase,
    /// Shown to the user; for failures, the reason.
    pub message: String,
    /// Only read when the phase is `Succeeded`.
    pub outputs: Option<Outputs>,
    pub log_links: Vec<LogLink>,
    /// Shown to users as custom info.
    pub custom_info: Option<Map<String, Value>>,
}

impl Resource {
    /// A resource in `phase` with nothing else set.
    pub fn new(phase: Phase) -> Self {
        Self {
            phase,
            message: String::new(),
            outputs: None,
            log_links: Vec::new(),
            custom_info: None,
        }
    }

    /// The job is queued.
    pub fn queued() -> Self {
        Self::new(Phase::Queued)
    }

    /// The job is running.
    pub fn running() -> Self {
        Self::new(Phase::Running)
    }

    /// The job finished and has no outputs.
    pub fn succeeded() -> Self {
        Self::new(Phase::Succeeded)
    }

    /// The job finished with these outputs: a JSON map of output name to
    /// value, or an [`Outputs`].
    pub fn succeeded_with(outputs: impl Into<Outputs>) -> Self {
        Self::succeeded().with_outputs(outputs)
    }

    /// The job failed for good; `message` says why.
    pub fn failed(message: impl Into<String>) -> Self {
        Self::new(Phase::Failed).with_message(message)
    }

    /// The job failed, but a retry may succeed.
    pub fn retryable_failed(message: impl Into<String>) -> Self {
        Self::new(Phase::RetryableFailed).with_message(message)
    }

    /// The job was aborted.
    pub fn aborted() -> Self {
        Self::new(Phase::Aborted)
    }

    /// Sets the message shown to the user.
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }

    /// Sets the outputs (read only when the phase is `Succeeded`).
    pub fn with_outputs(mut self, outputs: impl Into<Outputs>) -> Self {
        self.outputs = Some(outputs.into());
        self
    }

    /// Adds a log link.
    pub fn with_log_link(mut self, name: impl Into<String>, uri: impl Into<String>) -> Self {
        self.log_links.push(LogLink {
            name: name.into(),
            uri: uri.into(),
        });
        self
    }

    /// Sets the custom info shown to users.
    pub fn with_custom_info(mut self, info: Map<String, Value>) -> Self {
        self.custom_info = Some(info);
        self
    }
}

impl From<Phase> for wit::Phase {
    fn from(p: Phase) -> Self {
        match p {
            Phase::Queued => wit::Phase::Queued,
            Phase::WaitingForResources => wit::Phase::WaitingForResources,
            Phase::Initializing => wit::Phase::Initializing,
            Phase::Running => wit::Phase::Running,
            Phase::Succeeded => wit::Phase::Succeeded,
            Phase::Aborted => wit::Phase::Aborted,
            Phase::Failed => wit::Phase::Failed,
            Phase::RetryableFailed => wit::Phase::RetryableFailed,
        }
    }
}

impl From<Outputs> for wit::Outputs {
    fn from(o: Outputs) -> Self {
        match o {
            // Serialising a map of `Value`s cannot fail (keys are strings).
            Outputs::Json(map) => wit::Outputs::Json(Value::Object(map).to_string()),
            Outputs::LiteralMap(bytes) => wit::Outputs::LiteralMap(bytes),
        }
    }
}

impl From<Resource> for wit::Resource {
    fn from(r: Resource) -> Self {
        wit::Resource {
            phase: r.phase.into(),
            message: r.message,
            outputs: r.outputs.map(Into::into),
            log_links: r
                .log_links
                .into_iter()
                .map(|l| wit::LogLink {
                    name: l.name,
                    uri: l.uri,
                })
                .collect(),
            custom_info: r.custom_info.map(|m| Value::Object(m).to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn succeeded_with_json_outputs() {
        let r: wit::Resource = Resource::succeeded_with(object(json!({"x": 1, "y": "two"})))
            .with_custom_info(object(json!({"job": "42"})))
            .with_log_link("console", "https://example.com")
            .into();
        assert!(matches!(r.phase, wit::Phase::Succeeded));
        match r.outputs {
            Some(wit::Outputs::Json(text)) => {
                let v: Value = serde_json::from_str(&text).expect("json");
                assert_eq!(v, json!({"x": 1, "y": "two"}));
            }
            other => panic!("unexpected outputs {other:?}"),
        }
        assert_eq!(r.custom_info.as_deref(), Some(r#"{"job":"42"}"#));
        assert_eq!(r.log_links.len(), 1);
        assert_eq!(r.log_links[0].name, "console");
    }

    #[test]
    fn literal_map_passes_through() {
        let r: wit::Resource = Resource::succeeded_with(Outputs::LiteralMap(vec![10, 0])).into();
        assert!(matches!(r.outputs, Some(wit::Outputs::LiteralMap(ref b)) if b == &[10, 0]));
    }

    #[test]
    fn failed_carries_message() {
        let r = Resource::failed("boom");
        assert_eq!(r.message, "boom");
        assert!(r.phase.is_terminal());
        assert!(!Resource::running().phase.is_terminal());
        let w: wit::Resource = r.into();
        assert!(matches!(w.phase, wit::Phase::Failed));
        assert!(w.outputs.is_none());
        assert!(w.custom_info.is_none());
    }
}
