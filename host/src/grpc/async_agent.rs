//! `flyteidl.service.AsyncAgentService`: translates each RPC into a task
//! operation and its answer back into flyteidl messages.

use std::pin::Pin;

use futures::Stream;
use tonic::{Request, Response, Status};

use super::status::to_status;
use crate::proto::flyteidl::admin::{
    self, CreateTaskRequest, CreateTaskResponse, DeleteTaskRequest, DeleteTaskResponse,
    GetTaskLogsRequest, GetTaskLogsResponse, GetTaskMetricsRequest, GetTaskMetricsResponse,
    GetTaskRequest, GetTaskResponse, get_task_logs_response,
};
use crate::proto::flyteidl::core::ExecutionMetricResult;
use crate::proto::flyteidl::service::async_agent_service_server::AsyncAgentService;
use crate::runtime::types;
use crate::tasks::{Route, Tasks};

pub struct AsyncAgents {
    pub tasks: Tasks,
}

type LogStream = Pin<Box<dyn Stream<Item = Result<GetTaskLogsResponse, Status>> + Send>>;

#[tonic::async_trait]
impl AsyncAgentService for AsyncAgents {
    async fn create_task(
        &self,
        request: Request<CreateTaskRequest>,
    ) -> Result<Response<CreateTaskResponse>, Status> {
        let req = request.into_inner();
        let resource_meta = self
            .tasks
            .create(
                req.template.as_deref(),
                req.inputs.as_ref(),
                &req.received,
                &req.output_prefix,
                req.task_execution_metadata.as_deref(),
            )
            .await
            .map_err(to_status)?;
        Ok(Response::new(CreateTaskResponse { resource_meta }))
    }

    async fn get_task(
        &self,
        request: Request<GetTaskRequest>,
    ) -> Result<Response<GetTaskResponse>, Status> {
        let req = request.into_inner();
        let route = Route {
            category: req.task_category.as_ref(),
            task_type: &req.task_type,
        };
        let resource = self
            .tasks
            .get(route, &req.resource_meta, &req.output_prefix)
            .await
            .map_err(to_status)?;
        Ok(Response::new(GetTaskResponse {
            resource: Some(resource),
        }))
    }

    async fn delete_task(
        &self,
        request: Request<DeleteTaskRequest>,
    ) -> Result<Response<DeleteTaskResponse>, Status> {
        let req = request.into_inner();
        let route = Route {
            category: req.task_category.as_ref(),
            task_type: &req.task_type,
        };
        self.tasks
            .delete(route, &req.resource_meta)
            .await
            .map_err(to_status)?;
        Ok(Response::new(DeleteTaskResponse {}))
    }

    async fn get_task_metrics(
        &self,
        request: Request<GetTaskMetricsRequest>,
    ) -> Result<Response<GetTaskMetricsResponse>, Status> {
        let req = request.into_inner();
        let route = Route {
            category: req.task_category.as_ref(),
            task_type: &req.task_type,
        };
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
            .metrics(route, &req.resource_meta, query)
            .await
            .map_err(to_status)?;
        let results = results
            .into_iter()
            .map(|r| {
                let data = match serde_json::from_str::<serde_json::Value>(&r.data) {
                    Ok(serde_json::Value::Object(object)) => {
                        crate::struct_json::json_to_struct(&object)
                    }
                    _ => {
                        return Err(Status::internal(format!(
                            "the agent returned metric \"{}\" whose data is not a JSON object",
                            r.metric
                        )));
                    }
                };
                Ok(ExecutionMetricResult {
                    metric: r.metric,
                    data: Some(data),
                })
            })
            .collect::<Result<Vec<_>, Status>>()?;
        Ok(Response::new(GetTaskMetricsResponse { results }))
    }

    type GetTaskLogsStream = LogStream;

    async fn get_task_logs(
        &self,
        request: Request<GetTaskLogsRequest>,
    ) -> Result<Response<Self::GetTaskLogsStream>, Status> {
        let req = request.into_inner();
        let route = Route {
            category: req.task_category.as_ref(),
            task_type: &req.task_type,
        };
        let page = self
            .tasks
            .logs(route, &req.resource_meta, req.lines, &req.token)
            .await
            .map_err(to_status)?;
        let header = GetTaskLogsResponse {
            part: Some(get_task_logs_response::Part::Header(
                admin::GetTaskLogsResponseHeader {
                    token: page.next_token,
                },
            )),
        };
        let body = GetTaskLogsResponse {
            part: Some(get_task_logs_response::Part::Body(
                admin::GetTaskLogsResponseBody {
                    structured_lines: page
                        .lines
                        .iter()
                        .map(|line| admin::LogLine {
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

fn timestamp(t: &prost_types::Timestamp) -> types::Timestamp {
    types::Timestamp {
        seconds: t.seconds,
        nanos: u32::try_from(t.nanos).unwrap_or(0),
    }
}
