//! `flyteidl.service.SyncAgentService`: ExecuteTaskSync is a bidirectional
//! stream of a header then the inputs; propeller reads only the first
//! response, so that one is a header whose Resource already holds the
//! outputs.

use std::pin::Pin;

use futures::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

use super::status::to_status;
use crate::proto::flyteidl::admin::{
    ExecuteTaskSyncRequest, ExecuteTaskSyncResponse, ExecuteTaskSyncResponseHeader,
    execute_task_sync_request::Part, execute_task_sync_response::Res,
};
use crate::proto::flyteidl::service::sync_agent_service_server::SyncAgentService;
use crate::tasks::Tasks;

pub struct SyncAgents {
    pub tasks: Tasks,
}

type ResponseStream = Pin<Box<dyn Stream<Item = Result<ExecuteTaskSyncResponse, Status>> + Send>>;

#[tonic::async_trait]
impl SyncAgentService for SyncAgents {
    type ExecuteTaskSyncStream = ResponseStream;

    async fn execute_task_sync(
        &self,
        request: Request<Streaming<ExecuteTaskSyncRequest>>,
    ) -> Result<Response<Self::ExecuteTaskSyncStream>, Status> {
        let mut stream = request.into_inner();
        let header = match stream.next().await {
            Some(Ok(ExecuteTaskSyncRequest {
                part: Some(Part::Header(header)),
            })) => header,
            Some(Ok(_)) => {
                return Err(Status::invalid_argument(
                    "the first ExecuteTaskSync message must be a header (template, output_prefix, task_execution_metadata)",
                ));
            }
            Some(Err(status)) => return Err(status),
            None => {
                return Err(Status::invalid_argument(
                    "ExecuteTaskSync stream ended before its header",
                ));
            }
        };
        let inputs = match stream.next().await {
            Some(Ok(ExecuteTaskSyncRequest {
                part: Some(Part::Inputs(inputs)),
            })) => Some(inputs),
            Some(Ok(_)) => {
                return Err(Status::invalid_argument(
                    "the second ExecuteTaskSync message must hold the inputs",
                ));
            }
            Some(Err(status)) => return Err(status),
            // A task without inputs may close the stream after the header.
            None => None,
        };
        let resource = self
            .tasks
            .execute_sync(
                header.template.as_ref(),
                inputs.as_ref(),
                &header.output_prefix,
                header.task_execution_metadata.as_ref(),
            )
            .await
            .map_err(to_status)?;
        let response = ExecuteTaskSyncResponse {
            res: Some(Res::Header(ExecuteTaskSyncResponseHeader {
                resource: Some(resource),
            })),
        };
        Ok(Response::new(Box::pin(futures::stream::once(async {
            Ok(response)
        }))))
    }
}
