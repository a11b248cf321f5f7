//! gRPC translation: serves flyteidl's agent services, flyteidl2's
//! connector services (Flyte 2, see `connector_v2`), health and reflection
//! on one port. Each service only converts between flyteidl
//! messages and task operations; Flyte's rules live in `tasks`.

mod accept;
mod async_agent;
mod connector_v2;
mod metadata;
mod request_limit;
mod status;
mod sync_agent;

pub use status::code_of;

use std::net::SocketAddr;

use anyhow::Context;
use tonic::transport::Server;
use tonic_health::ServingStatus;

use crate::proto::flyteidl::service::{
    agent_metadata_service_server::AgentMetadataServiceServer,
    async_agent_service_server::AsyncAgentServiceServer,
    sync_agent_service_server::SyncAgentServiceServer,
};
use crate::proto::flyteidl2::connector::{
    async_connector_service_server::AsyncConnectorServiceServer,
    connector_metadata_service_server::ConnectorMetadataServiceServer,
};
use crate::tasks::Tasks;

/// Default cap on the bytes of one request.
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 16 * 1024 * 1024;

const SERVICES: [&str; 5] = [
    "flyteidl.service.AsyncAgentService",
    "flyteidl.service.SyncAgentService",
    "flyteidl.service.AgentMetadataService",
    "flyteidl2.connector.AsyncConnectorService",
    "flyteidl2.connector.ConnectorMetadataService",
];

/// TLS and graceful shutdown settings of the port.
pub struct PortOptions {
    /// Certificate chain and key (PEM); plaintext when unset.
    pub tls: Option<tonic::transport::Identity>,
    /// After `shutdown` resolves: how long health says NOT_SERVING while
    /// calls are still accepted, so load balancers stop sending new ones.
    pub drain: std::time::Duration,
    /// Then, with new connections and calls refused: how long calls in
    /// flight get to finish before they are dropped.
    pub grace: std::time::Duration,
}

/// Serves until `shutdown` resolves, then drains (see [`PortOptions`]).
pub async fn serve(
    tasks: Tasks,
    listener: tokio::net::TcpListener,
    max_request_bytes: usize,
    port: PortOptions,
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

    let mut builder = Server::builder();
    if let Some(identity) = port.tls {
        builder = builder
            .tls_config(tonic::transport::ServerTlsConfig::new().identity(identity))
            .context("invalid TLS certificate or key")?;
    }
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = builder
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
            tasks: tasks.clone(),
        }))
        // Flyte 2 (flyteidl2.connector), from the same plugins.
        .add_service(
            AsyncConnectorServiceServer::new(connector_v2::AsyncConnectors {
                tasks: tasks.for_api(crate::metrics::Api::Connector),
            })
            .max_decoding_message_size(decode_limit),
        )
        .add_service(ConnectorMetadataServiceServer::new(
            connector_v2::ConnectorMetadata { tasks },
        ))
        .add_service(health_service)
        .add_service(reflection)
        .add_service(reflection_alpha)
        .serve_with_incoming_shutdown(accept::without_nagle(listener), async {
            let _ = stopped.await;
        });
    tokio::pin!(server);
    tokio::select! {
        served = &mut server => return served.context("gRPC server failed"),
        () = shutdown => {}
    }
    // Health first, so probes and load balancers send no new calls...
    health
        .set_service_status("", ServingStatus::NotServing)
        .await;
    for service in SERVICES {
        health
            .set_service_status(service, ServingStatus::NotServing)
            .await;
    }
    tracing::info!(
        drain_ms = port.drain.as_millis() as u64,
        grace_seconds = port.grace.as_secs(),
        "shutting down: health is NOT_SERVING; new calls are refused after the drain delay, calls in flight get the grace period"
    );
    tokio::select! {
        served = &mut server => return served.context("gRPC server failed"),
        () = tokio::time::sleep(port.drain) => {}
    }
    // ...then stop accepting (the listening socket closes, connections get
    // GOAWAY) and wait for the calls in flight.
    let _ = stop.send(());
    match tokio::time::timeout(port.grace, &mut server).await {
        Ok(served) => served.context("gRPC server failed"),
        Err(_) => {
            tracing::warn!(
                grace_seconds = port.grace.as_secs(),
                "the shutdown grace period is over: dropping the calls still running"
            );
            Ok(())
        }
    }
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
