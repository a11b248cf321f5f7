//! The plugin directory, loaded: every component in DIR compiled (or taken
//! from the compile cache), asked who it is, and indexed by the task
//! categories it serves.
//!
//! A file that is not a usable plugin is skipped with one log line so the
//! others still serve. Two plugins claiming the same task category is an
//! error naming both files: routing must never depend on load order.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use anyhow::Context;
use wasmtime::Engine;
use wasmtime::component::Linker;

use crate::audit::AuditEvent;
use crate::limits::Limits;
use crate::manifest::{ManifestError, ManifestFile};
use crate::runtime::capabilities::{Capabilities, HostServices};
use crate::runtime::compile_cache::{self, CacheOutcome, CompileError};
use crate::runtime::engine::GuestActivity;
use crate::runtime::instance_pool::ReusePolicy;
use crate::runtime::instance_state::InstanceState;
use crate::runtime::{Plugin, types};

/// A task category as a map key: (name, version).
pub type CategoryKey = (String, i32);

/// Everything needed to turn files into plugins.
pub struct Loader {
    pub engine: Engine,
    pub linker: Linker<InstanceState>,
    pub cache_dir: Option<PathBuf>,
    pub default_limits: Limits,
    pub services: HostServices,
    /// Keeps the engine's epoch advancing while a plugin runs.
    pub activity: GuestActivity,
}

/// A plugin compiled and described, not yet announced.
pub struct Loaded {
    pub plugin: Plugin,
    pub stats: LoadStats,
}

/// How a plugin was loaded, for the log.
pub struct LoadStats {
    compile: &'static str,
    ms: u64,
}

/// The registry requests are routed with. The live plugin directory swaps
/// in a whole new [`Registry`]; each request reads the current one once (a
/// read lock and an `Arc` clone), and calls in flight keep the plugin they
/// started with.
#[derive(Default)]
pub struct LiveRegistry(RwLock<Arc<Registry>>);

impl LiveRegistry {
    pub fn new(registry: Arc<Registry>) -> Self {
        LiveRegistry(RwLock::new(registry))
    }

    pub fn current(&self) -> Arc<Registry> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn replace(&self, registry: Registry) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(registry);
    }
}

/// Plugins indexed for routing.
#[derive(Default)]
pub struct Registry {
    by_category: HashMap<CategoryKey, Arc<Plugin>>,
    by_name: BTreeMap<String, Arc<Plugin>>,
}

/// No plugin serves the requested category.
#[derive(Debug, thiserror::Error)]
#[error("no agent serves task type \"{name}\" version {version}; known task types: {known}")]
pub struct UnknownCategory {
    pub name: String,
    pub version: i32,
    pub known: String,
}

impl Loader {
    pub fn new(
        engine: Engine,
        cache_dir: Option<PathBuf>,
        default_limits: Limits,
        services: HostServices,
        activity: GuestActivity,
    ) -> anyhow::Result<Self> {
        let linker = crate::runtime::plugin::host_linker(&engine)?;
        Ok(Loader {
            engine,
            linker,
            cache_dir,
            default_limits,
            services,
            activity,
        })
    }

    /// Loads one component file with its manifest.
    pub async fn load_file(&self, file: &Path) -> anyhow::Result<Plugin> {
        let manifest = ManifestFile::load_for(file)?;
        self.load_with_manifest(file, &manifest).await
    }

    /// Loads one component file with a manifest already read. Manifest
    /// problems come back as a [`ManifestError`] (`FILE:LINE: ...`).
    pub async fn load_with_manifest(
        &self,
        file: &Path,
        manifest_file: &ManifestFile,
    ) -> anyhow::Result<Plugin> {
        let loaded = self.load_unannounced(file, manifest_file).await?;
        self.announce(&loaded.plugin, &loaded.stats);
        Ok(loaded.plugin)
    }

    /// Loads a plugin without logging or auditing it yet: the live
    /// directory announces a new version only once it is swapped in.
    pub async fn load_unannounced(
        &self,
        file: &Path,
        manifest_file: &ManifestFile,
    ) -> anyhow::Result<Loaded> {
        let plugin_id = plugin_id(file);
        let Grants {
            limits,
            capabilities,
            reuse,
        } = grants(
            &plugin_id,
            manifest_file,
            self.default_limits,
            &self.services,
        )?;
        let manifest = &manifest_file.manifest;
        let bytes = tokio::fs::read(file)
            .await
            .with_context(|| format!("cannot read {}", file.display()))?;
        let sha256 = compile_cache::content_sha256(&bytes);
        if let Some(pinned) = &manifest.sha256
            && !pinned.get_ref().eq_ignore_ascii_case(&sha256)
        {
            return Err(manifest_file
                .error_at(
                    pinned.span().start,
                    format!(
                        "sha256 = \"{}\" does not match the component, whose sha256 is {sha256}: \
                         deploy the pinned build, or update the pin if this build is intended",
                        pinned.get_ref()
                    ),
                )
                .into());
        }
        let size = bytes.len() as u64;
        let engine = self.engine.clone();
        let cache_dir = self.cache_dir.clone();
        let started = std::time::Instant::now();
        // What is compiled: the file, or with [reuse] the file rewritten to
        // be resettable. The latter is cached under the file's hash and the
        // rewrite's fingerprint, so a cache hit skips the rewrite as well as
        // the compile (the sha256 shown and pinned stays the file's).
        let memory_limit_bytes = limits.memory_bytes;
        let key = match reuse {
            Some(_) => crate::runtime::reuse::cache_key(&sha256, memory_limit_bytes),
            None => sha256.clone(),
        };
        let rewrites = reuse.is_some();
        let (component, outcome) = tokio::task::spawn_blocking(move || {
            compile_cache::load_or_compile_from(&engine, &key, cache_dir.as_deref(), || {
                if rewrites {
                    rewrite_for_reuse(&bytes, memory_limit_bytes).map(Cow::Owned)
                } else {
                    Ok(Cow::Borrowed(&bytes))
                }
            })
        })
        .await
        .context("compilation task failed")?
        .map_err(|e| match e {
            CompileError::Source(e) => e,
            CompileError::Compile(e) => {
                let reason = crate::runtime::one_line(&format!("{e:#}"));
                if rewrites {
                    anyhow::anyhow!(
                        "[reuse] is enabled but the component rewritten to be resettable does \
                         not compile: {reason}; remove [reuse] to run it with a fresh instance \
                         per call"
                    )
                } else {
                    anyhow::anyhow!("not a valid WebAssembly component: {reason}")
                }
            }
        })?;
        let plugin = Plugin::load(
            &self.linker,
            &component,
            file.to_path_buf(),
            sha256,
            size,
            limits,
            Arc::new(capabilities),
            reuse,
            self.activity.clone(),
        )
        .await?;
        Ok(Loaded {
            plugin,
            stats: LoadStats {
                compile: match outcome {
                    CacheOutcome::Hit => "cached",
                    CacheOutcome::Miss => "compiled",
                    CacheOutcome::Disabled => "compiled (cache off)",
                },
                ms: started.elapsed().as_millis() as u64,
            },
        })
    }

    /// Logs and audits a plugin that now serves.
    pub fn announce(&self, plugin: &Plugin, stats: &LoadStats) {
        let file = &plugin.file;
        tracing::info!(
            file = %file.display(),
            agent = %plugin.name(),
            sync = plugin.is_sync(),
            observable = plugin.is_observable(),
            sha256 = %&plugin.sha256[..12],
            bytes = plugin.size,
            categories = %describe_categories(&plugin.info.categories),
            compile = stats.compile,
            ms = stats.ms,
            "plugin loaded"
        );
        self.services.audit.record(AuditEvent::PluginLoaded {
            plugin: plugin_id(file),
            file: file.display().to_string(),
            sha256: plugin.sha256.clone(),
            categories: plugin
                .info
                .categories
                .iter()
                .map(|c| format!("{}:{}", c.name, c.version))
                .collect(),
        });
    }

    /// Loads every `*.wasm` in `dir`. Unusable files are logged and
    /// returned as skipped; conflicting task categories are an error.
    pub async fn load_dir(&self, dir: &Path) -> anyhow::Result<(Registry, Vec<PathBuf>)> {
        let files = component_files(dir)?;
        let mut plugins = Vec::new();
        let mut skipped = Vec::new();
        for file in files {
            match self.load_file(&file).await {
                Ok(plugin) => plugins.push(Arc::new(plugin)),
                Err(e) => {
                    tracing::error!(file = %file.display(), "skipping plugin: {e:#}");
                    skipped.push(file);
                }
            }
        }
        Ok((Registry::from_plugins(plugins)?, skipped))
    }
}

/// What a manifest grants, checked.
pub struct Grants {
    /// The plugin's limits over the host's defaults.
    pub limits: Limits,
    pub capabilities: Capabilities,
    /// `[reuse]`: `None` for a fresh instance per call.
    pub reuse: Option<ReusePolicy>,
}

/// What a manifest grants, checked: the plugin's limits over `defaults`,
/// its capabilities and whether its instances are reused. Errors point at
/// the manifest line to fix.
pub fn grants(
    plugin_id: &str,
    manifest_file: &ManifestFile,
    defaults: Limits,
    services: &HostServices,
) -> Result<Grants, ManifestError> {
    let manifest = &manifest_file.manifest;
    let limits = manifest
        .limits
        .apply(defaults)
        .map_err(|reason| manifest_file.error(reason))?;
    let capabilities = Capabilities::from_manifest(plugin_id, manifest, services)
        .map_err(|reason| manifest_file.error(reason))?;
    let reuse = ReusePolicy::from_manifest(&manifest.reuse, &limits)
        .map_err(|reason| manifest_file.error(reason))?;
    Ok(Grants {
        limits,
        capabilities,
        reuse,
    })
}

/// The component rewritten so that its instances can reset themselves
/// between calls (`runtime::reuse`), or why it cannot be. Blocking: run it
/// off the async workers.
fn rewrite_for_reuse(bytes: &[u8], memory_limit_bytes: u64) -> anyhow::Result<Vec<u8>> {
    crate::runtime::reuse::rewrite(bytes, memory_limit_bytes).map_err(|e| {
        let reason = crate::runtime::one_line(&format!("{e:#}"));
        anyhow::anyhow!(
            "[reuse] is enabled but this component cannot be made resettable: {reason}; \
             remove [reuse] to run it with a fresh instance per call"
        )
    })
}

impl Registry {
    /// Indexes plugins; fails if two claim one category or one agent name.
    pub fn from_plugins(plugins: Vec<Arc<Plugin>>) -> anyhow::Result<Registry> {
        let mut registry = Registry::default();
        for plugin in plugins {
            for category in &plugin.info.categories {
                let key = (category.name.clone(), category.version);
                if let Some(other) = registry.by_category.get(&key) {
                    anyhow::bail!(
                        "task type \"{}\" version {} is claimed by both {} and {}: remove one of them or change its task type",
                        key.0,
                        key.1,
                        other.file.display(),
                        plugin.file.display()
                    );
                }
                registry.by_category.insert(key, plugin.clone());
            }
            if let Some(other) = registry.by_name.get(plugin.name()) {
                anyhow::bail!(
                    "agent name \"{}\" is used by both {} and {}: agent names must be unique",
                    plugin.name(),
                    other.file.display(),
                    plugin.file.display()
                );
            }
            registry.by_name.insert(plugin.name().to_string(), plugin);
        }
        Ok(registry)
    }

    /// Finds the plugin for a request. Propeller sends `task_category`; old
    /// clients send only the deprecated `task_type` string (version 0).
    pub fn resolve(
        &self,
        category: Option<(&str, i32)>,
        task_type: &str,
    ) -> Result<Arc<Plugin>, UnknownCategory> {
        let (name, version) = match category {
            Some((name, version)) if !name.is_empty() => (name, version),
            _ => (task_type, 0),
        };
        self.by_category
            .get(&(name.to_string(), version))
            .cloned()
            .ok_or_else(|| UnknownCategory {
                name: name.to_string(),
                version,
                known: self.known_categories(),
            })
    }

    /// The plugin loaded from `file`, if any.
    pub fn by_file(&self, file: &Path) -> Option<Arc<Plugin>> {
        self.plugins().find(|p| p.file == file).cloned()
    }

    /// This registry with `plugin` added, replacing the one from the same
    /// file; fails like [`Registry::from_plugins`] on a collision.
    pub fn with_plugin(&self, plugin: Arc<Plugin>) -> anyhow::Result<Registry> {
        let mut plugins: Vec<Arc<Plugin>> = self
            .plugins()
            .filter(|p| p.file != plugin.file)
            .cloned()
            .collect();
        plugins.push(plugin);
        Registry::from_plugins(plugins)
    }

    /// This registry without the plugin loaded from `file`.
    pub fn without_file(&self, file: &Path) -> Registry {
        let others = self.plugins().filter(|p| p.file != file).cloned();
        Registry::from_plugins(others.collect())
            .expect("a subset of a valid registry has no collisions")
    }

    pub fn by_name(&self, name: &str) -> Option<Arc<Plugin>> {
        self.by_name.get(name).cloned()
    }

    /// Plugins in agent-name order.
    pub fn plugins(&self) -> impl Iterator<Item = &Arc<Plugin>> {
        self.by_name.values()
    }

    pub fn agent_names(&self) -> Vec<String> {
        self.by_name.keys().cloned().collect()
    }

    fn known_categories(&self) -> String {
        let mut known: Vec<String> = self
            .by_category
            .keys()
            .map(|(name, version)| format!("{name} (v{version})"))
            .collect();
        known.sort();
        if known.is_empty() {
            "none (no plugins are loaded)".to_string()
        } else {
            known.join(", ")
        }
    }
}

/// The component files of a plugin directory, sorted.
pub fn component_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).with_context(|| {
        format!(
            "cannot read the plugin directory {}: create it or pass --plugins DIR",
            dir.display()
        )
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.is_file() && path.extension().is_some_and(|ext| ext == "wasm"))
        .collect();
    files.sort();
    Ok(files)
}

/// A plugin's id (audit events, manifests): its file name without `.wasm`.
pub fn plugin_id(file: &Path) -> String {
    file.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

pub fn describe_categories(categories: &[types::TaskCategory]) -> String {
    categories
        .iter()
        .map(|c| format!("{} (v{})", c.name, c.version))
        .collect::<Vec<_>>()
        .join(", ")
}
