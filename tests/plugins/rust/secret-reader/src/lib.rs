//! Test fixture for the secrets capability (not an example): task type
//! `read_secret` reads the secret named by the input `name` and returns its
//! value as the output `value`. When the host refuses, the task fails with a
//! non-recoverable error whose code says why (`SecretNotGranted`,
//! `SecretNotFound`, `SecretTooLarge`, `TooManySecretReads`).
//!
//! Optional inputs exercise the host's per-call read limit: `times` (default
//! 1) reads the secret that many times in one call; with `ignore_errors`
//! (default false) every read but the last may fail and the agent carries on,
//! as a misbehaving agent would.

use hangar_agent::{AgentError, AgentInfo, Map, Resource, SyncAgent, Task, secrets};

struct SecretReader;

impl SyncAgent for SecretReader {
    fn info() -> AgentInfo {
        AgentInfo::new("secret-reader").category("read_secret", 0)
    }

    fn do_task(task: Task) -> Result<Resource, AgentError> {
        let name: String = task.input("name")?;
        let times: u32 = task.optional_input("times")?.unwrap_or(1);
        let ignore_errors: bool = task.optional_input("ignore_errors")?.unwrap_or(false);
        let mut last = Ok(String::new());
        for _ in 0..times {
            last = secrets::get(&name);
            if !ignore_errors && last.is_err() {
                break;
            }
        }
        let outputs = Map::from_iter([("value".to_string(), last?.into())]);
        Ok(Resource::succeeded_with(outputs))
    }
}

hangar_agent::export_sync_agent!(SecretReader);
