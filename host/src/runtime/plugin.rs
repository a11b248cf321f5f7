//! One loaded plugin: its compiled component pre-linked against the host
//! (`InstancePre`), what it says it is, and typed entry points that run each
//! call in a fresh, limited instance.
//!
//! A call either returns the agent's own answer (`Ok`, which may itself be
//! an agent error) or a [`CallError`] when the sandbox stopped it: a trap, a
//! deadline, a full instance pool. The instance is dropped after every call
//! whatever happened, so a trap never poisons the next call.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use wasmtime::component::{Component, ComponentExportIndex, Instance, InstancePre, Linker};
use wasmtime::{Engine, Store, Trap};

use super::bindings::{async_handler, identity, logging, observability, types};
use super::capabilities::Capabilities;
use super::engine::ticks_for;
use super::instance_state::{InstanceState, LogContext};
use crate::limits::Limits;

/// Which flavour of agent a component is, decided by its exports.
enum Handler {
    Async {
        handler: async_handler::GuestIndices,
        observability: Option<observability::GuestIndices>,
    },
    Sync(SyncHandler),
}

/// Where a sync plugin's `do` export is (bindgen cannot name `do`).
struct SyncHandler {
    do_export: ComponentExportIndex,
}

const SYNC_HANDLER: &str = "flyte:agent/sync-handler@0.1.0";

impl SyncHandler {
    fn new(pre: &InstancePre<InstanceState>) -> Option<SyncHandler> {
        let component = pre.component();
        let interface = component.get_export_index(None, SYNC_HANDLER)?;
        let do_export = component.get_export_index(Some(&interface), "do")?;
        Some(SyncHandler { do_export })
    }
}

/// A plugin ready to serve.
pub struct Plugin {
    /// The component file it was loaded from.
    pub file: PathBuf,
    /// sha256 of the component bytes, hex.
    pub sha256: String,
    /// Size of the component file in bytes.
    pub size: u64,
    /// What the component said about itself.
    pub info: types::AgentInfo,
    pub limits: Limits,
    /// What the plugin's manifest grants.
    pub capabilities: Arc<Capabilities>,
    pre: InstancePre<InstanceState>,
    handler: Handler,
}

/// Why a call did not produce an answer from the agent.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The guest trapped (panic, unreachable, out-of-bounds access, memory
    /// limit...). The message is one line.
    #[error("plugin {plugin} trapped: {reason}")]
    Trap { plugin: String, reason: String },
    /// The call ran past the plugin's time limit and was interrupted.
    #[error("plugin {plugin} did not finish within {}ms", .limit.as_millis())]
    Timeout { plugin: String, limit: Duration },
    /// No instance slot was free.
    #[error("no capacity to run plugin {plugin}: {reason}")]
    Capacity { plugin: String, reason: String },
    /// The plugin does not implement this call.
    #[error("plugin {plugin} does not implement {what}")]
    Unimplemented { plugin: String, what: &'static str },
}

/// Builds the linker every plugin is pre-linked against: WASI (with no
/// files, sockets or environment granted) and the `flyte:agent` imports.
pub fn host_linker(engine: &Engine) -> anyhow::Result<Linker<InstanceState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(super::to_anyhow)?;
    logging::add_to_linker::<InstanceState, wasmtime::component::HasSelf<InstanceState>>(
        &mut linker,
        |state| state,
    )
    .map_err(super::to_anyhow)?;
    Ok(linker)
}

impl Plugin {
    /// Links `component`, checks its exports and asks it who it is.
    pub async fn load(
        linker: &Linker<InstanceState>,
        component: &Component,
        file: PathBuf,
        sha256: String,
        size: u64,
        limits: Limits,
        capabilities: Arc<Capabilities>,
    ) -> anyhow::Result<Plugin> {
        let pre = linker.instantiate_pre(component).map_err(|e| {
            anyhow::anyhow!(
                "imports something the host does not provide: {}",
                super::one_line(&format!("{e:#}"))
            )
        })?;
        let identity = identity::GuestIndices::new(&pre).map_err(|_| {
            anyhow::anyhow!(
                "does not export flyte:agent/identity@0.1.0: build it against the world \
                 async-agent or sync-agent of the WIT package in wit/"
            )
        })?;
        let async_handler = async_handler::GuestIndices::new(&pre).ok();
        let sync_handler = SyncHandler::new(&pre);
        let handler = match (async_handler, sync_handler) {
            (Some(handler), None) => Handler::Async {
                handler,
                observability: observability::GuestIndices::new(&pre).ok(),
            },
            (None, Some(handler)) => Handler::Sync(handler),
            (Some(_), Some(_)) => anyhow::bail!(
                "exports both async-handler and sync-handler: an agent is either async or sync"
            ),
            (None, None) => anyhow::bail!(
                "exports neither flyte:agent/async-handler nor flyte:agent/sync-handler: build \
                 it against the world async-agent or sync-agent"
            ),
        };
        let mut plugin = Plugin {
            file,
            sha256,
            size,
            info: types::AgentInfo {
                name: String::new(),
                categories: Vec::new(),
            },
            limits,
            capabilities,
            pre,
            handler,
        };
        let context = LogContext {
            plugin: plugin.file.display().to_string(),
            task: "describe".into(),
        };
        let (mut store, guest) = plugin
            .prepare(context, |s, i| identity.load(s, i))
            .await
            .context("cannot call describe")?;
        let info = guest
            .call_describe(&mut store)
            .await
            .map_err(|e| plugin.classify(e, &store))
            .context("describe failed")?;
        validate_info(&info)?;
        plugin.info = info;
        Ok(plugin)
    }

    pub fn name(&self) -> &str {
        &self.info.name
    }

    pub fn is_sync(&self) -> bool {
        matches!(self.handler, Handler::Sync(_))
    }

    pub fn is_observable(&self) -> bool {
        matches!(
            self.handler,
            Handler::Async {
                observability: Some(_),
                ..
            }
        )
    }

    pub async fn create(
        &self,
        context: LogContext,
        task: &types::Task,
    ) -> Result<Result<Vec<u8>, types::AgentError>, CallError> {
        let handler = self.async_handler("create")?;
        let (mut store, guest) = self.prepare(context, |s, i| handler.load(s, i)).await?;
        guest
            .call_create(&mut store, task)
            .await
            .map_err(|e| self.classify(e, &store))
    }

    pub async fn get(
        &self,
        context: LogContext,
        handle: &types::TaskHandle,
    ) -> Result<Result<types::Resource, types::AgentError>, CallError> {
        let handler = self.async_handler("get")?;
        let (mut store, guest) = self.prepare(context, |s, i| handler.load(s, i)).await?;
        guest
            .call_get(&mut store, handle)
            .await
            .map_err(|e| self.classify(e, &store))
    }

    pub async fn delete(
        &self,
        context: LogContext,
        handle: &types::TaskHandle,
    ) -> Result<Result<(), types::AgentError>, CallError> {
        let handler = self.async_handler("delete")?;
        let (mut store, guest) = self.prepare(context, |s, i| handler.load(s, i)).await?;
        guest
            .call_delete(&mut store, handle)
            .await
            .map_err(|e| self.classify(e, &store))
    }

    pub async fn get_metrics(
        &self,
        context: LogContext,
        handle: &types::TaskHandle,
        query: &types::MetricsQuery,
    ) -> Result<Result<Vec<types::MetricResult>, types::AgentError>, CallError> {
        let indices = self.observability("get-metrics")?;
        let (mut store, guest) = self.prepare(context, |s, i| indices.load(s, i)).await?;
        guest
            .call_get_metrics(&mut store, handle, query)
            .await
            .map_err(|e| self.classify(e, &store))
    }

    pub async fn get_logs(
        &self,
        context: LogContext,
        handle: &types::TaskHandle,
        lines: u64,
        token: &str,
    ) -> Result<Result<types::LogPage, types::AgentError>, CallError> {
        let indices = self.observability("get-logs")?;
        let (mut store, guest) = self.prepare(context, |s, i| indices.load(s, i)).await?;
        guest
            .call_get_logs(&mut store, handle, lines, token)
            .await
            .map_err(|e| self.classify(e, &store))
    }

    pub async fn run_sync(
        &self,
        context: LogContext,
        task: &types::Task,
    ) -> Result<Result<types::Resource, types::AgentError>, CallError> {
        let Handler::Sync(handler) = &self.handler else {
            return Err(self.unimplemented("do"));
        };
        type DoFunc = (Result<types::Resource, types::AgentError>,);
        let (mut store, func) = self
            .prepare(context, |s, i| {
                i.get_typed_func::<(&types::Task,), DoFunc>(s, &handler.do_export)
            })
            .await?;
        let (result,) = func
            .call_async(&mut store, (task,))
            .await
            .map_err(|e| self.classify(e, &store))?;
        Ok(result)
    }

    fn async_handler(&self, what: &'static str) -> Result<&async_handler::GuestIndices, CallError> {
        match &self.handler {
            Handler::Async { handler, .. } => Ok(handler),
            Handler::Sync(_) => Err(self.unimplemented(what)),
        }
    }

    fn observability(&self, what: &'static str) -> Result<&observability::GuestIndices, CallError> {
        match &self.handler {
            Handler::Async {
                observability: Some(indices),
                ..
            } => Ok(indices),
            _ => Err(self.unimplemented(what)),
        }
    }

    fn unimplemented(&self, what: &'static str) -> CallError {
        CallError::Unimplemented {
            plugin: self.info.name.clone(),
            what,
        }
    }

    /// A fresh instance with one of its exports looked up by `load`.
    async fn prepare<G>(
        &self,
        context: LogContext,
        load: impl FnOnce(&mut Store<InstanceState>, &Instance) -> wasmtime::Result<G>,
    ) -> Result<(Store<InstanceState>, G), CallError> {
        let (mut store, instance) = self.instantiate(context).await?;
        let guest = load(&mut store, &instance).map_err(|e| self.classify(e, &store))?;
        Ok((store, guest))
    }

    /// A fresh instance in a fresh store, with this plugin's limits armed.
    async fn instantiate(
        &self,
        context: LogContext,
    ) -> Result<(Store<InstanceState>, Instance), CallError> {
        let mut store = Store::new(
            self.pre.engine(),
            InstanceState::new(
                self.limits.memory_bytes,
                context,
                self.capabilities.clone(),
            ),
        );
        store.limiter(|state| &mut state.limits);
        store.set_epoch_deadline(ticks_for(self.limits.call_timeout));
        store.epoch_deadline_trap();
        let instance = self
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(|e| self.classify(e, &store))?;
        Ok((store, instance))
    }

    /// Turns a wasmtime error into the reason a caller can act on.
    fn classify(&self, error: wasmtime::Error, store: &Store<InstanceState>) -> CallError {
        let plugin = self.display_name();
        if error
            .downcast_ref::<wasmtime::PoolConcurrencyLimitError>()
            .is_some()
        {
            return CallError::Capacity {
                plugin,
                reason: "every instance slot is in use; retry shortly".into(),
            };
        }
        if let Some(Trap::Interrupt) = error.downcast_ref::<Trap>() {
            return CallError::Timeout {
                plugin,
                limit: self.limits.call_timeout,
            };
        }
        let mut reason = match error.downcast_ref::<Trap>() {
            Some(trap) => trap.to_string(),
            None => super::one_line(&format!("{error:#}")),
        };
        if let Some(line) = store.data().stderr_reason() {
            reason = format!("{reason} ({line})");
        }
        CallError::Trap { plugin, reason }
    }

    fn display_name(&self) -> String {
        if self.info.name.is_empty() {
            self.file.display().to_string()
        } else {
            self.info.name.clone()
        }
    }
}

/// Checks what a component says about itself before anything is routed to it.
fn validate_info(info: &types::AgentInfo) -> anyhow::Result<()> {
    if info.name.trim().is_empty() {
        anyhow::bail!("describe() returned an empty agent name");
    }
    if info.categories.is_empty() {
        anyhow::bail!(
            "describe() returned no task categories: an agent must serve at least one task type"
        );
    }
    if let Some(c) = info.categories.iter().find(|c| c.name.trim().is_empty()) {
        anyhow::bail!(
            "describe() returned a task category with an empty name (version {})",
            c.version
        );
    }
    Ok(())
}
