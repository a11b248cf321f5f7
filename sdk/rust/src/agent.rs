//! The traits an agent implements, mirroring flytekit's `AsyncAgentBase`,
//! `SyncAgentBase` and the optional metrics/logs methods.
//!
//! All methods are associated functions (no `self`): the host may run each
//! call in a fresh instance, on any replica, so an agent keeps no state
//! between calls. Everything `get` and `delete` need must be in the metadata
//! `create` returns.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::AgentError;
use crate::handle::TaskHandle;
use crate::info::AgentInfo;
use crate::observe::{LogPage, MetricResult, MetricsQuery};
use crate::resource::Resource;
use crate::task::Task;

/// An agent for long-running jobs: create, poll with get, delete on abort.
/// Export it with [`export_async_agent!`](crate::export_async_agent).
pub trait AsyncAgent {
    /// What `create` remembers about a job, stored as JSON in the
    /// resource meta (like flytekit's `ResourceMeta`).
    type Metadata: Serialize + DeserializeOwned;

    /// The agent's name and the task categories it serves.
    fn info() -> AgentInfo;

    /// Starts the job. Use `task.idempotency_key` to avoid starting it twice.
    fn create(task: Task) -> Result<Self::Metadata, AgentError>;

    /// Reports the job's state; propeller calls it until a terminal phase.
    fn get(handle: TaskHandle<Self::Metadata>) -> Result<Resource, AgentError>;

    /// Cancels the job (called only when the run is aborted).
    fn delete(handle: TaskHandle<Self::Metadata>) -> Result<(), AgentError>;
}

/// An async agent that also reports metrics and logs of its jobs.
/// Export it with [`export_observable_agent!`](crate::export_observable_agent).
pub trait ObservableAgent: AsyncAgent {
    /// Metrics of a job; none by default.
    fn get_metrics(
        handle: TaskHandle<Self::Metadata>,
        query: MetricsQuery,
    ) -> Result<Vec<MetricResult>, AgentError> {
        let _ = (handle, query);
        Ok(Vec::new())
    }

    /// Up to `lines` log lines of a job, starting at `token` (empty for the
    /// first page); no lines by default.
    fn get_logs(
        handle: TaskHandle<Self::Metadata>,
        lines: u64,
        token: String,
    ) -> Result<LogPage, AgentError> {
        let _ = (handle, lines, token);
        Ok(LogPage::default())
    }
}

/// An agent that answers at once. Export it with
/// [`export_sync_agent!`](crate::export_sync_agent).
pub trait SyncAgent {
    /// The agent's name and the task categories it serves.
    fn info() -> AgentInfo;

    /// Runs the task (flytekit's `do`). The resource returned must be
    /// terminal: succeeded, failed or aborted.
    fn do_task(task: Task) -> Result<Resource, AgentError>;
}
