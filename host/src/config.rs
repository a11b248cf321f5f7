//! The operator's host configuration, `hangar.toml` (`--config`): how
//! `hangar serve` listens and watches its plugins, defaults every plugin
//! gets, where secrets come from, where audit events go.
//!
//! Every setting of `serve` is also a flag and an environment variable
//! (`HANGAR_*`); the first one set wins, in this order: flag, environment,
//! this file, built-in default. `hangar config --print-default` prints the
//! whole file with every default ([`DEFAULT_TOML`]).
//!
//! Per-plugin grants live in each plugin's manifest, not here. Unknown keys
//! are errors, so a typo never silently changes a security setting.
//!
//! ```toml
//! [limits]                 # defaults for every plugin; a manifest may override
//! memory_mib = 128         # every key, its default and range: limits.rs
//! call_timeout_ms = 10000
//! max_concurrent_calls = 32
//!
//! [secrets]
//! env_prefix = "_FSEC_"    # secret NAME is read from env var _FSEC_NAME ...
//! dir = "/etc/secrets"     # ... or from the file /etc/secrets/NAME
//!
//! [audit]
//! destination = "stdout"   # "stdout", "off", or a file path (appended to)
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::limits::LimitsOverride;

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct HostConfig {
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub plugins: PluginsConfig,
    #[serde(default)]
    pub tls: TlsConfig,
    #[serde(default)]
    pub limits: LimitsOverride,
    #[serde(default)]
    pub secrets: SecretSources,
    #[serde(default)]
    pub audit: AuditConfig,
    #[serde(default)]
    pub logging: LoggingConfig,
}

/// Log output (stderr).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct LoggingConfig {
    /// `"text"` or `"json"` (--log-format, HANGAR_LOG_FORMAT); unset: text.
    pub format: Option<crate::cli::LogFormat>,
}

/// The gRPC port and its shutdown (`hangar serve`).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub max_request_bytes: usize,
    pub max_instances: u32,
    pub shutdown_drain_ms: u64,
    pub shutdown_grace_seconds: u64,
    /// Prometheus endpoint, `HOST:PORT` or `off`; unset: 0.0.0.0:9090 when
    /// free.
    pub metrics_listen: Option<String>,
    /// Have wasmtime write `/tmp/perf-PID.map` for `perf report`.
    pub perf_map: bool,
    /// Threads that serve gRPC and run plugins; unset: one per CPU the
    /// process may use (see `cli::ServeArgs::worker_threads`).
    pub worker_threads: Option<usize>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([0, 0, 0, 0], 8000)),
            max_request_bytes: crate::grpc::DEFAULT_MAX_REQUEST_BYTES,
            max_instances: 256,
            shutdown_drain_ms: 1000,
            shutdown_grace_seconds: 30,
            metrics_listen: None,
            perf_map: false,
            worker_threads: None,
        }
    }
}

/// The plugin directory and the compile cache.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct PluginsConfig {
    pub dir: PathBuf,
    pub watch: bool,
    pub watch_debounce_ms: u64,
    /// Unset: the user's cache directory.
    pub cache_dir: Option<PathBuf>,
    pub no_cache: bool,
}

impl Default for PluginsConfig {
    fn default() -> Self {
        PluginsConfig {
            dir: PathBuf::from("./plugins"),
            watch: true,
            watch_debounce_ms: crate::watch::DEFAULT_DEBOUNCE_MS,
            cache_dir: None,
            no_cache: false,
        }
    }
}

/// TLS for the gRPC port: both set, or neither (plaintext).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain, the server's certificate first.
    pub cert: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: Option<PathBuf>,
}

/// `hangar config --print-default`: every setting with its default; parses
/// back to [`HostConfig::default()`] (commented keys have no default value).
pub const DEFAULT_TOML: &str = r#"# hangar.toml: the host configuration of `hangar serve` (--config FILE or
# HANGAR_CONFIG). Every value below is the built-in default.
#
# Precedence, highest first: command-line flag, environment variable
# (HANGAR_*), this file, built-in default. Unknown keys are errors.

[server]
# Address and port for gRPC (--listen, HANGAR_LISTEN).
listen = "0.0.0.0:8000"
# Largest request accepted, in bytes; larger ones get RESOURCE_EXHAUSTED
# (--max-request-bytes, HANGAR_MAX_REQUEST_BYTES).
max_request_bytes = 16777216
# Component instances running at once across all plugins
# (--max-instances, HANGAR_MAX_INSTANCES).
max_instances = 256
# On SIGTERM/SIGINT, health turns NOT_SERVING at once; new calls are still
# accepted for this long so load balancers notice (--shutdown-drain-ms,
# HANGAR_SHUTDOWN_DRAIN_MS).
shutdown_drain_ms = 1000
# Then new connections and calls are refused and calls in flight get this
# long to finish before they are dropped (--shutdown-grace-seconds,
# HANGAR_SHUTDOWN_GRACE_SECONDS).
shutdown_grace_seconds = 30
# Prometheus metrics (/metrics, /healthz): HOST:PORT or "off" (--metrics-listen,
# HANGAR_METRICS_LISTEN). Unset: 0.0.0.0:9090, skipped with a warning when
# that port is taken; a value set here must bind.
# metrics_listen = "0.0.0.0:9090"
# Write /tmp/perf-PID.map so that `perf report` names the functions of the
# plugins (--perf-map=BOOL, HANGAR_PERF_MAP). For profiling only: the map
# grows with every plugin loaded and is never trimmed (docs/performance.md).
perf_map = false
# Threads that serve gRPC and run plugins (--worker-threads,
# HANGAR_WORKER_THREADS), 1 to 1024. Unset: one per CPU the process may use
# (its affinity and cgroup CPU quota count). One thread runs tokio's
# current-thread scheduler, which flushes answers in batches; more run the
# work-stealing one. Set it lower when Hangar shares its CPUs with other busy
# processes (docs/performance.md, "Since: worker threads" and "Since: one
# thread").
# worker_threads = 2

[plugins]
# Directory of NAME.wasm components and their NAME.toml manifests
# (--plugins, HANGAR_PLUGINS).
dir = "./plugins"
# Load new, changed and removed plugins while serving (--watch=BOOL,
# HANGAR_WATCH). Copy a file in, then rename it into place.
watch = true
# A plugin's files must stay unchanged this long before they are loaded
# (--watch-debounce-ms, HANGAR_WATCH_DEBOUNCE_MS).
watch_debounce_ms = 300
# Compiled plugins are cached here, keyed by content hash
# (--cache-dir, HANGAR_CACHE_DIR). Default: the user's cache directory,
# e.g. ~/.cache/hangar/compiled.
# cache_dir = "/var/cache/hangar"
# Compile every plugin afresh and write no cache (--no-cache, HANGAR_NO_CACHE).
no_cache = false

[tls]
# Serve gRPC over TLS with this PEM certificate chain and private key
# (--tls-cert/--tls-key, HANGAR_TLS_CERT/HANGAR_TLS_KEY). Both or neither;
# default: plaintext.
# cert = "/etc/hangar/tls/tls.crt"
# key = "/etc/hangar/tls/tls.key"

[limits]
# Defaults for every plugin; its manifest may override each. Also flags
# (--memory-mib ...) and HANGAR_* variables. Ranges: docs/manifest.md.
memory_mib = 128
call_timeout_ms = 10000
# CPU budget per call, ~1 unit per instruction. Default: not metered.
# fuel = 5000000000
max_concurrent_calls = 32
queue_timeout_ms = 1000
max_input_bytes = 8388608
max_output_bytes = 8388608

[secrets]
# Secret NAME is read from the environment variable PREFIX + NAME ("" turns
# the environment off)...
env_prefix = "_FSEC_"
# ...or from the file DIR/NAME (a mounted Kubernetes Secret). Default: off.
# dir = "/etc/hangar/secrets"

[audit]
# "stdout", "stderr", "off", or a file path (appended to).
destination = "stdout"

[logging]
# Log lines on stderr: "text" or "json", one object per line with the call's
# fields (--log-format, HANGAR_LOG_FORMAT).
# format = "text"
"#;

/// `hangar config`: prints the default configuration.
#[derive(Debug, clap::Args)]
pub struct ConfigArgs {
    /// Print a complete, commented hangar.toml holding every default.
    #[arg(long)]
    pub print_default: bool,
}

pub fn command(args: ConfigArgs) -> anyhow::Result<u8> {
    if !args.print_default {
        anyhow::bail!("nothing to do: pass --print-default");
    }
    print!("{DEFAULT_TOML}");
    Ok(0)
}

/// Where secret values come from, in lookup order: environment, then files.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SecretSources {
    /// Secret NAME is read from the environment variable PREFIX + NAME
    /// (flytekit's agents use `_FSEC_`). Empty disables the environment.
    #[serde(default = "default_env_prefix")]
    pub env_prefix: String,
    /// Secret NAME is read from the file DIR/NAME (how Kubernetes mounts a
    /// Secret). Unset disables files.
    #[serde(default)]
    pub dir: Option<PathBuf>,
}

impl Default for SecretSources {
    fn default() -> Self {
        SecretSources {
            env_prefix: default_env_prefix(),
            dir: None,
        }
    }
}

fn default_env_prefix() -> String {
    "_FSEC_".to_string()
}

/// Where audit events (one JSON object per line) are written.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// `"stdout"`, `"stderr"`, `"off"`, or a file path (created if missing,
    /// appended to).
    #[serde(default = "default_audit_destination")]
    pub destination: String,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            destination: default_audit_destination(),
        }
    }
}

fn default_audit_destination() -> String {
    "stdout".to_string()
}

/// Reads `path`; errors name the file and the line.
pub fn load(path: &Path) -> anyhow::Result<HostConfig> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read the config file {}: {e}", path.display()))?;
    parse(&text).map_err(|reason| anyhow::anyhow!("{}: {reason}", path.display()))
}

pub fn parse(text: &str) -> Result<HostConfig, String> {
    toml::from_str::<HostConfig>(text).map_err(|e| e.to_string().trim_end().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_when_empty() {
        let config = parse("").unwrap();
        assert_eq!(config, HostConfig::default());
        assert_eq!(config.secrets.env_prefix, "_FSEC_");
        assert_eq!(config.audit.destination, "stdout");
    }

    #[test]
    fn reads_every_section() {
        let config = parse(
            "[limits]\nmemory_mib = 64\n[secrets]\nenv_prefix = \"\"\ndir = \"/etc/secrets\"\n[audit]\ndestination = \"/var/log/audit.jsonl\"\n",
        )
        .unwrap();
        assert_eq!(config.limits.memory_mib, Some(64));
        assert_eq!(config.secrets.env_prefix, "");
        assert_eq!(config.secrets.dir, Some(PathBuf::from("/etc/secrets")));
        assert_eq!(config.audit.destination, "/var/log/audit.jsonl");
    }

    #[test]
    fn printed_default_parses_back_to_the_defaults() {
        let mut config = parse(DEFAULT_TOML).unwrap();
        // [limits] is written out in full; it means the built-in limits.
        let limits = crate::limits::Limits::default();
        assert_eq!(config.limits.apply(limits), Ok(limits));
        assert!(config.limits.memory_mib.is_some());
        config.limits = LimitsOverride::default();
        assert_eq!(config, HostConfig::default());
    }

    #[test]
    fn reads_server_plugins_and_tls() {
        let config = parse(
            "[server]\nlisten = \"127.0.0.1:9000\"\nshutdown_grace_seconds = 5\n[plugins]\nwatch = false\ncache_dir = \"/c\"\n[tls]\ncert = \"a.pem\"\nkey = \"k.pem\"\n",
        )
        .unwrap();
        assert_eq!(config.server.listen.port(), 9000);
        assert_eq!(config.server.shutdown_grace_seconds, 5);
        assert_eq!(config.server.max_instances, 256);
        assert!(!config.plugins.watch);
        assert_eq!(config.plugins.cache_dir, Some(PathBuf::from("/c")));
        assert_eq!(config.tls.key, Some(PathBuf::from("k.pem")));
    }

    #[test]
    fn unknown_keys_are_errors() {
        for text in [
            "[secret]\n",
            "[audit]\ndest = \"x\"\n",
            "listen = 1\n",
            "[server]\nport = 1\n",
            "[plugins]\nwatch_ms = 1\n",
            // Instance reuse is chosen per plugin, in its manifest only.
            "[reuse]\nenabled = true\n",
        ] {
            assert!(parse(text).is_err(), "{text}");
        }
    }
}
