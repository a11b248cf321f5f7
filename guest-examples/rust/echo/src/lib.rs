//! Echo: the smallest useful async agent. `create` keeps the inputs in the
//! resource meta, `get` succeeds with them as outputs. Handy to check that a
//! Hangar deployment round-trips literals.

use hangar_agent::{AgentError, AgentInfo, AsyncAgent, Map, Resource, Task, TaskHandle, Value};

struct Echo;

impl AsyncAgent for Echo {
    /// The task's inputs, as JSON.
    type Metadata = Map<String, Value>;

    fn info() -> AgentInfo {
        AgentInfo::new("echo").category("echo", 0)
    }

    fn create(task: Task) -> Result<Self::Metadata, AgentError> {
        Ok(task.inputs)
    }

    fn get(job: TaskHandle<Self::Metadata>) -> Result<Resource, AgentError> {
        Ok(Resource::succeeded_with(job.meta))
    }

    fn delete(_job: TaskHandle<Self::Metadata>) -> Result<(), AgentError> {
        Ok(())
    }
}

hangar_agent::export_async_agent!(Echo);
