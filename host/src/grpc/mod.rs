//! gRPC translation: serves flyteidl's agent services, health and
//! reflection on one port. Each service only converts between flyteidl
//! messages and task operations; Flyte's rules live in `tasks`.

mod async_agent;
mod metadata;
mod request_limit;
mod status;
mod sync_agent;

use std::net::SocketAddr;

use anyhow::Context;
use tonic::transport::Server;
use tonic_health::ServingStatus;

use crate::proto::flyteidl::service::{
    agent_metadata_service_server::AgentMetadataServiceServer,
    async_agent_service_server::AsyncAgentServiceServer,
    sync_agent_service_server::SyncAgentServiceServer,
};
use crate::tasks::Tasks;

/// Default cap on the bytes of one request.
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 16 * 1024 * 1024;

const SERVICES: [&str; 3] = [
    "flyteidl.service.AsyncAgentService",
    "flyteidl.service.SyncAgentService",
    "flyteidl.service.AgentMetadataService",
];

/// Serves until `shutdown` resolves.
pub async fn serve(
    tasks: Tasks,
    listener: tokio::net::TcpListener,
    max_request_bytes: usize,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_service_status("", ServingStatus::Serving).await;
    for service in SERVICES {
        health
            .set_service_status(service, ServingStatus::Serving)
            .await;
    }
    // v1 for current tools; v1alpha for grpcurl before 1.9 and grpcio-reflection.
    let reflection = reflection_builder()
        .build_v1()
        .context("cannot build the reflection service")?;
    let reflection_alpha = reflection_builder()
        .build_v1alpha()
        .context("cannot build the reflection service")?;
    // The request layer rejects any message declared larger than the limit
    // (RESOURCE_EXHAUSTED) before tonic sees it, so tonic's own check
    // (OUT_OF_RANGE) never fires first.
    let decode_limit = max_request_bytes;

    Server::builder()
        .layer(request_limit::RequestLimitLayer {
            max_bytes: max_request_bytes,
        })
        .add_service(
            AsyncAgentServiceServer::new(async_agent::AsyncAgents {
                tasks: tasks.clone(),
            })
            .max_decoding_message_size(decode_limit),
        )
        .add_service(
            SyncAgentServiceServer::new(sync_agent::SyncAgents {
                tasks: tasks.clone(),
            })
            .max_decoding_message_size(decode_limit),
        )
        .add_service(AgentMetadataServiceServer::new(metadata::AgentMetadata {
            tasks,
        }))
        .add_service(health_service)
        .add_service(reflection)
        .add_service(reflection_alpha)
        .serve_with_incoming_shutdown(
            tokio_stream::wrappers::TcpListenerStream::new(listener),
            shutdown,
        )
        .await
        .context("gRPC server failed")
}

fn reflection_builder() -> tonic_reflection::server::Builder<'static> {
    tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(crate::proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
}

/// The address actually bound, for logs and for tests that ask for port 0.
pub fn bound_address(listener: &tokio::net::TcpListener) -> Option<SocketAddr> {
    listener.local_addr().ok()
}
