//! Command-line interface: what each subcommand takes and how `--help`
//! explains it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Parser, Subcommand};

use crate::audit::AuditLog;
use crate::config::{self, HostConfig};
use crate::limits;
use crate::runtime::capabilities::HostServices;
use crate::secrets::SecretStore;

#[derive(Debug, Parser)]
#[command(
    name = "hangar",
    version,
    about = "Serve Flyte agents as sandboxed WebAssembly components",
    long_about = "Hangar serves Flyte's agent gRPC API (the one `pyflyte serve agent` serves) from \
WebAssembly components. Each file NAME.wasm in the plugin directory is an agent; an optional \
NAME.toml beside it is the operator's grant file (limits).\n\n\
Quick start:\n  hangar serve --plugins ./plugins --listen 0.0.0.0:8000\n  \
hangar run plugins/echo.wasm --inputs inputs.json",
    after_help = "Logs: set RUST_LOG (e.g. RUST_LOG=hangar=debug). Docs: README.md."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Log line format on stderr: `text` (human-readable) or `json` (one
    /// object per line, with the call's fields, for log collectors); also
    /// `[logging] format` in the config file [default: text]
    #[arg(long, global = true, env = "HANGAR_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
}

impl Cli {
    /// The `--config` file of the command, if it takes one.
    pub fn config_path(&self) -> Option<&Path> {
        match &self.command {
            Command::Serve(args) => args.runtime.config.as_deref(),
            Command::Run(args) => args.runtime.config.as_deref(),
            Command::Inspect(args) => args.runtime.config.as_deref(),
            Command::Check(args) => args.runtime.config.as_deref(),
            Command::Config(_) | Command::New(_) => None,
        }
    }
}

/// See `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve every plugin in a directory over flyteidl's agent gRPC API.
    ///
    /// Serves AsyncAgentService, SyncAgentService and AgentMetadataService,
    /// plus grpc.health.v1.Health and server reflection, on one port.
    /// Point propeller's agent-service (or connector-service) endpoint at it.
    Serve(ServeArgs),
    /// Run one plugin locally the way propeller would: create, poll get
    /// until the job ends and print its outputs (or call do, for a sync
    /// agent). No server, no cluster.
    Run(RunArgs),
    /// Show what plugins are, what they import, what their manifests grant,
    /// and where those disagree. For security reviews; no server needed.
    Inspect(crate::inspect::InspectArgs),
    /// Validate a plugin directory (and the host config) for CI: one line
    /// per problem, exit code 1 on any error.
    Check(crate::inspect::CheckArgs),
    /// Print the default host configuration (hangar.toml), every setting
    /// commented.
    Config(crate::config::ConfigArgs),
    /// Start a new agent project in Rust, Python, JavaScript or Go: the
    /// agent, its unit test, a Makefile that builds NAME.wasm, and the SDK.
    New(crate::scaffold::NewArgs),
}

/// Every setting of `serve` is also a key of the host config (`--config`);
/// a flag wins over its environment variable, which wins over the config
/// file, which wins over the default.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Directory of plugins: NAME.wasm components, each with an optional
    /// NAME.toml manifest [default: ./plugins]
    #[arg(long, env = "HANGAR_PLUGINS")]
    pub plugins: Option<PathBuf>,
    /// Address and port for gRPC [default: 0.0.0.0:8000]
    #[arg(long, env = "HANGAR_LISTEN")]
    pub listen: Option<SocketAddr>,
    #[command(flatten)]
    pub runtime: RuntimeArgs,
    /// Largest request (all messages of one call) accepted, in bytes;
    /// larger ones get RESOURCE_EXHAUSTED [default: 16777216]
    #[arg(long, env = "HANGAR_MAX_REQUEST_BYTES")]
    pub max_request_bytes: Option<usize>,
    /// Component instances that may run at once, across all plugins;
    /// calls beyond it get RESOURCE_EXHAUSTED [default: 256]
    #[arg(long, env = "HANGAR_MAX_INSTANCES")]
    pub max_instances: Option<u32>,
    /// Load new, changed and removed plugins while serving (`--watch=false`
    /// turns it off) [default: true]
    #[arg(long, env = "HANGAR_WATCH", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = clap::builder::BoolishValueParser::new())]
    pub watch: Option<bool>,
    /// How long a plugin's files must stay unchanged before they are
    /// (re)loaded, in milliseconds [default: 300]
    #[arg(long, env = "HANGAR_WATCH_DEBOUNCE_MS")]
    pub watch_debounce_ms: Option<u64>,
    /// On SIGTERM/SIGINT, how long health says NOT_SERVING while calls are
    /// still accepted, in milliseconds [default: 1000]
    #[arg(long, env = "HANGAR_SHUTDOWN_DRAIN_MS")]
    pub shutdown_drain_ms: Option<u64>,
    /// Then, with new calls refused, how long calls in flight get to finish
    /// before they are dropped, in seconds [default: 30]
    #[arg(long, env = "HANGAR_SHUTDOWN_GRACE_SECONDS")]
    pub shutdown_grace_seconds: Option<u64>,
    /// Serve gRPC over TLS with this PEM certificate chain (with --tls-key)
    #[arg(long, env = "HANGAR_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert
    #[arg(long, env = "HANGAR_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// Address and port of the Prometheus metrics endpoint (`/metrics`,
    /// `/healthz`), or `off` [default: 0.0.0.0:9090]
    #[arg(long, env = "HANGAR_METRICS_LISTEN", value_parser = parse_metrics_listen)]
    pub metrics_listen: Option<MetricsListen>,
    /// Write /tmp/perf-PID.map so that `perf report` names the plugins'
    /// functions (for profiling; the map grows with every plugin loaded and
    /// is never trimmed) [default: false]
    #[arg(long, env = "HANGAR_PERF_MAP", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = clap::builder::BoolishValueParser::new())]
    pub perf_map: Option<bool>,
    /// Threads that serve gRPC and run plugins, 1 to 1024. One thread runs
    /// tokio's current-thread scheduler, which flushes answers in batches;
    /// more run the work-stealing one. Set it lower when other busy
    /// processes share the CPUs (docs/performance.md, "Since: worker
    /// threads" and "Since: one thread") [default: one per CPU the process
    /// may use, counting its affinity and cgroup CPU quota]
    #[arg(long, env = "HANGAR_WORKER_THREADS")]
    pub worker_threads: Option<usize>,
}

/// Largest `--worker-threads`: far above any machine's CPUs, low enough to
/// catch a typo before it starts thousands of threads.
pub const MAX_WORKER_THREADS: usize = 1024;

/// `--metrics-listen`: an address, or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsListen {
    Off,
    On(SocketAddr),
}

/// flytekit's default `--prometheus_port`.
pub const DEFAULT_METRICS_LISTEN: MetricsListen = MetricsListen::On(SocketAddr::new(
    std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
    9090,
));

pub fn parse_metrics_listen(text: &str) -> Result<MetricsListen, String> {
    if text.eq_ignore_ascii_case("off") {
        return Ok(MetricsListen::Off);
    }
    text.parse()
        .map(MetricsListen::On)
        .map_err(|e| format!("{e}: give HOST:PORT (e.g. 0.0.0.0:9090) or `off`"))
}

/// `serve`'s settings, each from its flag, environment variable, config
/// key or default (in that order).
pub struct ServeSettings {
    pub plugins: PathBuf,
    pub listen: SocketAddr,
    pub max_request_bytes: usize,
    pub max_instances: u32,
    /// Debounce of the live plugin directory; None: not watched.
    pub watch: Option<std::time::Duration>,
    pub drain: std::time::Duration,
    pub grace: std::time::Duration,
    /// Certificate and key files.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// What the engine tells a profiler (`--perf-map`).
    pub profiling: crate::runtime::engine::Profiling,
}

impl ServeArgs {
    /// The worker threads asked for (flag, environment or `[server]
    /// worker_threads`), checked; `None`: the runtime's default, one per
    /// CPU the process may use. Read before the runtime starts, so apart
    /// from [`ServeArgs::settings`].
    pub fn worker_threads(&self, config: &HostConfig) -> anyhow::Result<Option<usize>> {
        let Some(threads) = self.worker_threads.or(config.server.worker_threads) else {
            return Ok(None);
        };
        if !(1..=MAX_WORKER_THREADS).contains(&threads) {
            anyhow::bail!(
                "worker threads = {threads} is out of range: use 1 to {MAX_WORKER_THREADS} \
                 (--worker-threads, HANGAR_WORKER_THREADS or [server] worker_threads), or leave \
                 it unset for one per CPU"
            );
        }
        Ok(Some(threads))
    }

    pub fn settings(&self, config: &HostConfig) -> anyhow::Result<ServeSettings> {
        let tls = match (
            self.tls_cert.clone().or_else(|| config.tls.cert.clone()),
            self.tls_key.clone().or_else(|| config.tls.key.clone()),
        ) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            (Some(_), None) => {
                anyhow::bail!("a TLS certificate is set but no key: set --tls-key (or [tls] key)")
            }
            (None, Some(_)) => {
                anyhow::bail!("a TLS key is set but no certificate: set --tls-cert (or [tls] cert)")
            }
        };
        let server = &config.server;
        let watch = self.watch.unwrap_or(config.plugins.watch);
        let debounce = self
            .watch_debounce_ms
            .unwrap_or(config.plugins.watch_debounce_ms);
        Ok(ServeSettings {
            plugins: self
                .plugins
                .clone()
                .unwrap_or_else(|| config.plugins.dir.clone()),
            listen: self.listen.unwrap_or(server.listen),
            max_request_bytes: self.max_request_bytes.unwrap_or(server.max_request_bytes),
            max_instances: self.max_instances.unwrap_or(server.max_instances),
            watch: watch.then(|| std::time::Duration::from_millis(debounce)),
            drain: std::time::Duration::from_millis(
                self.shutdown_drain_ms.unwrap_or(server.shutdown_drain_ms),
            ),
            grace: std::time::Duration::from_secs(
                self.shutdown_grace_seconds
                    .unwrap_or(server.shutdown_grace_seconds),
            ),
            tls,
            profiling: if self.perf_map.unwrap_or(server.perf_map) {
                crate::runtime::engine::Profiling::PerfMap
            } else {
                crate::runtime::engine::Profiling::Off
            },
        })
    }
}

/// Settings shared by `serve` and `run`.
#[derive(Debug, clap::Args)]
pub struct RuntimeArgs {
    /// Where compiled plugins are cached (keyed by content hash). Default:
    /// the user's cache directory, e.g. ~/.cache/hangar/compiled.
    #[arg(long, env = "HANGAR_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Compile every plugin afresh and write no cache.
    #[arg(long, env = "HANGAR_NO_CACHE", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = clap::builder::BoolishValueParser::new())]
    pub no_cache: Option<bool>,
    /// Host configuration file (hangar.toml): default limits, secret
    /// sources, audit destination. Flags given here win over it.
    #[arg(long, env = "HANGAR_CONFIG")]
    pub config: Option<PathBuf>,
    /// Default memory limit per instance, in MiB (a manifest may override)
    /// [default: 128]
    #[arg(long, env = "HANGAR_MEMORY_MIB")]
    pub memory_mib: Option<u64>,
    /// Default wall-clock limit per call, in milliseconds (a manifest may
    /// override) [default: 10000]
    #[arg(long, env = "HANGAR_CALL_TIMEOUT_MS")]
    pub call_timeout_ms: Option<u64>,
    /// Default fuel per call, about one unit per WebAssembly instruction (a
    /// manifest may override); setting it anywhere turns on fuel metering,
    /// which slows CPU-bound plugins [default: no fuel limit]
    #[arg(long, env = "HANGAR_FUEL")]
    pub fuel: Option<u64>,
    /// Default calls of one plugin that run at once; extra calls wait up to
    /// --queue-timeout-ms, then get RESOURCE_EXHAUSTED [default: 32]
    #[arg(long, env = "HANGAR_MAX_CONCURRENT_CALLS")]
    pub max_concurrent_calls: Option<u32>,
    /// Default wait for a free call slot of a plugin, in milliseconds
    /// [default: 1000]
    #[arg(long, env = "HANGAR_QUEUE_TIMEOUT_MS")]
    pub queue_timeout_ms: Option<u64>,
    /// Default largest task passed into a plugin call (inputs, template),
    /// in bytes; larger ones get RESOURCE_EXHAUSTED [default: 8388608]
    #[arg(long, env = "HANGAR_MAX_INPUT_BYTES")]
    pub max_input_bytes: Option<u64>,
    /// Default largest answer of a plugin call (outputs, messages,
    /// resource_meta), in bytes; a larger one fails the task [default:
    /// 8388608]
    #[arg(long, env = "HANGAR_MAX_OUTPUT_BYTES")]
    pub max_output_bytes: Option<u64>,
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The plugin component (.wasm). A NAME.toml beside it is applied.
    pub plugin: PathBuf,
    /// Inputs as a JSON object of plain values, e.g. {"seconds": 2}; or a
    /// protobuf-encoded flyteidl.core.LiteralMap when the file ends in .pb.
    #[arg(long)]
    pub inputs: Option<PathBuf>,
    /// The TaskTemplate, as protobuf JSON (.json) or binary (.pb), e.g. from
    /// `pyflyte serialize`. Without it, a template is made from --task-type
    /// and output types are inferred from the values returned.
    #[arg(long)]
    pub template: Option<PathBuf>,
    /// Task type to run (default: the template's, else the plugin's first).
    #[arg(long)]
    pub task_type: Option<String>,
    /// Output prefix passed to the agent.
    #[arg(long, default_value = "file:///tmp/hangar-run")]
    pub output_prefix: String,
    /// Seconds between polls of an async job (propeller uses 30 s; flytekit's
    /// local executor 1 s).
    #[arg(long, default_value_t = 1.0)]
    pub poll_seconds: f64,
    /// Give up polling after this many seconds (the job is then deleted).
    #[arg(long, default_value_t = 3600.0)]
    pub max_wait_seconds: f64,
    #[command(flatten)]
    pub runtime: RuntimeArgs,
}

impl RuntimeArgs {
    /// The compile cache: flag or environment, else the config file's
    /// `[plugins]`, else the user's cache directory.
    pub fn cache_dir(&self, config: &HostConfig) -> Option<PathBuf> {
        if self.no_cache.unwrap_or(config.plugins.no_cache) {
            None
        } else {
            self.cache_dir
                .clone()
                .or_else(|| config.plugins.cache_dir.clone())
                .or_else(crate::runtime::compile_cache::default_dir)
        }
    }

    /// The host config file's contents (defaults when there is none).
    pub fn host_config(&self) -> anyhow::Result<HostConfig> {
        match &self.config {
            Some(path) => config::load(path),
            None => Ok(HostConfig::default()),
        }
    }

    /// Default limits: built-in defaults, then the config file, then flags.
    pub fn default_limits(&self, config: &HostConfig) -> anyhow::Result<limits::Limits> {
        let from_config = config
            .limits
            .apply(limits::Limits::default())
            .map_err(|e| {
                anyhow::anyhow!(
                    "{}: {e}",
                    self.config
                        .as_deref()
                        .unwrap_or(Path::new("hangar.toml"))
                        .display()
                )
            })?;
        limits::LimitsOverride {
            memory_mib: self.memory_mib,
            call_timeout_ms: self.call_timeout_ms,
            fuel: self.fuel,
            max_concurrent_calls: self.max_concurrent_calls,
            queue_timeout_ms: self.queue_timeout_ms,
            max_input_bytes: self.max_input_bytes,
            max_output_bytes: self.max_output_bytes,
        }
        .apply(from_config)
        .map_err(|e| {
            // Name the flags, not the TOML keys.
            let message = limits::KEYS.iter().fold(e, |m, key| {
                m.replace(
                    &format!("limits.{key}"),
                    &format!("--{}", key.replace('_', "-")),
                )
            });
            anyhow::anyhow!("{message}")
        })
    }

    /// Host services (audit log, secret sources) from the config file.
    /// `audit_stdout_to_stderr` keeps stdout clean for commands that print
    /// results there.
    pub fn host_services(
        &self,
        config: &HostConfig,
        audit_stdout_to_stderr: bool,
    ) -> anyhow::Result<HostServices> {
        let mut destination = config.audit.destination.as_str();
        if audit_stdout_to_stderr && destination == "stdout" {
            destination = "stderr";
        }
        Ok(HostServices {
            audit: AuditLog::open(destination)?,
            secret_store: Arc::new(SecretStore::new(&config.secrets)),
        })
    }
}
