//! Builds the `flyteidl.admin.Resource` propeller reads from what an agent
//! returned.
//!
//! Two rules make it safe for every propeller version: `phase` is always set
//! (never UNDEFINED), and the deprecated `state` always agrees with it,
//! because older propellers read only `state` and its zero value means
//! "retryable failure". [`phase_and_state`] is the one place that decides
//! both.

use prost::Message;

use crate::literals;
use crate::proto::flyteidl::admin::{self, State, agent_error};
use crate::proto::flyteidl::core::{LiteralMap, TaskLog, VariableMap, task_execution::Phase};
use crate::runtime::types;

/// The phase and coherent deprecated state for a guest phase.
pub fn phase_and_state(phase: types::Phase) -> (Phase, State) {
    use types::Phase as P;
    match phase {
        P::Queued => (Phase::Queued, State::Pending),
        P::WaitingForResources => (Phase::WaitingForResources, State::Pending),
        P::Initializing => (Phase::Initializing, State::Pending),
        P::Running => (Phase::Running, State::Running),
        P::Succeeded => (Phase::Succeeded, State::Succeeded),
        P::Aborted => (Phase::Aborted, State::PermanentFailure),
        P::Failed => (Phase::Failed, State::PermanentFailure),
        P::RetryableFailed => (Phase::RetryableFailed, State::RetryableFailure),
    }
}

/// True when propeller stops polling at this phase.
pub fn is_terminal(phase: types::Phase) -> bool {
    use types::Phase as P;
    matches!(
        phase,
        P::Succeeded | P::Aborted | P::Failed | P::RetryableFailed
    )
}

/// Converts an agent's resource. On success its outputs are typed with
/// `declared` (the task's interface outputs); outputs that do not fit make
/// the task fail with a message naming the output, as the agent's own bug.
pub fn from_agent(resource: types::Resource, declared: Option<&VariableMap>) -> admin::Resource {
    let mut outputs = None;
    if resource.phase == types::Phase::Succeeded {
        match resource
            .outputs
            .map(|o| convert_outputs(o, declared))
            .transpose()
        {
            Ok(converted) => outputs = converted,
            Err(reason) => {
                return failed(
                    format!(
                        "the agent returned outputs that do not match the task's interface: {reason}"
                    ),
                    "InvalidOutputs",
                    false,
                );
            }
        }
    }
    let custom_info = match resource
        .custom_info
        .as_deref()
        .map(parse_object)
        .transpose()
    {
        Ok(info) => info.map(|object| crate::struct_json::json_to_struct(&object)),
        Err(reason) => {
            return failed(
                format!("the agent returned custom info that is not a JSON object: {reason}"),
                "InvalidCustomInfo",
                false,
            );
        }
    };
    let (phase, state) = phase_and_state(resource.phase);
    admin::Resource {
        state: state as i32,
        outputs,
        message: resource.message,
        log_links: resource
            .log_links
            .into_iter()
            .map(|link| TaskLog {
                uri: link.uri,
                name: link.name,
                ..Default::default()
            })
            .collect(),
        phase: phase as i32,
        custom_info,
        agent_error: None,
    }
}

/// A failed resource for an agent's error: non-recoverable errors fail the
/// task for good, recoverable ones let propeller retry it.
pub fn from_agent_error(error: types::AgentError) -> admin::Resource {
    let recoverable = error.kind == types::ErrorKind::Recoverable;
    failed(error.message, &error.code, recoverable)
}

/// A terminal failure with `agent_error` filled.
pub fn failed(message: String, code: &str, recoverable: bool) -> admin::Resource {
    let phase = if recoverable {
        types::Phase::RetryableFailed
    } else {
        types::Phase::Failed
    };
    let (phase, state) = phase_and_state(phase);
    let kind = if recoverable {
        agent_error::Kind::Recoverable
    } else {
        agent_error::Kind::NonRecoverable
    };
    admin::Resource {
        state: state as i32,
        message,
        phase: phase as i32,
        agent_error: Some(admin::AgentError {
            code: code.to_string(),
            kind: kind as i32,
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn convert_outputs(
    outputs: types::Outputs,
    declared: Option<&VariableMap>,
) -> Result<LiteralMap, String> {
    match outputs {
        types::Outputs::Json(text) => {
            let object = parse_object(&text)?;
            literals::json_to_literal_map(&object, declared).map_err(|e| e.to_string())
        }
        types::Outputs::LiteralMap(bytes) => LiteralMap::decode(bytes.as_slice())
            .map_err(|_| "the literal-map bytes are not a protobuf LiteralMap".to_string()),
    }
}

fn parse_object(text: &str) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(object)) => Ok(object),
        Ok(_) => Err("expected a JSON object".to_string()),
        Err(e) => Err(format!("invalid JSON: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_phase_has_a_coherent_state() {
        use types::Phase as P;
        let table = [
            (P::Queued, Phase::Queued, State::Pending),
            (
                P::WaitingForResources,
                Phase::WaitingForResources,
                State::Pending,
            ),
            (P::Initializing, Phase::Initializing, State::Pending),
            (P::Running, Phase::Running, State::Running),
            (P::Succeeded, Phase::Succeeded, State::Succeeded),
            (P::Aborted, Phase::Aborted, State::PermanentFailure),
            (P::Failed, Phase::Failed, State::PermanentFailure),
            (
                P::RetryableFailed,
                Phase::RetryableFailed,
                State::RetryableFailure,
            ),
        ];
        for (guest, phase, state) in table {
            assert_eq!(phase_and_state(guest), (phase, state), "{guest:?}");
            assert_ne!(phase, Phase::Undefined);
        }
    }

    #[test]
    fn agent_errors_fail_with_kind_and_code() {
        let permanent = from_agent_error(types::AgentError {
            message: "broken".into(),
            code: "Broken".into(),
            kind: types::ErrorKind::NonRecoverable,
        });
        assert_eq!(permanent.phase, Phase::Failed as i32);
        assert_eq!(permanent.state, State::PermanentFailure as i32);
        assert_eq!(permanent.message, "broken");
        let error = permanent.agent_error.unwrap();
        assert_eq!(error.code, "Broken");
        assert_eq!(error.kind, agent_error::Kind::NonRecoverable as i32);

        let retryable = from_agent_error(types::AgentError {
            message: "later".into(),
            code: "Busy".into(),
            kind: types::ErrorKind::Recoverable,
        });
        assert_eq!(retryable.phase, Phase::RetryableFailed as i32);
        assert_eq!(retryable.state, State::RetryableFailure as i32);
        assert_eq!(
            retryable.agent_error.unwrap().kind,
            agent_error::Kind::Recoverable as i32
        );
    }

    #[test]
    fn bad_outputs_fail_the_task_not_the_call() {
        let resource = types::Resource {
            phase: types::Phase::Succeeded,
            message: String::new(),
            outputs: Some(types::Outputs::Json("[1, 2]".into())),
            log_links: vec![],
            custom_info: None,
        };
        let converted = from_agent(resource, None);
        assert_eq!(converted.phase, Phase::Failed as i32);
        assert!(
            converted.message.contains("expected a JSON object"),
            "{}",
            converted.message
        );
    }

    #[test]
    fn outputs_ignored_unless_succeeded() {
        let resource = types::Resource {
            phase: types::Phase::Running,
            message: "half way".into(),
            outputs: Some(types::Outputs::Json("not json".into())),
            log_links: vec![types::LogLink {
                name: "console".into(),
                uri: "https://example.invalid/job/1".into(),
            }],
            custom_info: Some("{\"job\": 1}".into()),
        };
        let converted = from_agent(resource, None);
        assert_eq!(converted.phase, Phase::Running as i32);
        assert_eq!(converted.state, State::Running as i32);
        assert!(converted.outputs.is_none());
        assert_eq!(converted.log_links[0].name, "console");
        assert!(converted.custom_info.is_some());
    }
}
