//! The floor: a native tonic server answering the agent RPCs with
//! precomputed responses. No agent host can beat it on this machine: it
//! decodes the request (tonic does) and sends bytes it computed at start-up.

use std::net::SocketAddr;
use std::pin::Pin;

use anyhow::{Context, Result};
use futures::Stream;
use tonic::{Request, Response, Status, Streaming};

use crate::proto::flyteidl::admin::{
    CreateTaskRequest, CreateTaskResponse, DeleteTaskRequest, DeleteTaskResponse,
    ExecuteTaskSyncRequest, ExecuteTaskSyncResponse, ExecuteTaskSyncResponseHeader,
    GetTaskLogsRequest, GetTaskLogsResponse, GetTaskMetricsRequest, GetTaskMetricsResponse,
    GetTaskRequest, GetTaskResponse, Resource, execute_task_sync_response::Res,
};
use crate::proto::flyteidl::service::{
    async_agent_service_server::{AsyncAgentService, AsyncAgentServiceServer},
    sync_agent_service_server::{SyncAgentService, SyncAgentServiceServer},
};
use crate::request;

/// The answers, computed once.
#[derive(Clone)]
struct Floor {
    create: CreateTaskResponse,
    get: GetTaskResponse,
    sync: ExecuteTaskSyncResponse,
}

impl Floor {
    fn new() -> Self {
        let resource = Resource {
            state: 4, // SUCCEEDED
            phase: 3, // SUCCEEDED
            outputs: Some(request::inputs()),
            ..Default::default()
        };
        Self {
            create: CreateTaskResponse {
                resource_meta: br#"{"n":3,"s":"hi"}"#.to_vec(),
            },
            get: GetTaskResponse {
                resource: Some(resource.clone()),
            },
            sync: ExecuteTaskSyncResponse {
                res: Some(Res::Header(ExecuteTaskSyncResponseHeader {
                    resource: Some(resource),
                })),
            },
        }
    }
}

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl AsyncAgentService for Floor {
    async fn create_task(
        &self,
        _request: Request<CreateTaskRequest>,
    ) -> Result<Response<CreateTaskResponse>, Status> {
        Ok(Response::new(self.create.clone()))
    }

    async fn get_task(
        &self,
        _request: Request<GetTaskRequest>,
    ) -> Result<Response<GetTaskResponse>, Status> {
        Ok(Response::new(self.get.clone()))
    }

    async fn delete_task(
        &self,
        _request: Request<DeleteTaskRequest>,
    ) -> Result<Response<DeleteTaskResponse>, Status> {
        Ok(Response::new(DeleteTaskResponse {}))
    }

    async fn get_task_metrics(
        &self,
        _request: Request<GetTaskMetricsRequest>,
    ) -> Result<Response<GetTaskMetricsResponse>, Status> {
        Err(Status::unimplemented("the floor has no metrics"))
    }

    type GetTaskLogsStream = BoxStream<GetTaskLogsResponse>;

    async fn get_task_logs(
        &self,
        _request: Request<GetTaskLogsRequest>,
    ) -> Result<Response<Self::GetTaskLogsStream>, Status> {
        Err(Status::unimplemented("the floor has no logs"))
    }
}

#[tonic::async_trait]
impl SyncAgentService for Floor {
    type ExecuteTaskSyncStream = BoxStream<ExecuteTaskSyncResponse>;

    async fn execute_task_sync(
        &self,
        request: Request<Streaming<ExecuteTaskSyncRequest>>,
    ) -> Result<Response<Self::ExecuteTaskSyncStream>, Status> {
        // Read the header and the inputs, as a real server must.
        let mut stream = request.into_inner();
        for _ in 0..2 {
            if stream.message().await?.is_none() {
                return Err(Status::invalid_argument("expected a header and inputs"));
            }
        }
        let answer = self.sync.clone();
        Ok(Response::new(Box::pin(futures::stream::once(async move {
            Ok(answer)
        }))))
    }
}

/// Serves the floor on `listen` until killed; prints
/// `floor listening on ADDR` once bound.
pub async fn serve(listen: SocketAddr) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let address = listener.local_addr()?;
    let floor = Floor::new();
    println!("floor listening on {address}");
    tonic::transport::Server::builder()
        .add_service(AsyncAgentServiceServer::new(floor.clone()))
        .add_service(SyncAgentServiceServer::new(floor))
        .serve_with_incoming(without_nagle(listener))
        .await
        .context("the floor server failed")
}

/// Accepted connections with `TCP_NODELAY` set, as Hangar's server does
/// (host/src/grpc/accept.rs says why): tonic sets it only on listeners it
/// binds itself, and a floor left with Nagle on would wait for delayed ACKs
/// that no real server waits for.
fn without_nagle(
    listener: tokio::net::TcpListener,
) -> impl futures::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    use futures::StreamExt;
    tokio_stream::wrappers::TcpListenerStream::new(listener).map(|accepted| {
        let stream = accepted?;
        let _ = stream.set_nodelay(true);
        Ok(stream)
    })
}
