//! `flyteidl.service.AgentMetadataService`: what propeller polls to learn
//! which task types this deployment serves and whether they are sync.

use tonic::{Request, Response, Status};

use crate::proto::flyteidl::admin::{
    Agent, GetAgentRequest, GetAgentResponse, ListAgentsRequest, ListAgentsResponse, TaskCategory,
};
use crate::proto::flyteidl::service::agent_metadata_service_server::AgentMetadataService;
use crate::runtime::Plugin;
use crate::tasks::Tasks;

pub struct AgentMetadata {
    pub tasks: Tasks,
}

/// One plugin as an `Agent` entry: both the categories and the deprecated
/// task-type strings, since propeller reads both.
pub fn agent_of(plugin: &Plugin) -> Agent {
    Agent {
        name: plugin.name().to_string(),
        supported_task_types: plugin
            .info
            .categories
            .iter()
            .map(|c| c.name.clone())
            .collect(),
        is_sync: plugin.is_sync(),
        supported_task_categories: plugin
            .info
            .categories
            .iter()
            .map(|c| TaskCategory {
                name: c.name.clone(),
                version: c.version,
            })
            .collect(),
    }
}

#[tonic::async_trait]
impl AgentMetadataService for AgentMetadata {
    async fn get_agent(
        &self,
        request: Request<GetAgentRequest>,
    ) -> Result<Response<GetAgentResponse>, Status> {
        let name = request.into_inner().name;
        let registry = self.tasks.registry();
        match registry.by_name(&name) {
            Some(plugin) => Ok(Response::new(GetAgentResponse {
                agent: Some(agent_of(&plugin)),
            })),
            None => {
                let known = registry.agent_names();
                Err(Status::not_found(format!(
                    "no agent named \"{name}\"; known agents: {}",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                )))
            }
        }
    }

    async fn list_agents(
        &self,
        _request: Request<ListAgentsRequest>,
    ) -> Result<Response<ListAgentsResponse>, Status> {
        let agents = self
            .tasks
            .registry()
            .plugins()
            .map(|p| agent_of(p))
            .collect();
        Ok(Response::new(ListAgentsResponse { agents }))
    }
}
