//! `hangar serve`: load the plugin directory, keep it live (see `watch`)
//! and serve it until SIGINT or SIGTERM, then drain (see `grpc::serve`).

use std::sync::Arc;

use anyhow::Context;

use crate::audit::AuditEvent;
use crate::cli::{DEFAULT_METRICS_LISTEN, MetricsListen, ServeArgs};
use crate::registry::{LiveRegistry, Loader};
use crate::runtime::engine::{PoolSettings, build_engine, start_epoch_ticker};
use crate::tasks::Tasks;

pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let config = args.runtime.host_config()?;
    let limits = args.runtime.default_limits(&config)?;
    let settings = args.settings(&config)?;
    let tls = match &settings.tls {
        Some((cert, key)) => Some(tonic::transport::Identity::from_pem(
            std::fs::read(cert)
                .with_context(|| format!("cannot read the TLS certificate {}", cert.display()))?,
            std::fs::read(key)
                .with_context(|| format!("cannot read the TLS key {}", key.display()))?,
        )),
        None => None,
    };
    if let Some(identity) = &tls {
        // Checked before listening, so a bad file stops start-up.
        tonic::transport::Server::builder()
            .tls_config(tonic::transport::ServerTlsConfig::new().identity(identity.clone()))
            .map_err(|e| anyhow::anyhow!("invalid TLS certificate or key: {e}"))?;
    }
    let services = args.runtime.host_services(&config, false)?;
    let components = crate::registry::component_files(&settings.plugins).unwrap_or_default();
    let fuel = crate::limits::fuel_metering_needed(&limits, &components);
    if fuel {
        tracing::info!("fuel metering is on: the host config or a manifest sets limits.fuel");
    }
    let engine = build_engine(
        Some(PoolSettings {
            max_instances: settings.max_instances,
            ..PoolSettings::default()
        }),
        fuel,
        settings.profiling,
    )?;
    let ticker = start_epoch_ticker(&engine);
    let loader = Loader::new(
        engine,
        args.runtime.cache_dir(&config),
        limits,
        services,
        ticker.activity(),
    )?;
    // Taken before loading, so a file that changes meanwhile is reloaded.
    let before_load = match settings.watch {
        Some(_) => Some(crate::watch::scan(&settings.plugins)),
        None => None,
    };
    let (registry, skipped) = loader.load_dir(&settings.plugins).await?;
    let loaded = registry.plugins().count();
    crate::metrics::global().load_failed(skipped.len());
    if !skipped.is_empty() {
        tracing::warn!(
            skipped = skipped.len(),
            "some plugin files were not loaded (each is named in an error above)"
        );
    }
    if loaded == 0 {
        tracing::warn!(plugins = %settings.plugins.display(), skipped = skipped.len(), "no plugin loaded; serving no task types");
    }
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("cannot listen on {}", settings.listen))?;
    let address = crate::grpc::bound_address(&listener);
    tracing::info!(
        address = %address.map(|a| a.to_string()).unwrap_or_default(),
        plugins = loaded,
        skipped = skipped.len(),
        tls = tls.is_some(),
        worker_threads = tokio::runtime::Handle::current().metrics().num_workers(),
        scheduler = crate::scheduler::running(),
        lifo_slot = crate::scheduler::lifo_slot(),
        "serving"
    );
    // Before the gRPC banner, so whoever waits for that has seen this too.
    let metrics_listen = match args.metrics_listen {
        Some(listen) => Some(listen),
        None => config
            .server
            .metrics_listen
            .as_deref()
            .map(crate::cli::parse_metrics_listen)
            .transpose()
            .map_err(|e| anyhow::anyhow!("[server] metrics_listen in the config file: {e}"))?,
    };
    start_metrics(metrics_listen).await?;
    // Tests start Hangar on port 0 and read the port from this line.
    if let Some(address) = address {
        println!("hangar listening on {address}");
    }
    let live = Arc::new(LiveRegistry::new(Arc::new(registry)));
    crate::metrics::set_plugin_count({
        let live = live.clone();
        move || live.current().plugins().count()
    });
    let tasks = Tasks::live(live.clone());
    let loader = Arc::new(loader);
    let watcher = match (settings.watch, before_load) {
        (Some(debounce), Some(Ok(snapshot))) => Some(tokio::spawn(crate::watch::run(
            settings.plugins.clone(),
            debounce,
            snapshot,
            loader.clone(),
            live.clone(),
        ))),
        (Some(_), Some(Err(e))) => {
            tracing::warn!(plugins = %settings.plugins.display(), "not watching the plugin directory, it cannot be read: {e}");
            None
        }
        _ => None,
    };
    let port = crate::grpc::PortOptions {
        tls,
        drain: settings.drain,
        grace: settings.grace,
    };
    let served = crate::grpc::serve(
        tasks,
        listener,
        settings.max_request_bytes,
        port,
        shutdown_signal(),
    )
    .await;
    if let Some(watcher) = watcher {
        watcher.abort();
    }
    // The server has stopped: every plugin is unloaded with it.
    for plugin in live.current().plugins() {
        loader.services.audit.record(AuditEvent::PluginUnloaded {
            plugin: plugin.capabilities.plugin.clone(),
            file: plugin.file.display().to_string(),
        });
    }
    served
}

/// Serves `/metrics` on its own port (see `metrics::server`). The default
/// port being taken only costs the metrics; an address that was asked for
/// must be served.
async fn start_metrics(listen: Option<MetricsListen>) -> anyhow::Result<()> {
    let address = match listen.unwrap_or(DEFAULT_METRICS_LISTEN) {
        MetricsListen::Off => return Ok(()),
        MetricsListen::On(address) => address,
    };
    match crate::metrics::server::start(address).await {
        Ok(bound) => {
            tracing::info!(address = %bound, "serving Prometheus metrics on /metrics");
            println!("hangar metrics on {bound}");
            Ok(())
        }
        Err(e) if listen.is_none() => {
            tracing::warn!(
                "{e:#}: serving no metrics (set --metrics-listen to another address, or `off`)"
            );
            Ok(())
        }
        Err(e) => Err(e),
    }
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
    tracing::info!("shutdown signal received");
}
