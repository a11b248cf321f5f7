//! `hangar serve`: load the plugin directory and serve it until SIGINT or
//! SIGTERM.

use std::sync::Arc;

use anyhow::Context;

use crate::audit::AuditEvent;
use crate::cli::ServeArgs;
use crate::registry::Loader;
use crate::runtime::engine::{PoolSettings, build_engine, start_epoch_ticker};
use crate::tasks::Tasks;

pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let config = args.runtime.host_config()?;
    let limits = args.runtime.default_limits(&config)?;
    let services = args.runtime.host_services(&config, false)?;
    let components = crate::registry::component_files(&args.plugins).unwrap_or_default();
    let fuel = crate::limits::fuel_metering_needed(&limits, &components);
    if fuel {
        tracing::info!("fuel metering is on: the host config or a manifest sets limits.fuel");
    }
    let engine = build_engine(
        Some(PoolSettings {
            max_instances: args.max_instances,
            ..PoolSettings::default()
        }),
        fuel,
    )?;
    let _ticker = start_epoch_ticker(&engine);
    let loader = Loader::new(engine, args.runtime.cache_dir(), limits, services)?;
    let (registry, skipped) = loader.load_dir(&args.plugins).await?;
    let loaded = registry.plugins().count();
    if !skipped.is_empty() {
        tracing::warn!(
            skipped = skipped.len(),
            "some plugin files were not loaded (each is named in an error above)"
        );
    }
    if loaded == 0 {
        tracing::warn!(plugins = %args.plugins.display(), skipped = skipped.len(), "no plugin loaded; serving no task types");
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let address = crate::grpc::bound_address(&listener);
    tracing::info!(
        address = %address.map(|a| a.to_string()).unwrap_or_default(),
        plugins = loaded,
        skipped = skipped.len(),
        "serving"
    );
    // Tests start Hangar on port 0 and read the port from this line.
    if let Some(address) = address {
        println!("hangar listening on {address}");
    }
    let registry = Arc::new(registry);
    let tasks = Tasks::new(registry.clone());
    let served =
        crate::grpc::serve(tasks, listener, args.max_request_bytes, shutdown_signal()).await;
    // The server has stopped: every plugin is unloaded with it.
    for plugin in registry.plugins() {
        loader.services.audit.record(AuditEvent::PluginUnloaded {
            plugin: plugin.capabilities.plugin.clone(),
            file: plugin.file.display().to_string(),
        });
    }
    served
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}
