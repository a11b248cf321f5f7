//! One loaded plugin: its compiled component pre-linked against the host
//! (`InstancePre`), what it says it is, and typed entry points that run each
//! call in a fresh, limited instance.
//!
//! A call either returns the agent's own answer (`Ok`, which may itself be
//! an agent error) or a [`CallError`] when the sandbox stopped it: a trap, a
//! deadline, a full instance pool. The instance is dropped after every call
//! whatever happened, so a trap never poisons the next call.
//!
//! Every call goes through the plugin's limits in this order: the size of
//! what is passed in, a slot among its `max_concurrent_calls` (waiting at
//! most `queue_timeout_ms`), then a fresh instance with its memory cap,
//! wall-clock deadline and fuel armed, then the size of what came back.
//! The wall-clock deadline is enforced twice: epoch interruption stops
//! guest code, and a timer around the call stops a guest waiting in the
//! host.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::sync::{Semaphore, SemaphorePermit};
use wasmtime::component::{Component, ComponentExportIndex, Instance, InstancePre, Linker};
use wasmtime::{Engine, Store, Trap, UpdateDeadline};

use super::bindings::{async_handler, config, identity, logging, observability, secrets, types};
use super::boundary;
use super::capabilities::Capabilities;
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
    /// One permit per call allowed to run at once (`max_concurrent_calls`).
    calls: Semaphore,
    /// Whether the engine meters fuel (then every store needs some).
    meters_fuel: bool,
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
    /// No instance slot was free, or the plugin's own call slots stayed
    /// busy for its whole queue timeout.
    #[error("no capacity to run plugin {plugin}: {reason}")]
    Capacity { plugin: String, reason: String },
    /// The call used all the fuel its plugin is given.
    #[error(
        "plugin {plugin} ran out of fuel: the call used all {limit} units (limits.fuel) before \
         finishing; make the work smaller or raise limits.fuel in its manifest"
    )]
    OutOfFuel { plugin: String, limit: u64 },
    /// The task or handle is larger than the plugin accepts; nothing ran.
    #[error(
        "the request for plugin {plugin} is {bytes} bytes, over its limit of {limit} bytes \
         (limits.max_input_bytes): pass large data by reference (a blob URI), or raise the limit \
         in its manifest"
    )]
    InputTooLarge {
        plugin: String,
        bytes: u64,
        limit: u64,
    },
    /// The plugin answered more bytes than it may (the answer is dropped).
    #[error(
        "plugin {plugin} answered {bytes} bytes, over its limit of {limit} bytes \
         (limits.max_output_bytes): return large results by reference (write them under the \
         output prefix), or raise the limit in its manifest"
    )]
    OutputTooLarge {
        plugin: String,
        bytes: u64,
        limit: u64,
    },
    /// The plugin does not implement this call.
    #[error("plugin {plugin} does not implement {what}")]
    Unimplemented { plugin: String, what: &'static str },
}

/// Builds the linker every plugin is pre-linked against: WASI (with no
/// files, sockets or environment granted), `wasi:http` (every request
/// denied unless the plugin's manifest allows it) and the `flyte:agent`
/// imports.
pub fn host_linker(engine: &Engine) -> anyhow::Result<Linker<InstanceState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(super::to_anyhow)?;
    // wasi:http for every plugin; each request is checked by `egress`.
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).map_err(super::to_anyhow)?;
    logging::add_to_linker::<InstanceState, wasmtime::component::HasSelf<InstanceState>>(
        &mut linker,
        |state| state,
    )
    .map_err(super::to_anyhow)?;
    secrets::add_to_linker::<InstanceState, wasmtime::component::HasSelf<InstanceState>>(
        &mut linker,
        |state| state,
    )
    .map_err(super::to_anyhow)?;
    config::add_to_linker::<InstanceState, wasmtime::component::HasSelf<InstanceState>>(
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
        // Fuel metering is an engine setting; a store reports whether it is on.
        let meters_fuel = Store::new(pre.engine(), ()).get_fuel().is_ok();
        if limits.fuel.is_some() && !meters_fuel {
            anyhow::bail!(
                "limits.fuel is set, but the engine was built without fuel metering (Hangar \
                 turns it on at start-up when the host config or a manifest sets limits.fuel: \
                 restart it after adding one)"
            );
        }
        let mut plugin = Plugin {
            file,
            sha256,
            size,
            info: types::AgentInfo {
                name: String::new(),
                categories: Vec::new(),
            },
            calls: Semaphore::new(limits.max_concurrent_calls as usize),
            limits,
            capabilities,
            pre,
            handler,
            meters_fuel,
        };
        let context = LogContext {
            plugin: plugin.file.display().to_string(),
            task: "describe".into(),
        };
        let info = plugin
            .timed(async {
                let (mut store, guest) =
                    plugin.prepare(context, |s, i| identity.load(s, i)).await?;
                plugin
                    .in_guest(guest.call_describe(&mut store))
                    .await
                    .map_err(|e| plugin.classify(e, &store))
            })
            .await
            .context("describe failed")?;
        validate_info(&info)?;
        plugin.info = info;
        Ok(plugin)
    }

    pub fn name(&self) -> &str {
        &self.info.name
    }

    /// The compiled component (its imports and exports, for `hangar inspect`).
    pub fn component(&self) -> &Component {
        self.pre.component()
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
        let _slot = self.admit(boundary::task(task)).await?;
        let answer = self
            .timed(async {
                let (mut store, guest) = self.prepare(context, |s, i| handler.load(s, i)).await?;
                self.in_guest(guest.call_create(&mut store, task))
                    .await
                    .map_err(|e| self.classify(e, &store))
            })
            .await?;
        self.check_output(boundary::answer(&answer, |meta| meta.len() as u64))?;
        Ok(answer)
    }

    pub async fn get(
        &self,
        context: LogContext,
        handle: &types::TaskHandle,
    ) -> Result<Result<types::Resource, types::AgentError>, CallError> {
        let handler = self.async_handler("get")?;
        let _slot = self.admit(boundary::handle(handle)).await?;
        let answer = self
            .timed(async {
                let (mut store, guest) = self.prepare(context, |s, i| handler.load(s, i)).await?;
                self.in_guest(guest.call_get(&mut store, handle))
                    .await
                    .map_err(|e| self.classify(e, &store))
            })
            .await?;
        self.check_output(boundary::answer(&answer, boundary::resource))?;
        Ok(answer)
    }

    pub async fn delete(
        &self,
        context: LogContext,
        handle: &types::TaskHandle,
    ) -> Result<Result<(), types::AgentError>, CallError> {
        let handler = self.async_handler("delete")?;
        let _slot = self.admit(boundary::handle(handle)).await?;
        let answer = self
            .timed(async {
                let (mut store, guest) = self.prepare(context, |s, i| handler.load(s, i)).await?;
                self.in_guest(guest.call_delete(&mut store, handle))
                    .await
                    .map_err(|e| self.classify(e, &store))
            })
            .await?;
        self.check_output(boundary::answer(&answer, |()| 0))?;
        Ok(answer)
    }

    pub async fn get_metrics(
        &self,
        context: LogContext,
        handle: &types::TaskHandle,
        query: &types::MetricsQuery,
    ) -> Result<Result<Vec<types::MetricResult>, types::AgentError>, CallError> {
        let indices = self.observability("get-metrics")?;
        let query_bytes: usize = query.queries.iter().map(String::len).sum();
        let _slot = self
            .admit(boundary::handle(handle) + query_bytes as u64)
            .await?;
        let answer = self
            .timed(async {
                let (mut store, guest) = self.prepare(context, |s, i| indices.load(s, i)).await?;
                self.in_guest(guest.call_get_metrics(&mut store, handle, query))
                    .await
                    .map_err(|e| self.classify(e, &store))
            })
            .await?;
        self.check_output(boundary::answer(&answer, |m| boundary::metrics(m)))?;
        Ok(answer)
    }

    pub async fn get_logs(
        &self,
        context: LogContext,
        handle: &types::TaskHandle,
        lines: u64,
        token: &str,
    ) -> Result<Result<types::LogPage, types::AgentError>, CallError> {
        let indices = self.observability("get-logs")?;
        let _slot = self
            .admit(boundary::handle(handle) + token.len() as u64)
            .await?;
        let answer = self
            .timed(async {
                let (mut store, guest) = self.prepare(context, |s, i| indices.load(s, i)).await?;
                self.in_guest(guest.call_get_logs(&mut store, handle, lines, token))
                    .await
                    .map_err(|e| self.classify(e, &store))
            })
            .await?;
        self.check_output(boundary::answer(&answer, boundary::log_page))?;
        Ok(answer)
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
        let _slot = self.admit(boundary::task(task)).await?;
        let (result,) = self
            .timed(async {
                let (mut store, func) = self
                    .prepare(context, |s, i| {
                        i.get_typed_func::<(&types::Task,), DoFunc>(s, &handler.do_export)
                    })
                    .await?;
                self.in_guest(func.call_async(&mut store, (task,)))
                    .await
                    .map_err(|e| self.classify(e, &store))
            })
            .await?;
        self.check_output(boundary::answer(&result, boundary::resource))?;
        Ok(result)
    }

    /// Checks the size of what a call passes in, then waits (at most the
    /// queue timeout) for one of the plugin's call slots. The slot is held
    /// until the returned permit is dropped, after the instance.
    async fn admit(&self, input_bytes: u64) -> Result<SemaphorePermit<'_>, CallError> {
        if input_bytes > self.limits.max_input_bytes {
            return Err(CallError::InputTooLarge {
                plugin: self.display_name(),
                bytes: input_bytes,
                limit: self.limits.max_input_bytes,
            });
        }
        // The common case takes a permit without arming a timer.
        if let Ok(permit) = self.calls.try_acquire() {
            return Ok(permit);
        }
        match tokio::time::timeout(self.limits.queue_timeout, self.calls.acquire()).await {
            Ok(Ok(permit)) => Ok(permit),
            // Elapsed (the semaphore is never closed).
            _ => Err(CallError::Capacity {
                plugin: self.display_name(),
                reason: format!(
                    "all {} of its concurrent calls (limits.max_concurrent_calls) are in use and \
                     none freed up within {}ms (limits.queue_timeout_ms); retry later, or raise \
                     the limits in its manifest",
                    self.limits.max_concurrent_calls,
                    self.limits.queue_timeout.as_millis()
                ),
            }),
        }
    }

    /// Runs `call` (a fresh instance and one guest call) under the plugin's
    /// wall-clock limit. The epoch deadline stops guest code; this also
    /// stops a guest that waits inside the host (a sleep, a slow response),
    /// by dropping the call with its instance.
    async fn timed<T>(
        &self,
        call: impl Future<Output = Result<T, CallError>>,
    ) -> Result<T, CallError> {
        tokio::time::timeout(self.limits.call_timeout, call)
            .await
            .unwrap_or_else(|_elapsed| {
                Err(CallError::Timeout {
                    plugin: self.display_name(),
                    limit: self.limits.call_timeout,
                })
            })
    }

    /// Runs one call into the guest's export and records how long it took
    /// (`hangar_guest_call_duration_seconds`).
    async fn in_guest<T>(
        &self,
        call: impl Future<Output = wasmtime::Result<T>>,
    ) -> wasmtime::Result<T> {
        let started = Instant::now();
        let result = call.await;
        self.capabilities.metrics.guest_called(started.elapsed());
        result
    }

    /// Checks the size of what a call returned.
    fn check_output(&self, bytes: u64) -> Result<(), CallError> {
        if bytes > self.limits.max_output_bytes {
            return Err(CallError::OutputTooLarge {
                plugin: self.display_name(),
                bytes,
                limit: self.limits.max_output_bytes,
            });
        }
        Ok(())
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
            InstanceState::new(self.limits.memory_bytes, context, self.capabilities.clone()),
        );
        store.limiter(|state| &mut state.limits);
        // Each epoch tick (10 ms) of guest execution checks the wall-clock
        // deadline and otherwise yields to the async runtime, so a guest
        // that computes for long never holds a worker thread: other calls
        // (and queue timeouts) keep running on the same threads. tokio's
        // `yield_now` resumes the guest only once the worker has run what
        // else was ready and polled for network events; a plain wake-up
        // would be resumed first and let new requests wait for tokio's
        // periodic I/O poll (61 polls, over half a second of busy guests).
        let deadline = Instant::now() + self.limits.call_timeout;
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            Ok(if Instant::now() >= deadline {
                UpdateDeadline::Interrupt
            } else {
                UpdateDeadline::YieldCustom(1, Box::pin(tokio::task::yield_now()))
            })
        });
        if self.meters_fuel {
            let fuel = self.limits.fuel.unwrap_or(u64::MAX);
            store.set_fuel(fuel).map_err(|e| self.classify(e, &store))?;
        }
        let started = Instant::now();
        let instance = self
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(|e| self.classify(e, &store))?;
        self.capabilities.metrics.instantiated(started.elapsed());
        Ok((store, instance))
    }

    /// Turns a wasmtime error into the reason a caller can act on.
    fn classify(&self, error: wasmtime::Error, store: &Store<InstanceState>) -> CallError {
        let plugin = self.display_name();
        // The whole error, with the guest's backtrace, for whoever debugs.
        tracing::debug!(plugin = %plugin, "call failed: {error:?}");
        if error
            .downcast_ref::<wasmtime::PoolConcurrencyLimitError>()
            .is_some()
        {
            return CallError::Capacity {
                plugin,
                reason: "every instance slot is in use; retry shortly".into(),
            };
        }
        match error.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => {
                return CallError::Timeout {
                    plugin,
                    limit: self.limits.call_timeout,
                };
            }
            Some(Trap::OutOfFuel) => {
                return CallError::OutOfFuel {
                    plugin,
                    limit: self.limits.fuel.unwrap_or(u64::MAX),
                };
            }
            _ => {}
        }
        if store.data().limits.exceeded() {
            return CallError::Trap {
                plugin,
                reason: format!(
                    "memory limit of {} MiB reached (limits.memory_mib)",
                    self.limits.memory_bytes / (1024 * 1024)
                ),
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
