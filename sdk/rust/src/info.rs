//! `AgentInfo` and `TaskCategory`: who an agent is and which task types it
//! serves. The host asks once, when it loads the plugin, and routes tasks by
//! category.

use serde::{Deserialize, Serialize};

use crate::bindings::wit;

/// What propeller routes on: `TaskTemplate.type` and `task_type_version`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct TaskCategory {
    /// The task type, e.g. `"bigquery_query_job_task"`.
    pub name: String,
    /// The task type version (usually 0).
    pub version: i32,
}

impl TaskCategory {
    /// A category from its task type and version.
    pub fn new(name: impl Into<String>, version: i32) -> Self {
        Self {
            name: name.into(),
            version,
        }
    }
}

/// The agent's name and the task categories it serves.
///
/// ```
/// # use hangar_agent::AgentInfo;
/// let info = AgentInfo::new("Echo Agent").category("echo", 0);
/// assert_eq!(info.categories[0].name, "echo");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AgentInfo {
    /// Shown by ListAgents and looked up by GetAgent.
    pub name: String,
    /// At least one category.
    pub categories: Vec<TaskCategory>,
}

impl AgentInfo {
    /// An agent with no categories yet; add them with [`AgentInfo::category`].
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            categories: Vec::new(),
        }
    }

    /// Adds a task category the agent serves.
    pub fn category(mut self, name: impl Into<String>, version: i32) -> Self {
        self.categories.push(TaskCategory::new(name, version));
        self
    }
}

impl From<wit::TaskCategory> for TaskCategory {
    fn from(c: wit::TaskCategory) -> Self {
        Self {
            name: c.name,
            version: c.version,
        }
    }
}

impl From<TaskCategory> for wit::TaskCategory {
    fn from(c: TaskCategory) -> Self {
        Self {
            name: c.name,
            version: c.version,
        }
    }
}

impl From<AgentInfo> for wit::AgentInfo {
    fn from(info: AgentInfo) -> Self {
        Self {
            name: info.name,
            categories: info.categories.into_iter().map(Into::into).collect(),
        }
    }
}
