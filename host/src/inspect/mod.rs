//! `hangar inspect` and `hangar check`: what security teams and operators'
//! CI read about a plugin directory, without starting a server.
//!
//! Both load plugins exactly as `hangar serve` does ([`Loader`], so the
//! identity comes from calling `describe` in the sandbox), read the
//! component's type for the interfaces it imports and exports, and compare
//! those with the grants in its manifest ([`analysis`], pure and
//! table-tested). `inspect` reports everything (tables, or one JSON
//! document: schema in docs/inspect.md); `check` prints one line per problem
//! and fails on any.

mod analysis;
mod check;
mod human;

use std::path::{Path, PathBuf};

use anyhow::bail;
use serde::Serialize;
use wasmtime::Engine;
use wasmtime::component::Component;

pub use analysis::{Finding, Severity};
pub use check::{CheckArgs, check};

use crate::cli::RuntimeArgs;
use crate::config::HostConfig;
use crate::limits::Limits;
use crate::manifest::{ManifestError, ManifestFile};
use crate::registry::{self, Loader};
use crate::runtime::capabilities::HostServices;
use crate::runtime::engine::{EpochTicker, Profiling, build_engine, start_epoch_ticker};
use crate::runtime::instance_pool::ReusePolicy;
use crate::runtime::{Plugin, compile_cache, one_line};

/// Version of the `--json` document; bumped only on incompatible changes.
pub const JSON_SCHEMA: &str = "hangar.inspect/v1";

const INSPECT_EXAMPLES: &str = "\
Examples:
  hangar inspect plugins/                       every plugin in a directory, as tables
  hangar inspect plugins/echo.wasm              one plugin
  hangar inspect plugins/ --json | jq '.plugins[] | {plugin, sha256, imports}'
  hangar inspect plugins/ --config hangar.toml  limits as the server would apply them

For each plugin: its identity (agent name, task types, sync or async, sha256,
size), the interfaces it imports and exports, what its manifest NAME.toml
grants (HTTP destinations and methods, secret names, injections, limits,
instance reuse, sha256 pin) and where the two disagree:
  imported but not granted      it will be denied at run time (warning)
  granted but never importable  the manifest grants more than it can use (warning)
A plugin that does not load is reported, not skipped. Exit code 0 whenever
the report was produced; use `hangar check` to fail CI on problems.
The --json schema is documented in docs/inspect.md.";

#[derive(Debug, clap::Args)]
#[command(after_long_help = INSPECT_EXAMPLES)]
pub struct InspectArgs {
    /// Plugin components (NAME.wasm) or plugin directories.
    #[arg(required = true, value_name = "PLUGIN.wasm|DIR")]
    pub paths: Vec<PathBuf>,
    /// Print one JSON document for all plugins instead of tables.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub runtime: RuntimeArgs,
}

/// `hangar inspect`.
pub async fn inspect(args: InspectArgs) -> anyhow::Result<u8> {
    let config = args.runtime.host_config()?;
    let mut files = Vec::new();
    for path in &args.paths {
        if path.is_dir() {
            let found = registry::component_files(path)?;
            if found.is_empty() {
                bail!("{}: no NAME.wasm in this directory", path.display());
            }
            files.extend(found);
        } else if path.is_file() {
            files.push(path.clone());
        } else {
            bail!(
                "{}: no such file or directory: pass a component (NAME.wasm) or a plugin directory",
                path.display()
            );
        }
    }
    let (loader, _ticker) = inspection_loader(&args.runtime, &config, &files)?;
    let mut examined = Vec::new();
    for file in &files {
        examined.push(examine(&loader, file).await);
    }
    add_duplicate_findings(&mut examined);
    let report = Report::new(&examined);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", human::render(&report));
    }
    Ok(0)
}

/// A loader for looking at `components`: no pooling, no audit events, the
/// limits (and fuel metering) the server would apply, and an epoch ticker
/// so that a `describe` that never returns is stopped at the call timeout.
fn inspection_loader(
    runtime: &RuntimeArgs,
    config: &HostConfig,
    components: &[PathBuf],
) -> anyhow::Result<(Loader, EpochTicker)> {
    let limits = runtime.default_limits(config)?;
    let fuel = crate::limits::fuel_metering_needed(&limits, components);
    let engine = build_engine(None, fuel, Profiling::Off)?;
    let ticker = start_epoch_ticker(&engine);
    let loader = Loader::new(
        engine,
        runtime.cache_dir(config),
        limits,
        HostServices::default(),
        ticker.activity(),
    )?;
    Ok((loader, ticker))
}

/// One plugin file, looked at from every side. Problems are findings, never
/// errors: a broken manifest still lets the component be described, and a
/// broken component still lets the manifest be read.
pub struct Examined {
    pub file: PathBuf,
    pub plugin_id: String,
    /// sha256 (hex) and size of the file, when it could be read.
    pub digest: Option<(String, u64)>,
    /// The manifest, when it parsed (a missing one is an empty grant).
    pub manifest: Option<ManifestFile>,
    /// Whether the manifest's grants passed validation.
    pub grants_valid: bool,
    /// Effective limits, when the grants are valid.
    pub limits: Option<Limits>,
    /// `[reuse]`, when the grants are valid and it is enabled.
    pub reuse: Option<ReusePolicy>,
    pub plugin: Option<Plugin>,
    /// Interface names, sorted; `None` when the file is not a component.
    pub imports: Option<Vec<String>>,
    pub exports: Option<Vec<String>>,
    pub findings: Vec<Finding>,
}

fn manifest_finding(error: ManifestError, code: &'static str) -> Finding {
    Finding {
        severity: Severity::Error,
        code,
        file: error.path,
        line: error.line,
        message: error.reason,
        fix: None,
    }
}

/// Loads `file` the way the server would and records what is wrong.
pub async fn examine(loader: &Loader, file: &Path) -> Examined {
    let plugin_id = registry::plugin_id(file);
    let mut findings = Vec::new();
    let bytes = tokio::fs::read(file).await.ok();
    let digest = bytes
        .as_ref()
        .map(|b| (compile_cache::content_sha256(b), b.len() as u64));
    let manifest = match ManifestFile::load_for(file) {
        Ok(manifest) => Some(manifest),
        Err(e) => {
            findings.push(manifest_finding(e, "manifest-invalid"));
            None
        }
    };
    let mut limits = None;
    let mut reuse = None;
    let mut grants_valid = false;
    if let Some(manifest) = &manifest {
        match registry::grants(
            &plugin_id,
            manifest,
            loader.default_limits,
            &loader.services,
        ) {
            Ok(granted) => {
                limits = Some(granted.limits);
                reuse = granted.reuse;
                grants_valid = true;
            }
            Err(e) => findings.push(manifest_finding(e, "grant-invalid")),
        }
    }
    // A manifest that cannot be used still lets the component be checked.
    let no_grants = ManifestFile::none(file);
    let usable = match &manifest {
        Some(manifest) if grants_valid => manifest,
        _ => &no_grants,
    };
    let mut loaded = loader.load_with_manifest(file, usable).await;
    if let Err(e) = &loaded
        && let Some(error) = e.downcast_ref::<ManifestError>()
    {
        // Past the grant checks, the only manifest error is the sha256 pin.
        findings.push(manifest_finding(error.clone(), "sha256-mismatch"));
        loaded = loader.load_with_manifest(file, &no_grants).await;
    }
    let (plugin, component) = match loaded {
        Ok(plugin) => {
            let component = plugin.component().clone();
            (Some(plugin), Some(component))
        }
        Err(e) => {
            findings.push(Finding {
                severity: Severity::Error,
                code: "load-failed",
                file: file.to_path_buf(),
                line: None,
                message: format!("does not load: {}", one_line(&format!("{e:#}"))),
                fix: None,
            });
            let component = match (&bytes, &digest) {
                (Some(bytes), Some((sha256, _))) => compile(loader, bytes.clone(), sha256).await,
                _ => None,
            };
            (None, component)
        }
    };
    let (imports, exports) = match &component {
        Some(component) => {
            let (imports, exports) = interface_names(&loader.engine, component);
            (Some(imports), Some(exports))
        }
        None => (None, None),
    };
    if let (Some(manifest), Some(imports)) = (&manifest, &imports) {
        findings.extend(analysis::analyze(
            imports,
            &grant_lines(manifest),
            &manifest.path,
            file,
        ));
    }
    Examined {
        file: file.to_path_buf(),
        plugin_id,
        digest,
        manifest,
        grants_valid,
        limits,
        reuse,
        plugin,
        imports,
        exports,
        findings,
    }
}

/// Compiles a component that failed to load, only to read its type.
async fn compile(loader: &Loader, bytes: Vec<u8>, sha256: &str) -> Option<Component> {
    let engine = loader.engine.clone();
    let cache_dir = loader.cache_dir.clone();
    let sha256 = sha256.to_string();
    tokio::task::spawn_blocking(move || {
        compile_cache::load_or_compile(&engine, &bytes, &sha256, cache_dir.as_deref()).ok()
    })
    .await
    .ok()
    .flatten()
    .map(|(component, _)| component)
}

/// The names a component imports and exports, sorted.
pub fn interface_names(engine: &Engine, component: &Component) -> (Vec<String>, Vec<String>) {
    let ty = component.component_type();
    let mut imports: Vec<String> = ty.imports(engine).map(|(n, _)| n.to_string()).collect();
    let mut exports: Vec<String> = ty.exports(engine).map(|(n, _)| n.to_string()).collect();
    imports.sort();
    exports.sort();
    (imports, exports)
}

/// The lines of every grant in a manifest.
pub fn grant_lines(file: &ManifestFile) -> analysis::GrantLines {
    let line = |offset: usize| crate::manifest::line_of(&file.text, offset);
    let m = &file.manifest;
    analysis::GrantLines {
        present: file.exists,
        http_allow: m
            .http
            .allow
            .iter()
            .map(|a| line(a.url.span().start))
            .collect(),
        secret_names: m
            .secrets
            .names
            .iter()
            .map(|n| line(n.span().start))
            .collect(),
        secret_inject: m
            .secrets
            .inject
            .iter()
            .map(|i| line(i.secret.span().start))
            .collect(),
        config: m
            .config
            .values()
            .map(|value| line(value.span().start))
            .collect(),
    }
}

/// Adds an error to every plugin that claims a task category an earlier one
/// already claims.
pub fn add_duplicate_findings(examined: &mut [Examined]) {
    let claims: Vec<(PathBuf, Vec<(String, i32)>)> = examined
        .iter()
        .map(|e| {
            let categories = e
                .plugin
                .iter()
                .flat_map(|p| &p.info.categories)
                .map(|c| (c.name.clone(), c.version))
                .collect();
            (e.file.clone(), categories)
        })
        .collect();
    for finding in analysis::duplicate_categories(&claims) {
        if let Some(e) = examined.iter_mut().find(|e| e.file == finding.file) {
            e.findings.push(finding);
        }
    }
}

// ---------------------------------------------------------------------------
// The report: what `--json` prints (docs/inspect.md), and what the tables show.

#[derive(Debug, Serialize)]
pub struct Report {
    pub schema: &'static str,
    pub hangar_version: &'static str,
    pub plugins: Vec<PluginReport>,
    pub summary: Summary,
}

#[derive(Debug, Serialize)]
pub struct Summary {
    pub plugins: usize,
    pub loaded: usize,
    pub errors: usize,
    pub warnings: usize,
}

#[derive(Debug, Serialize)]
pub struct PluginReport {
    /// The file name without `.wasm`: the plugin's id in audit events.
    pub plugin: String,
    pub file: String,
    pub sha256: Option<String>,
    pub size_bytes: Option<u64>,
    /// Whether `hangar serve` would load it.
    pub loads: bool,
    pub agent: Option<AgentReport>,
    pub imports: Option<Vec<String>>,
    pub exports: Option<Vec<String>>,
    pub limits: Option<LimitsReport>,
    /// Whether instances are reused between calls (null: the grants are
    /// invalid).
    pub reuse: Option<ReuseReport>,
    pub manifest: ManifestReport,
    pub findings: Vec<Finding>,
}

#[derive(Debug, Serialize)]
pub struct AgentReport {
    pub name: String,
    /// "async" or "sync".
    pub kind: &'static str,
    pub observable: bool,
    pub categories: Vec<CategoryReport>,
}

#[derive(Debug, Serialize)]
pub struct CategoryReport {
    pub name: String,
    pub version: i32,
}

/// Effective limits: host defaults (and --config) overridden by the manifest.
#[derive(Debug, Serialize)]
pub struct LimitsReport {
    pub memory_mib: u64,
    pub call_timeout_ms: u64,
    /// Fuel per call; `null`: not metered.
    pub fuel: Option<u64>,
    pub max_concurrent_calls: u32,
    pub queue_timeout_ms: u64,
    pub max_input_bytes: u64,
    pub max_output_bytes: u64,
}

impl From<Limits> for LimitsReport {
    fn from(l: Limits) -> LimitsReport {
        LimitsReport {
            memory_mib: l.memory_bytes / (1024 * 1024),
            call_timeout_ms: l.call_timeout.as_millis() as u64,
            fuel: l.fuel,
            max_concurrent_calls: l.max_concurrent_calls,
            queue_timeout_ms: l.queue_timeout.as_millis() as u64,
            max_input_bytes: l.max_input_bytes,
            max_output_bytes: l.max_output_bytes,
        }
    }
}

/// Effective `[reuse]`: off (a fresh instance per call) unless the
/// manifest enables it.
#[derive(Debug, Serialize)]
pub struct ReuseReport {
    pub enabled: bool,
    /// Idle instances kept between calls; `null` when reuse is off.
    pub max_idle: Option<u32>,
    /// Seconds an idle instance is kept before it is dropped; `null` when
    /// reuse is off.
    pub idle_timeout_seconds: Option<u64>,
}

impl From<Option<ReusePolicy>> for ReuseReport {
    fn from(policy: Option<ReusePolicy>) -> ReuseReport {
        ReuseReport {
            enabled: policy.is_some(),
            max_idle: policy.map(|p| p.max_idle),
            idle_timeout_seconds: policy.map(|p| p.idle_timeout.as_secs()),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct ManifestReport {
    pub file: String,
    /// Whether the file exists (absent: nothing granted, host defaults).
    pub present: bool,
    /// Whether it parsed and its grants are valid.
    pub valid: bool,
    pub sha256_pin: Option<PinReport>,
    /// The `[limits]` keys the manifest sets, as written.
    pub limits: serde_json::Map<String, serde_json::Value>,
    /// The `[reuse]` keys the manifest sets, as written.
    pub reuse: serde_json::Map<String, serde_json::Value>,
    pub http: HttpReport,
    pub secrets: SecretsReport,
    /// The `[config]` table: settings the guest reads by key (not secret).
    pub config: Vec<ConfigReport>,
}

#[derive(Debug, Serialize)]
pub struct ConfigReport {
    pub key: String,
    pub value: String,
    pub line: usize,
}

#[derive(Debug, Serialize)]
pub struct PinReport {
    pub sha256: String,
    pub line: usize,
    /// Whether the component's sha256 is the pinned one.
    pub matches: bool,
}

#[derive(Debug, Default, Serialize)]
pub struct HttpReport {
    pub allow: Vec<AllowReport>,
    /// The other `[http]` keys the manifest sets (timeouts, sizes), as written.
    pub settings: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Serialize)]
pub struct AllowReport {
    pub url: String,
    /// Allowed methods; `null` means every method.
    pub methods: Option<Vec<String>>,
    pub line: usize,
}

#[derive(Debug, Default, Serialize)]
pub struct SecretsReport {
    pub names: Vec<NameReport>,
    pub inject: Vec<InjectReport>,
}

#[derive(Debug, Serialize)]
pub struct NameReport {
    pub name: String,
    pub line: usize,
}

/// A secret the host adds to matching requests: names and patterns only,
/// never a value.
#[derive(Debug, Serialize)]
pub struct InjectReport {
    pub secret: String,
    pub url: String,
    pub header: String,
    pub line: usize,
}

impl Report {
    pub fn new(examined: &[Examined]) -> Report {
        let plugins: Vec<PluginReport> = examined.iter().map(PluginReport::new).collect();
        let count = |severity| {
            plugins
                .iter()
                .flat_map(|p| &p.findings)
                .filter(|f| f.severity == severity)
                .count()
        };
        let summary = Summary {
            plugins: plugins.len(),
            loaded: plugins.iter().filter(|p| p.loads).count(),
            errors: count(Severity::Error),
            warnings: count(Severity::Warning),
        };
        Report {
            schema: JSON_SCHEMA,
            hangar_version: env!("CARGO_PKG_VERSION"),
            plugins,
            summary,
        }
    }
}

impl PluginReport {
    fn new(e: &Examined) -> PluginReport {
        let agent = e.plugin.as_ref().map(|p| AgentReport {
            name: p.name().to_string(),
            kind: if p.is_sync() { "sync" } else { "async" },
            observable: p.is_observable(),
            categories: p
                .info
                .categories
                .iter()
                .map(|c| CategoryReport {
                    name: c.name.clone(),
                    version: c.version,
                })
                .collect(),
        });
        let mut findings = e.findings.clone();
        findings.sort_by_key(|f| f.severity);
        PluginReport {
            plugin: e.plugin_id.clone(),
            file: e.file.display().to_string(),
            sha256: e.digest.as_ref().map(|(sha, _)| sha.clone()),
            size_bytes: e.digest.as_ref().map(|(_, size)| *size),
            // Loaded with its own grants, and no pin mismatch.
            loads: e.plugin.is_some()
                && e.grants_valid
                && !e.findings.iter().any(|f| f.code == "sha256-mismatch"),
            agent,
            imports: e.imports.clone(),
            exports: e.exports.clone(),
            limits: e.limits.filter(|_| e.grants_valid).map(LimitsReport::from),
            reuse: e.grants_valid.then(|| ReuseReport::from(e.reuse)),
            manifest: ManifestReport::new(e),
            findings,
        }
    }
}

impl ManifestReport {
    fn new(e: &Examined) -> ManifestReport {
        let path = crate::manifest::manifest_path_for(&e.file);
        let Some(file) = &e.manifest else {
            return ManifestReport {
                file: path.display().to_string(),
                present: path.is_file(),
                valid: false,
                sha256_pin: None,
                limits: Default::default(),
                reuse: Default::default(),
                http: HttpReport::default(),
                secrets: SecretsReport::default(),
                config: Vec::new(),
            };
        };
        let line = |offset: usize| crate::manifest::line_of(&file.text, offset);
        let m = &file.manifest;
        let raw: toml::Table = toml::from_str(&file.text).unwrap_or_default();
        let table = |key: &str, skip: &[&str]| -> serde_json::Map<String, serde_json::Value> {
            match raw.get(key) {
                Some(toml::Value::Table(t)) => t
                    .iter()
                    .filter(|(k, _)| !skip.contains(&k.as_str()))
                    .filter_map(|(k, v)| Some((k.clone(), serde_json::to_value(v).ok()?)))
                    .collect(),
                _ => Default::default(),
            }
        };
        ManifestReport {
            file: file.path.display().to_string(),
            present: file.exists,
            valid: e.grants_valid,
            sha256_pin: m.sha256.as_ref().map(|pin| PinReport {
                sha256: pin.get_ref().clone(),
                line: line(pin.span().start),
                matches: e
                    .digest
                    .as_ref()
                    .is_some_and(|(sha, _)| pin.get_ref().eq_ignore_ascii_case(sha)),
            }),
            limits: table("limits", &[]),
            reuse: table("reuse", &[]),
            http: HttpReport {
                allow: m
                    .http
                    .allow
                    .iter()
                    .map(|a| AllowReport {
                        url: a.url.get_ref().clone(),
                        methods: a.methods.clone(),
                        line: line(a.url.span().start),
                    })
                    .collect(),
                settings: table("http", &["allow"]),
            },
            secrets: SecretsReport {
                names: m
                    .secrets
                    .names
                    .iter()
                    .map(|n| NameReport {
                        name: n.get_ref().clone(),
                        line: line(n.span().start),
                    })
                    .collect(),
                inject: m
                    .secrets
                    .inject
                    .iter()
                    .map(|i| InjectReport {
                        secret: i.secret.get_ref().clone(),
                        url: i.url.get_ref().clone(),
                        header: i.header.clone(),
                        line: line(i.secret.span().start),
                    })
                    .collect(),
            },
            config: m
                .config
                .iter()
                .map(|(key, value)| ConfigReport {
                    key: key.clone(),
                    value: value.get_ref().clone(),
                    line: line(value.span().start),
                })
                .collect(),
        }
    }
}
