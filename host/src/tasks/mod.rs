//! Flyte task operations over plugins: create / get / delete for async
//! agents, execute for sync ones, metrics and logs.
//!
//! This is where Flyte's rules live (routing by category, resource_meta,
//! typed outputs, failures as Resources rather than errors). The gRPC layer
//! and `hangar run` both call it, so a local run behaves like propeller's.

pub mod resource;
pub mod resource_meta;
pub mod task_input;
pub mod template_wire;

use std::sync::Arc;

use prost::Message;

use crate::metrics::{Api, Call, Operation};
use crate::proto::flyteidl::admin::{self, Received, TaskCategory, TaskExecutionMetadata};
use crate::proto::flyteidl::core::{LiteralMap, TaskTemplate};
use crate::registry::{LiveRegistry, Registry, UnknownCategory};
use crate::runtime::{CallError, LogContext, Plugin, types};
use resource_meta::{BorrowedEnvelope, CreateError, MetaError};

/// Why an operation could not be served (as opposed to a task that failed,
/// which is a normal answer carrying a failed Resource).
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    #[error(transparent)]
    UnknownCategory(#[from] UnknownCategory),
    #[error("{0}")]
    InvalidRequest(String),
    #[error(transparent)]
    InvalidMeta(#[from] MetaError),
    #[error(transparent)]
    Call(#[from] CallError),
    /// The agent refused an operation that has no Resource to carry it
    /// (delete, metrics, logs).
    #[error("{message}")]
    Agent { message: String, recoverable: bool },
}

/// Routes task operations to plugins.
#[derive(Clone)]
pub struct Tasks {
    registry: Arc<LiveRegistry>,
    /// The API the calls come through (for metrics and logs).
    api: Api,
}

/// Which plugin a request is for, as sent by propeller.
pub struct Route<'a> {
    pub category: Option<&'a TaskCategory>,
    pub task_type: &'a str,
}

impl<'a> Route<'a> {
    /// The task type named, for metrics and logs: the category's name,
    /// else the deprecated task_type.
    fn label(&self) -> &'a str {
        match self.category {
            Some(c) if !c.name.is_empty() => &c.name,
            _ => self.task_type,
        }
    }
}

impl Tasks {
    pub fn new(registry: Arc<Registry>) -> Self {
        Tasks::live(Arc::new(LiveRegistry::new(registry)))
    }

    /// Routes with a registry the live plugin directory swaps.
    pub fn live(registry: Arc<LiveRegistry>) -> Self {
        Tasks {
            registry,
            api: Api::Agent,
        }
    }

    /// The same plugins, for calls that come through `api`.
    pub fn for_api(&self, api: Api) -> Tasks {
        Tasks {
            registry: self.registry.clone(),
            api,
        }
    }

    /// The metrics and log span of one request.
    fn call<'a>(
        &self,
        operation: Operation,
        task_type: &'a str,
        metadata: Option<&TaskExecutionMetadata>,
    ) -> Call<'a> {
        let task = metadata.and_then(|m| m.task_execution_id.as_ref());
        Call::new(self.api, operation, task_type, task)
    }

    /// [`Tasks::async_plugin_for`], noting the plugin in `call`.
    fn async_plugin_routed(
        &self,
        call: &Call<'_>,
        route: &Route<'_>,
    ) -> Result<Arc<Plugin>, TaskError> {
        let plugin = self.async_plugin_for(route)?;
        call.routed(&plugin.capabilities.metrics);
        Ok(plugin)
    }

    /// The registry now (a snapshot: later swaps do not change it).
    pub fn registry(&self) -> Arc<Registry> {
        self.registry.current()
    }

    /// The async plugin a get/delete/metrics/logs request is for.
    fn async_plugin_for(&self, route: &Route<'_>) -> Result<Arc<Plugin>, TaskError> {
        let plugin = self.registry().resolve(
            route.category.map(|c| (c.name.as_str(), c.version)),
            route.task_type,
        )?;
        if plugin.is_sync() {
            return Err(TaskError::InvalidRequest(format!(
                "task type \"{}\" is served by a sync agent, which has no jobs to poll, delete or inspect: call SyncAgentService/ExecuteTaskSync",
                route
                    .category
                    .map(|c| c.name.as_str())
                    .filter(|name| !name.is_empty())
                    .unwrap_or(route.task_type)
            )));
        }
        Ok(plugin)
    }

    /// Routes by the template's (type, task_type_version), as propeller does.
    fn plugin_for_template(&self, template: &TaskTemplate) -> Result<Arc<Plugin>, UnknownCategory> {
        self.registry().resolve(
            Some((template.r#type.as_str(), template.task_type_version)),
            &template.r#type,
        )
    }

    /// Starts a job; returns the resource_meta for propeller to keep. An
    /// agent error is folded into the meta and reported by the next get; so
    /// is an answer over the plugin's `max_output_bytes` (see
    /// [`answer_too_large`]).
    /// `received` holds the bytes `template` and `inputs` were decoded from,
    /// when the request kept them (`Received::default()` when it did not).
    pub async fn create(
        &self,
        template: Option<&TaskTemplate>,
        inputs: Option<&LiteralMap>,
        received: &Received,
        output_prefix: &str,
        metadata: Option<&TaskExecutionMetadata>,
    ) -> Result<Vec<u8>, TaskError> {
        let call = self.call(
            Operation::Create,
            template.map(|t| t.r#type.as_str()).unwrap_or_default(),
            metadata,
        );
        call.run(self.create_in(&call, template, inputs, received, output_prefix, metadata))
            .await
    }

    async fn create_in(
        &self,
        call: &Call<'_>,
        template: Option<&TaskTemplate>,
        inputs: Option<&LiteralMap>,
        received: &Received,
        output_prefix: &str,
        metadata: Option<&TaskExecutionMetadata>,
    ) -> Result<Vec<u8>, TaskError> {
        let template = template.ok_or_else(|| {
            TaskError::InvalidRequest("CreateTaskRequest.template is required".into())
        })?;
        let plugin = self.plugin_for_template(template)?;
        call.routed(&plugin.capabilities.metrics);
        if plugin.is_sync() {
            call.input_bytes(inputs.map(Message::encoded_len).unwrap_or(0));
            return Err(TaskError::InvalidRequest(format!(
                "task type \"{}\" is served by a sync agent: call SyncAgentService/ExecuteTaskSync",
                template.r#type
            )));
        }
        let task =
            self.build_task_counted(call, template, inputs, received, output_prefix, metadata)?;
        let context = task_log_context(&plugin, metadata, &task);
        let agent = plugin.name();
        let outputs_encoded;
        let outputs = match template_wire::declared_outputs(&task.template.raw) {
            Ok(found) => found,
            Err(error) => {
                tracing::debug!(%error, "declared outputs encoded apart from the template");
                outputs_encoded = template
                    .interface
                    .as_ref()
                    .and_then(|i| i.outputs.as_ref())
                    .map(Message::encode_to_vec);
                outputs_encoded.as_deref()
            }
        };
        let meta = |agent_meta: &[u8], create_error: Option<&CreateError>| {
            resource_meta::encode_borrowed(&BorrowedEnvelope {
                agent,
                outputs,
                agent_meta,
                create_error,
            })
        };
        match plugin.create(context, &task).await {
            Ok(Ok(agent_meta)) => Ok(meta(&agent_meta, None)),
            Ok(Err(error)) => Ok(meta(
                &[],
                Some(&CreateError {
                    recoverable: error.kind == types::ErrorKind::Recoverable,
                    message: error.message,
                    code: error.code,
                }),
            )),
            Err(error @ CallError::OutputTooLarge { .. }) => Ok(meta(
                &[],
                Some(&CreateError {
                    recoverable: false,
                    message: error.to_string(),
                    code: OUTPUT_TOO_LARGE.to_string(),
                }),
            )),
            Err(error) => Err(error.into()),
        }
    }

    /// Polls a job.
    pub async fn get(
        &self,
        route: Route<'_>,
        meta: &[u8],
        output_prefix: &str,
    ) -> Result<admin::Resource, TaskError> {
        let call = self.call(Operation::Get, route.label(), None);
        call.run(self.get_in(&call, route, meta, output_prefix))
            .await
    }

    async fn get_in(
        &self,
        call: &Call<'_>,
        route: Route<'_>,
        meta: &[u8],
        output_prefix: &str,
    ) -> Result<admin::Resource, TaskError> {
        let plugin = self.async_plugin_routed(call, &route)?;
        let envelope = resource_meta::decode(meta, plugin.name())?;
        if let Some(error) = envelope.create_error {
            return Ok(resource::failed(
                error.message,
                &error.code,
                error.recoverable,
            ));
        }
        let handle = handle(&route, envelope.agent_meta, output_prefix);
        Ok(match plugin.get(log_context(&plugin), &handle).await {
            Ok(Ok(res)) => resource::from_agent(res, envelope.outputs.as_ref()),
            Ok(Err(error)) => resource::from_agent_error(error),
            Err(error) => answer_too_large(error)?,
        })
    }

    /// Cancels a job (propeller calls this only on abort).
    pub async fn delete(&self, route: Route<'_>, meta: &[u8]) -> Result<(), TaskError> {
        let call = self.call(Operation::Delete, route.label(), None);
        call.run(self.delete_in(&call, route, meta)).await
    }

    async fn delete_in(
        &self,
        call: &Call<'_>,
        route: Route<'_>,
        meta: &[u8],
    ) -> Result<(), TaskError> {
        let plugin = self.async_plugin_routed(call, &route)?;
        let envelope = resource_meta::decode(meta, plugin.name())?;
        if envelope.create_error.is_some() {
            // The job never started: nothing to cancel.
            return Ok(());
        }
        let handle = handle(&route, envelope.agent_meta, "");
        plugin
            .delete(log_context(&plugin), &handle)
            .await?
            .map_err(agent_refused)
    }

    /// Runs a sync agent; the Resource is always terminal.
    pub async fn execute_sync(
        &self,
        template: Option<&TaskTemplate>,
        inputs: Option<&LiteralMap>,
        output_prefix: &str,
        metadata: Option<&TaskExecutionMetadata>,
    ) -> Result<admin::Resource, TaskError> {
        let call = self.call(
            Operation::Do,
            template.map(|t| t.r#type.as_str()).unwrap_or_default(),
            metadata,
        );
        call.run(self.execute_sync_in(&call, template, inputs, output_prefix, metadata))
            .await
    }

    async fn execute_sync_in(
        &self,
        call: &Call<'_>,
        template: Option<&TaskTemplate>,
        inputs: Option<&LiteralMap>,
        output_prefix: &str,
        metadata: Option<&TaskExecutionMetadata>,
    ) -> Result<admin::Resource, TaskError> {
        let template = template
            .ok_or_else(|| TaskError::InvalidRequest("the header's template is required".into()))?;
        let plugin = self.plugin_for_template(template)?;
        call.routed(&plugin.capabilities.metrics);
        if !plugin.is_sync() {
            call.input_bytes(inputs.map(Message::encoded_len).unwrap_or(0));
            return Err(TaskError::InvalidRequest(format!(
                "task type \"{}\" is served by an async agent: call AsyncAgentService/CreateTask",
                template.r#type
            )));
        }
        let task = self.build_task_counted(
            call,
            template,
            inputs,
            &Received::default(),
            output_prefix,
            metadata,
        )?;
        let declared = template.interface.as_ref().and_then(|i| i.outputs.as_ref());
        Ok(
            match plugin
                .run_sync(task_log_context(&plugin, metadata, &task), &task)
                .await
            {
                Err(error) => answer_too_large(error)?,
                Ok(Ok(res)) if !resource::is_terminal(res.phase) => resource::failed(
                    format!(
                        "the sync agent \"{}\" answered with the non-terminal phase {:?}; a sync agent must finish in one call",
                        plugin.name(),
                        res.phase
                    ),
                    "NonTerminalPhase",
                    false,
                ),
                Ok(Ok(res)) => resource::from_agent(res, declared),
                Ok(Err(error)) => resource::from_agent_error(error),
            },
        )
    }

    /// Metrics of a job, from an agent that exports `observability`.
    pub async fn metrics(
        &self,
        route: Route<'_>,
        meta: &[u8],
        query: types::MetricsQuery,
    ) -> Result<Vec<types::MetricResult>, TaskError> {
        let call = self.call(Operation::Metrics, route.label(), None);
        call.run(self.metrics_in(&call, route, meta, query)).await
    }

    async fn metrics_in(
        &self,
        call: &Call<'_>,
        route: Route<'_>,
        meta: &[u8],
        query: types::MetricsQuery,
    ) -> Result<Vec<types::MetricResult>, TaskError> {
        let plugin = self.async_plugin_routed(call, &route)?;
        let envelope = resource_meta::decode(meta, plugin.name())?;
        let handle = handle(&route, envelope.agent_meta, "");
        plugin
            .get_metrics(log_context(&plugin), &handle, &query)
            .await?
            .map_err(agent_refused)
    }

    /// A page of a job's logs.
    pub async fn logs(
        &self,
        route: Route<'_>,
        meta: &[u8],
        lines: u64,
        token: &str,
    ) -> Result<types::LogPage, TaskError> {
        let call = self.call(Operation::Logs, route.label(), None);
        call.run(self.logs_in(&call, route, meta, lines, token))
            .await
    }

    async fn logs_in(
        &self,
        call: &Call<'_>,
        route: Route<'_>,
        meta: &[u8],
        lines: u64,
        token: &str,
    ) -> Result<types::LogPage, TaskError> {
        let plugin = self.async_plugin_routed(call, &route)?;
        let envelope = resource_meta::decode(meta, plugin.name())?;
        let handle = handle(&route, envelope.agent_meta, "");
        plugin
            .get_logs(log_context(&plugin), &handle, lines, token)
            .await?
            .map_err(agent_refused)
    }

    /// The guest's view of the task, noting the size of its inputs in
    /// `call`: the encoding the guest gets (`inputs_raw`) is that size, so
    /// it is not measured apart.
    fn build_task_counted(
        &self,
        call: &Call<'_>,
        template: &TaskTemplate,
        inputs: Option<&LiteralMap>,
        received: &Received,
        output_prefix: &str,
        metadata: Option<&TaskExecutionMetadata>,
    ) -> Result<types::Task, TaskError> {
        let empty = LiteralMap::default();
        let inputs = inputs.unwrap_or(&empty);
        match task_input::build_task(template, inputs, received, output_prefix, metadata) {
            Ok(task) => {
                call.input_bytes(task.inputs_raw.len());
                Ok(task)
            }
            Err(reason) => {
                call.input_bytes(inputs.encoded_len());
                Err(TaskError::InvalidRequest(format!(
                    "cannot pass the inputs to the agent: {reason}"
                )))
            }
        }
    }
}

fn handle(route: &Route<'_>, agent_meta: Vec<u8>, output_prefix: &str) -> types::TaskHandle {
    let category = match route.category {
        Some(c) if !c.name.is_empty() => types::TaskCategory {
            name: c.name.clone(),
            version: c.version,
        },
        _ => types::TaskCategory {
            name: route.task_type.to_string(),
            version: 0,
        },
    };
    types::TaskHandle {
        category,
        resource_meta: agent_meta,
        output_prefix: output_prefix.to_string(),
    }
}

/// `agent_error.code` of a task whose agent answered over its size limit.
const OUTPUT_TOO_LARGE: &str = "OutputTooLarge";

/// An answer over `max_output_bytes` fails the task (a failed, non-retryable
/// Resource naming the limit), like any other agent bug such as outputs
/// that do not fit the interface: retrying would produce the same answer,
/// and propeller turns gRPC errors into retries. Any other call error stays
/// a gRPC error. (Calls that answer no Resource, delete and the
/// observability ones, report it as RESOURCE_EXHAUSTED.)
fn answer_too_large(error: CallError) -> Result<admin::Resource, TaskError> {
    match error {
        CallError::OutputTooLarge { .. } => {
            Ok(resource::failed(error.to_string(), OUTPUT_TOO_LARGE, false))
        }
        other => Err(other.into()),
    }
}

fn agent_refused(error: types::AgentError) -> TaskError {
    TaskError::Agent {
        message: error.message,
        recoverable: error.kind == types::ErrorKind::Recoverable,
    }
}

/// The log context of a call that carries a task: the idempotency key
/// `build_task` already computed when propeller sent an execution id (the
/// same key it would compute again), none for a local run.
fn task_log_context(
    plugin: &Plugin,
    metadata: Option<&TaskExecutionMetadata>,
    task: &types::Task,
) -> LogContext {
    let has_execution_id = metadata.is_some_and(|m| m.task_execution_id.is_some());
    LogContext {
        plugin: plugin.name().to_string(),
        task: if has_execution_id {
            task.idempotency_key.clone()
        } else {
            String::new()
        },
    }
}

/// The log context of a call on a handle (get, delete, logs, metrics): the
/// handle carries no execution id, so no task key.
fn log_context(plugin: &Plugin) -> LogContext {
    LogContext {
        plugin: plugin.name().to_string(),
        task: String::new(),
    }
}
