//! Test fixture for the host's error handling of sync agents (not an
//! example): `do` fails in one particular way per task type.
//!
//! | task type | do |
//! |---|---|
//! | `sync_fail_permanent` | non-recoverable error "the job is broken" (`Broken`) |
//! | `sync_fail_retryable` | recoverable error "try again later" (`Busy`) |
//! | `sync_trap` | panics |

use hangar_agent::{AgentError, AgentInfo, Resource, SyncAgent, Task, log};

struct FaultySync;

impl SyncAgent for FaultySync {
    fn info() -> AgentInfo {
        AgentInfo::new("faulty-sync")
            .category("sync_fail_permanent", 0)
            .category("sync_fail_retryable", 0)
            .category("sync_trap", 0)
    }

    fn do_task(task: Task) -> Result<Resource, AgentError> {
        let category = task.category.name.as_str();
        log::info!("faulty sync agent: do {category}");
        match category {
            "sync_fail_permanent" => {
                Err(AgentError::non_recoverable("the job is broken").with_code("Broken"))
            }
            "sync_fail_retryable" => {
                Err(AgentError::recoverable("try again later").with_code("Busy"))
            }
            "sync_trap" => panic!("agent panicked on purpose"),
            other => Err(AgentError::non_recoverable(format!(
                "faulty sync agent has no task type `{other}`"
            ))
            .with_code("UnknownTaskType")),
        }
    }
}

hangar_agent::export_sync_agent!(FaultySync);
