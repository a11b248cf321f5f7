//! Wait: a job that finishes `seconds` after it was created. It shows the
//! stateless async pattern: `create` records a wall-clock deadline in the
//! resource meta and `get` compares it with the clock, so any replica (or a
//! fresh instance) can answer.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hangar_agent::{AgentError, AgentInfo, AsyncAgent, Resource, Task, TaskHandle, Value};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Deadline {
    /// Milliseconds since the Unix epoch when the job is done.
    done_at_ms: u64,
}

struct Wait;

impl AsyncAgent for Wait {
    type Metadata = Deadline;

    fn info() -> AgentInfo {
        AgentInfo::new("wait").category("wait", 0)
    }

    fn create(task: Task) -> Result<Deadline, AgentError> {
        let seconds = seconds_input(&task)?;
        let done_at = SystemTime::now()
            .checked_add(Duration::from_secs(seconds))
            .ok_or_else(|| invalid(format!("`seconds` is too large: {seconds}")))?;
        Ok(Deadline {
            done_at_ms: unix_ms(done_at)?,
        })
    }

    fn get(job: TaskHandle<Deadline>) -> Result<Resource, AgentError> {
        let now_ms = unix_ms(SystemTime::now())?;
        let left_ms = job.meta.done_at_ms.saturating_sub(now_ms);
        if left_ms == 0 {
            return Ok(Resource::succeeded());
        }
        let left_s = Duration::from_millis(left_ms).as_secs_f64();
        Ok(Resource::running().with_message(format!("{left_s:.1} s left")))
    }

    fn delete(_job: TaskHandle<Deadline>) -> Result<(), AgentError> {
        Ok(()) // nothing runs anywhere: the deadline is all there is
    }
}

/// The `seconds` input: an integer, zero or more.
fn seconds_input(task: &Task) -> Result<u64, AgentError> {
    match task.inputs.get("seconds") {
        None | Some(Value::Null) => Err(AgentError::non_recoverable(
            "the wait task needs an integer input `seconds` (zero or more)",
        )
        .with_code("MissingInput")),
        Some(Value::Number(n)) => match (n.as_u64(), n.as_i64()) {
            (Some(s), _) => Ok(s),
            (None, Some(s)) => Err(invalid(format!("`seconds` must not be negative, got {s}"))),
            (None, None) => Err(invalid(format!("`seconds` must be an integer, got {n}"))),
        },
        Some(other) => Err(invalid(format!(
            "`seconds` must be an integer, got {other}"
        ))),
    }
}

fn unix_ms(t: SystemTime) -> Result<u64, AgentError> {
    let since = t
        .duration_since(UNIX_EPOCH)
        .map_err(|_| AgentError::recoverable("the clock is before 1970").with_code("BadClock"))?;
    u64::try_from(since.as_millis()).map_err(|_| invalid("the deadline is too far away".into()))
}

fn invalid(message: String) -> AgentError {
    AgentError::non_recoverable(message).with_code("InvalidInput")
}

hangar_agent::export_async_agent!(Wait);
