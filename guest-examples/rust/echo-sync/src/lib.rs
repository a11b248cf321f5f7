//! Echo, sync flavour: `do` answers at once with the inputs as outputs.

use hangar_agent::{AgentError, AgentInfo, Resource, SyncAgent, Task};

struct EchoSync;

impl SyncAgent for EchoSync {
    fn info() -> AgentInfo {
        AgentInfo::new("echo_sync").category("echo_sync", 0)
    }

    fn do_task(task: Task) -> Result<Resource, AgentError> {
        Ok(Resource::succeeded_with(task.inputs))
    }
}

hangar_agent::export_sync_agent!(EchoSync);
