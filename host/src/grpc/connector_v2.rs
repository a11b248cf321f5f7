//! Flyte 2's connector API (`flyteidl2.connector`): `AsyncConnectorService`
//! and `ConnectorMetadataService`, served on the same port and from the same
//! plugins as flyteidl v1's agent services.
//!
//! This module only translates. Requests become the v1 task operations of
//! [`Tasks`] and their answers are turned back into flyteidl2 messages, so
//! Flyte's rules (routing, `resource_meta`, typed outputs) stay in one place
//! and a `resource_meta` made through either API works through the other.
//!
//! Translation:
//! - Types flyteidl2 copied from flyteidl (`TaskTemplate`, `Literal`,
//!   `TaskExecutionMetadata`, `TaskLog`, ...) keep their field numbers, so
//!   they are converted by re-decoding their bytes ([`transcode`]). Fields
//!   only flyteidl2 has (e.g. `TaskTemplate.reuse_policy`,
//!   `Literal.artifact_id`) are not seen by the guest, and the template bytes
//!   it receives are the v1 encoding.
//! - `Inputs` and `Outputs` are lists of named literals; v1 uses a
//!   `LiteralMap`. Inputs with one name twice are refused; outputs are listed
//!   in name order. `Inputs.context` is not passed to the guest.
//! - `Resource` has no `state` and no `agent_error`: a failed task is its
//!   phase (FAILED or RETRYABLE_FAILED) and message.
//! - There is no sync service and no `is_sync` in Flyte 2: sync plugins are
//!   not listed as connectors, and creating one of their tasks is NOT_FOUND.
//! - `connection` (create/get/delete) is accepted and ignored: Hangar grants
//!   secrets to plugins itself, so the plaintext `secrets` the Flyte 2 plugin
//!   sends are never passed to a guest (one debug line notes them, without
//!   values); `configs` are not passed either.

use std::pin::Pin;

use futures::Stream;
use prost::Message;
use tonic::{Request, Response, Status};

use super::status::to_status;
use crate::proto::flyteidl::{admin, core as core_v1};
use crate::proto::flyteidl2::connector::{
    self as v2, async_connector_service_server::AsyncConnectorService,
    connector_metadata_service_server::ConnectorMetadataService, get_task_logs_response,
};
use crate::proto::flyteidl2::core::{self as core_v2, ExecutionMetricResult};
use crate::proto::flyteidl2::logs::dataplane::LogLine;
use crate::proto::flyteidl2::task::{Inputs, NamedLiteral, Outputs};
use crate::runtime::{Plugin, types};
use crate::tasks::{Route, Tasks};

/// `flyteidl2.connector.AsyncConnectorService`.
pub struct AsyncConnectors {
    pub tasks: Tasks,
}

/// `flyteidl2.connector.ConnectorMetadataService`.
pub struct ConnectorMetadata {
    pub tasks: Tasks,
}

type LogStream = Pin<Box<dyn Stream<Item = Result<v2::GetTaskLogsResponse, Status>> + Send>>;

#[tonic::async_trait]
impl AsyncConnectorService for AsyncConnectors {
    async fn create_task(
        &self,
        request: Request<v2::CreateTaskRequest>,
    ) -> Result<Response<v2::CreateTaskResponse>, Status> {
        let req = request.into_inner();
        ignore_connection(req.connection.as_ref());
        let template: Option<core_v1::TaskTemplate> = req
            .template
            .as_ref()
            .map(|t| transcode(t, "template"))
            .transpose()?;
        if let Some(template) = &template {
            self.refuse_sync(template)?;
        }
        let inputs = req.inputs.as_ref().map(inputs_to_v1).transpose()?;
        let metadata: Option<admin::TaskExecutionMetadata> = req
            .task_execution_metadata
            .as_ref()
            .map(|m| transcode(m, "task_execution_metadata"))
            .transpose()?;
        let resource_meta = self
            .tasks
            .create(
                template.as_ref(),
                inputs.as_ref(),
                &admin::Received::default(),
                &req.output_prefix,
                metadata.as_ref(),
            )
            .await
            .map_err(to_status)?;
        Ok(Response::new(v2::CreateTaskResponse { resource_meta }))
    }

    async fn get_task(
        &self,
        request: Request<v2::GetTaskRequest>,
    ) -> Result<Response<v2::GetTaskResponse>, Status> {
        let req = request.into_inner();
        ignore_connection(req.connection.as_ref());
        let category = category_to_v1(req.task_category.as_ref())?;
        let resource = self
            .tasks
            .get(route(&category), &req.resource_meta, &req.output_prefix)
            .await
            .map_err(to_status)?;
        Ok(Response::new(v2::GetTaskResponse {
            resource: Some(resource_to_v2(resource)?),
        }))
    }

    async fn delete_task(
        &self,
        request: Request<v2::DeleteTaskRequest>,
    ) -> Result<Response<v2::DeleteTaskResponse>, Status> {
        let req = request.into_inner();
        ignore_connection(req.connection.as_ref());
        let category = category_to_v1(req.task_category.as_ref())?;
        self.tasks
            .delete(route(&category), &req.resource_meta)
            .await
            .map_err(to_status)?;
        Ok(Response::new(v2::DeleteTaskResponse {}))
    }

    async fn get_task_metrics(
        &self,
        request: Request<v2::GetTaskMetricsRequest>,
    ) -> Result<Response<v2::GetTaskMetricsResponse>, Status> {
        let req = request.into_inner();
        let category = category_to_v1(req.task_category.as_ref())?;
        let query = types::MetricsQuery {
            queries: req.queries.clone(),
            start_time: req.start_time.as_ref().map(timestamp),
            end_time: req.end_time.as_ref().map(timestamp),
            step_seconds: req
                .step
                .as_ref()
                .map(|d| d.seconds as f64 + f64::from(d.nanos) / 1e9),
        };
        let results = self
            .tasks
            .metrics(route(&category), &req.resource_meta, query)
            .await
            .map_err(to_status)?;
        let results = results
            .into_iter()
            .map(
                |r| match serde_json::from_str::<serde_json::Value>(&r.data) {
                    Ok(serde_json::Value::Object(object)) => Ok(ExecutionMetricResult {
                        metric: r.metric,
                        data: Some(crate::struct_json::json_to_struct(&object)),
                    }),
                    _ => Err(Status::internal(format!(
                        "the agent returned metric \"{}\" whose data is not a JSON object",
                        r.metric
                    ))),
                },
            )
            .collect::<Result<Vec<_>, Status>>()?;
        Ok(Response::new(v2::GetTaskMetricsResponse { results }))
    }

    type GetTaskLogsStream = LogStream;

    async fn get_task_logs(
        &self,
        request: Request<v2::GetTaskLogsRequest>,
    ) -> Result<Response<Self::GetTaskLogsStream>, Status> {
        let req = request.into_inner();
        let category = category_to_v1(req.task_category.as_ref())?;
        let page = self
            .tasks
            .logs(route(&category), &req.resource_meta, req.lines, &req.token)
            .await
            .map_err(to_status)?;
        let header = v2::GetTaskLogsResponse {
            part: Some(get_task_logs_response::Part::Header(
                v2::GetTaskLogsResponseHeader {
                    token: page.next_token,
                },
            )),
        };
        let body = v2::GetTaskLogsResponse {
            part: Some(get_task_logs_response::Part::Body(
                v2::GetTaskLogsResponseBody {
                    lines: page
                        .lines
                        .iter()
                        .map(|line| LogLine {
                            message: line.clone(),
                            ..Default::default()
                        })
                        .collect(),
                    results: page.lines,
                },
            )),
        };
        Ok(Response::new(Box::pin(futures::stream::iter([
            Ok(header),
            Ok(body),
        ]))))
    }
}

impl AsyncConnectors {
    /// Flyte 2 cannot call a sync plugin: say so instead of pointing at a
    /// v1 service the caller does not speak.
    fn refuse_sync(&self, template: &core_v1::TaskTemplate) -> Result<(), Status> {
        let plugin = self
            .tasks
            .registry()
            .resolve(
                Some((template.r#type.as_str(), template.task_type_version)),
                &template.r#type,
            )
            .map_err(|e| to_status(e.into()))?;
        if plugin.is_sync() {
            return Err(Status::not_found(format!(
                "task type \"{}\" is served by the sync agent \"{}\", which Flyte 2 connectors cannot call (flyteidl2 has no sync service); Flyte 1 calls it through SyncAgentService",
                template.r#type,
                plugin.name()
            )));
        }
        Ok(())
    }
}

/// One async plugin as a `Connector`.
fn connector_of(plugin: &Plugin) -> v2::Connector {
    v2::Connector {
        name: plugin.name().to_string(),
        supported_task_categories: plugin
            .info
            .categories
            .iter()
            .map(|c| v2::TaskCategory {
                name: c.name.clone(),
                version: c.version,
            })
            .collect(),
    }
}

#[tonic::async_trait]
impl ConnectorMetadataService for ConnectorMetadata {
    async fn get_connector(
        &self,
        request: Request<v2::GetConnectorRequest>,
    ) -> Result<Response<v2::GetConnectorResponse>, Status> {
        let name = request.into_inner().name;
        let registry = self.tasks.registry();
        match registry.by_name(&name).filter(|p| !p.is_sync()) {
            Some(plugin) => Ok(Response::new(v2::GetConnectorResponse {
                connector: Some(connector_of(&plugin)),
            })),
            None => {
                let known: Vec<&str> = registry
                    .plugins()
                    .filter(|p| !p.is_sync())
                    .map(|p| p.name())
                    .collect();
                Err(Status::not_found(format!(
                    "no connector named \"{name}\"; known connectors: {}",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                )))
            }
        }
    }

    async fn list_connectors(
        &self,
        _request: Request<v2::ListConnectorsRequest>,
    ) -> Result<Response<v2::ListConnectorsResponse>, Status> {
        let connectors = self
            .tasks
            .registry()
            .plugins()
            .filter(|p| !p.is_sync())
            .map(|p| connector_of(p))
            .collect();
        Ok(Response::new(v2::ListConnectorsResponse { connectors }))
    }
}

// --------------------------------------------------------------------------
// Message translation

/// Converts between a flyteidl2 message and its flyteidl twin with the same
/// field numbers by re-decoding its bytes. Fields the target does not have
/// are dropped.
fn transcode<A: Message, B: Message + Default>(from: &A, what: &str) -> Result<B, Status> {
    B::decode(from.encode_to_vec().as_slice())
        .map_err(|e| Status::invalid_argument(format!("cannot read {what}: {e}")))
}

/// Named literals as a v1 `LiteralMap`; a name given twice is refused.
fn inputs_to_v1(inputs: &Inputs) -> Result<core_v1::LiteralMap, Status> {
    let mut map = core_v1::LiteralMap::default();
    for named in &inputs.literals {
        let value: core_v1::Literal = match &named.value {
            Some(literal) => transcode(literal, "an input literal")?,
            None => core_v1::Literal::default(),
        };
        if map.literals.insert(named.name.clone(), value).is_some() {
            return Err(Status::invalid_argument(format!(
                "input \"{}\" is given more than once",
                named.name
            )));
        }
    }
    Ok(map)
}

/// A v1 `LiteralMap` as `Outputs`, in name order (protobuf maps are
/// `BTreeMap`s).
fn outputs_to_v2(outputs: core_v1::LiteralMap) -> Result<Outputs, Status> {
    Ok(Outputs {
        literals: outputs
            .literals
            .into_iter()
            .map(|(name, literal)| {
                Ok(NamedLiteral {
                    name,
                    value: Some(transcode_out(&literal)?),
                })
            })
            .collect::<Result<_, Status>>()?,
        produced_artifacts: Vec::new(),
    })
}

/// [`transcode`] for answers: a failure is Hangar's, not the caller's.
fn transcode_out<A: Message, B: Message + Default>(from: &A) -> Result<B, Status> {
    B::decode(from.encode_to_vec().as_slice())
        .map_err(|e| Status::internal(format!("cannot convert the answer to flyteidl2: {e}")))
}

/// A v1 Resource without `state` and `agent_error` (the phase and message
/// already say how the task ended).
fn resource_to_v2(resource: admin::Resource) -> Result<v2::Resource, Status> {
    Ok(v2::Resource {
        outputs: resource.outputs.map(outputs_to_v2).transpose()?,
        message: resource.message,
        log_links: resource
            .log_links
            .iter()
            .map(transcode_out::<core_v1::TaskLog, core_v2::TaskLog>)
            .collect::<Result<_, Status>>()?,
        // Both enums are flyteidl.core.TaskExecution.Phase, number for number.
        phase: resource.phase,
        custom_info: resource.custom_info,
    })
}

/// Flyte 2 always routes by category (there is no `task_type` string).
fn category_to_v1(category: Option<&v2::TaskCategory>) -> Result<admin::TaskCategory, Status> {
    match category {
        Some(c) if !c.name.is_empty() => Ok(admin::TaskCategory {
            name: c.name.clone(),
            version: c.version,
        }),
        _ => Err(Status::invalid_argument("task_category is required")),
    }
}

fn route(category: &admin::TaskCategory) -> Route<'_> {
    Route {
        category: Some(category),
        task_type: &category.name,
    }
}

/// Hangar grants secrets to plugins itself (manifests, secret store): the
/// plaintext secrets of a Flyte 2 `connection` are never given to a guest.
fn ignore_connection(connection: Option<&core_v2::Connection>) {
    if let Some(connection) = connection
        && (!connection.secrets.is_empty() || !connection.configs.is_empty())
    {
        tracing::debug!(
            secrets = connection.secrets.len(),
            configs = connection.configs.len(),
            "ignoring the request's connection: plugins get secrets from Hangar's own grants"
        );
    }
}

fn timestamp(t: &prost_types::Timestamp) -> types::Timestamp {
    types::Timestamp {
        seconds: t.seconds,
        nanos: u32::try_from(t.nanos).unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::flyteidl::admin::{State, agent_error};
    use crate::proto::flyteidl::core::{
        Primitive, Scalar, literal, primitive, scalar, task_execution::Phase,
    };

    fn int_literal_v1(value: i64) -> core_v1::Literal {
        core_v1::Literal {
            value: Some(literal::Value::Scalar(Box::new(Scalar {
                value: Some(scalar::Value::Primitive(Primitive {
                    value: Some(primitive::Value::Integer(value)),
                })),
            }))),
            ..Default::default()
        }
    }

    #[test]
    fn named_literals_become_a_literal_map_and_back() {
        let inputs = Inputs {
            literals: vec![
                NamedLiteral {
                    name: "b".into(),
                    value: Some(transcode(&int_literal_v1(2), "").unwrap()),
                },
                NamedLiteral {
                    name: "a".into(),
                    value: Some(transcode(&int_literal_v1(1), "").unwrap()),
                },
            ],
            context: vec![core_v2::KeyValuePair {
                key: "k".into(),
                value: "v".into(),
            }],
        };
        let map = inputs_to_v1(&inputs).unwrap();
        assert_eq!(map.literals["a"], int_literal_v1(1));
        assert_eq!(map.literals["b"], int_literal_v1(2));
        // The same bytes as a LiteralMap, for these types.
        let outputs = outputs_to_v2(map).unwrap();
        let names: Vec<_> = outputs.literals.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(
            core_v1::LiteralMap::decode(outputs.encode_to_vec().as_slice())
                .unwrap()
                .literals["b"],
            int_literal_v1(2)
        );
    }

    #[test]
    fn duplicate_input_names_are_refused() {
        let twice = NamedLiteral {
            name: "x".into(),
            value: None,
        };
        let inputs = Inputs {
            literals: vec![twice.clone(), twice],
            context: vec![],
        };
        let status = inputs_to_v1(&inputs).unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
    }

    #[test]
    fn variable_entries_read_as_a_v1_map() {
        // flyteidl2's VariableMap is a list of (key, value) entries, which is
        // how protobuf encodes v1's map<string, Variable>.
        let v2_map = core_v2::VariableMap {
            variables: vec![core_v2::VariableEntry {
                key: "out".into(),
                value: Some(core_v2::Variable {
                    description: "the output".into(),
                    ..Default::default()
                }),
            }],
        };
        let v1_map: core_v1::VariableMap = transcode(&v2_map, "").unwrap();
        assert_eq!(v1_map.variables["out"].description, "the output");
    }

    #[test]
    fn failed_resource_keeps_phase_and_message() {
        let v1 = admin::Resource {
            state: State::PermanentFailure as i32,
            message: "broken".into(),
            phase: Phase::Failed as i32,
            agent_error: Some(admin::AgentError {
                code: "Broken".into(),
                kind: agent_error::Kind::NonRecoverable as i32,
                ..Default::default()
            }),
            log_links: vec![core_v1::TaskLog {
                uri: "https://example.invalid/1".into(),
                name: "console".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let v2 = resource_to_v2(v1).unwrap();
        assert_eq!(
            v2.phase,
            core_v2::task_execution::Phase::Failed as i32,
            "phase numbers agree"
        );
        assert_eq!(v2.message, "broken");
        assert_eq!(v2.log_links[0].name, "console");
        assert!(v2.outputs.is_none());
    }

    #[test]
    fn category_is_required() {
        assert_eq!(
            category_to_v1(None).unwrap_err().code(),
            tonic::Code::InvalidArgument
        );
        let c = category_to_v1(Some(&v2::TaskCategory {
            name: "echo".into(),
            version: 0,
        }))
        .unwrap();
        assert_eq!((c.name.as_str(), c.version), ("echo", 0));
    }
}
