//! The one mapping from "this request could not be served" to a gRPC status.
//!
//! Job failures never come through here: they are Resources with a failed
//! phase, because propeller turns any gRPC error into a retry or a system
//! failure. Messages name what was wrong and never carry host internals.

use tonic::{Code, Status};

use crate::runtime::CallError;
use crate::tasks::TaskError;

pub fn to_status(error: TaskError) -> Status {
    let code = code_of(&error);
    let message = error.to_string();
    match code {
        Code::Internal | Code::DeadlineExceeded | Code::ResourceExhausted => {
            tracing::warn!(code = ?code, "{message}")
        }
        _ => tracing::debug!(code = ?code, "{message}"),
    }
    Status::new(code, message)
}

/// The gRPC code `error` is answered with (also the metrics' `code`).
pub fn code_of(error: &TaskError) -> Code {
    match error {
        TaskError::UnknownCategory(_) => Code::NotFound,
        TaskError::InvalidRequest(_) | TaskError::InvalidMeta(_) => Code::InvalidArgument,
        TaskError::Call(CallError::Trap { .. }) => Code::Internal,
        TaskError::Call(CallError::Timeout { .. }) => Code::DeadlineExceeded,
        // Over a limit the operator set for the plugin: slots, fuel, or the
        // size of the request. gRPC reports an oversized message the same way.
        TaskError::Call(
            CallError::Capacity { .. }
            | CallError::OutOfFuel { .. }
            | CallError::InputTooLarge { .. }
            | CallError::OutputTooLarge { .. },
        ) => Code::ResourceExhausted,
        TaskError::Call(CallError::Unimplemented { .. }) => Code::Unimplemented,
        TaskError::Agent {
            recoverable: true, ..
        } => Code::Unavailable,
        TaskError::Agent {
            recoverable: false, ..
        } => Code::FailedPrecondition,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::registry::UnknownCategory;
    use crate::tasks::resource_meta::MetaError;

    #[test]
    fn each_failure_has_its_code() {
        let table: Vec<(TaskError, Code)> = vec![
            (
                TaskError::UnknownCategory(UnknownCategory {
                    name: "x".into(),
                    version: 0,
                    known: "echo (v0)".into(),
                }),
                Code::NotFound,
            ),
            (
                TaskError::InvalidRequest("no template".into()),
                Code::InvalidArgument,
            ),
            (
                TaskError::InvalidMeta(MetaError::Foreign),
                Code::InvalidArgument,
            ),
            (
                TaskError::Call(CallError::Trap {
                    plugin: "p".into(),
                    reason: "unreachable".into(),
                }),
                Code::Internal,
            ),
            (
                TaskError::Call(CallError::Timeout {
                    plugin: "p".into(),
                    limit: Duration::from_secs(1),
                }),
                Code::DeadlineExceeded,
            ),
            (
                TaskError::Call(CallError::Capacity {
                    plugin: "p".into(),
                    reason: "full".into(),
                }),
                Code::ResourceExhausted,
            ),
            (
                TaskError::Call(CallError::OutOfFuel {
                    plugin: "p".into(),
                    limit: 10,
                }),
                Code::ResourceExhausted,
            ),
            (
                TaskError::Call(CallError::InputTooLarge {
                    plugin: "p".into(),
                    bytes: 2,
                    limit: 1,
                }),
                Code::ResourceExhausted,
            ),
            (
                TaskError::Call(CallError::OutputTooLarge {
                    plugin: "p".into(),
                    bytes: 2,
                    limit: 1,
                }),
                Code::ResourceExhausted,
            ),
            (
                TaskError::Call(CallError::Unimplemented {
                    plugin: "p".into(),
                    what: "get-logs",
                }),
                Code::Unimplemented,
            ),
            (
                TaskError::Agent {
                    message: "later".into(),
                    recoverable: true,
                },
                Code::Unavailable,
            ),
            (
                TaskError::Agent {
                    message: "no".into(),
                    recoverable: false,
                },
                Code::FailedPrecondition,
            ),
        ];
        for (error, code) in table {
            let text = error.to_string();
            let status = to_status(error);
            assert_eq!(status.code(), code, "{text}");
            assert_eq!(status.message(), text);
        }
    }
}
