//! One loaded plugin: its compiled component pre-linked against the host
//! (`InstancePre`), what it says it is, and typed entry points that run each
//! call in a limited instance: a fresh one, or, when its manifest enables
//! `[reuse]`, an idle one reset after an earlier call (see `instance_pool`).
//!
//! A call either returns the agent's own answer (`Ok`, which may itself be
//! an agent error) or a [`CallError`] when the sandbox stopped it: a trap, a
//! deadline, a full instance pool. Without `[reuse]` the instance is dropped
//! after every call whatever happened; with it, only an instance whose call
//! returned normally and reset cleanly is kept, so a trap never poisons the
//! next call either way.
//!
//! Every call goes through the plugin's limits in this order: the size of
//! what is passed in, a slot among its `max_concurrent_calls` (waiting at
//! most `queue_timeout_ms`), then an instance with its memory cap,
//! wall-clock deadline and fuel armed, then the size of what came back.
//! The wall-clock deadline is enforced twice: epoch interruption stops
//! guest code, and a timer around the call stops a guest waiting in the
//! host. All of it is one code path, [`Plugin::run`], whatever the export.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::sync::{Semaphore, SemaphorePermit};
use wasmtime::component::{Component, ComponentExportIndex, InstancePre, Linker};
use wasmtime::{Engine, Store, Trap, UpdateDeadline};

use super::bindings::{
    async_handler, config, identity, logging, observability, outbound_http, secrets, types,
};
use super::boundary;
use super::capabilities::Capabilities;
use super::engine::GuestActivity;
use super::instance_pool::{InstancePool, ReadyInstance, ReusePolicy, WhyNotReused};
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
    /// Where `describe` is (also called once before a reusable instance is
    /// committed).
    identity: identity::GuestIndices,
    handler: Handler,
    /// One permit per call allowed to run at once (`max_concurrent_calls`).
    calls: Semaphore,
    /// Whether the engine meters fuel (then every store needs some).
    meters_fuel: bool,
    /// Idle instances kept between calls, when the manifest enables
    /// `[reuse]` (the component was then rewritten to be resettable).
    pool: Option<InstancePool>,
    /// Keeps the epoch advancing while a call of this plugin runs.
    activity: GuestActivity,
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
/// denied unless the plugin's manifest allows it), the `flyte:agent`
/// imports and the pre-initialisation import of QuickJS agents (which
/// traps: see `quickjs_preinit`).
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
    // The same outbound HTTP as plain values, for guests that cannot use
    // wasi:http's resources; each request is checked by `egress` too.
    outbound_http::add_to_linker::<InstanceState, wasmtime::component::HasSelf<InstanceState>>(
        &mut linker,
        |state| state,
    )
    .map_err(super::to_anyhow)?;
    super::quickjs_preinit::add_to_linker(&mut linker)?;
    Ok(linker)
}

impl Plugin {
    /// Links `component`, checks its exports and asks it who it is. With
    /// `reuse`, `component` must be the rewritten one (it exports the
    /// commits and resets of `instance_pool`).
    #[allow(clippy::too_many_arguments)]
    pub async fn load(
        linker: &Linker<InstanceState>,
        component: &Component,
        file: PathBuf,
        sha256: String,
        size: u64,
        limits: Limits,
        capabilities: Arc<Capabilities>,
        reuse: Option<ReusePolicy>,
        activity: GuestActivity,
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
        let pool = reuse
            .map(|policy| InstancePool::new(component, policy))
            .transpose()?;
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
            identity: identity.clone(),
            handler,
            meters_fuel,
            pool,
            activity,
        };
        let context = LogContext {
            plugin: plugin.file.display().to_string(),
            task: "describe".into(),
        };
        let info = plugin
            .run(
                context,
                |ready| identity.load(&mut ready.store, &ready.instance),
                async |store, guest| guest.call_describe(store).await,
            )
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
            .run(
                context,
                |ready| {
                    ready
                        .exports
                        .async_handler(&mut ready.store, &ready.instance, handler)
                },
                async |store, guest| guest.call_create(store, task).await,
            )
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
            .run(
                context,
                |ready| {
                    ready
                        .exports
                        .async_handler(&mut ready.store, &ready.instance, handler)
                },
                async |store, guest| guest.call_get(store, handle).await,
            )
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
            .run(
                context,
                |ready| {
                    ready
                        .exports
                        .async_handler(&mut ready.store, &ready.instance, handler)
                },
                async |store, guest| guest.call_delete(store, handle).await,
            )
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
            .run(
                context,
                |ready| {
                    ready
                        .exports
                        .observability(&mut ready.store, &ready.instance, indices)
                },
                async |store, guest| guest.call_get_metrics(store, handle, query).await,
            )
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
            .run(
                context,
                |ready| {
                    ready
                        .exports
                        .observability(&mut ready.store, &ready.instance, indices)
                },
                async |store, guest| guest.call_get_logs(store, handle, lines, token).await,
            )
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
            .run(
                context,
                // Typed inside the call: a `TypedFunc` over `&Task` carries the
                // task's lifetime, which the call's future may not (rustc
                // cannot then prove it `Send`).
                |ready| {
                    let (s, i) = (&mut ready.store, &ready.instance);
                    i.get_func(s, handler.do_export)
                        .ok_or_else(|| wasmtime::Error::msg("the `do` export is missing"))
                },
                async |store, func| {
                    let func = func.typed::<(&types::Task,), DoFunc>(&*store)?;
                    func.call_async(store, (task,)).await
                },
            )
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

    /// The one path every call takes: an instance for it (an idle one of
    /// the pool, else a fresh one) with the plugin's limits armed, its
    /// export looked up by `load` (kept in the instance's
    /// [`ExportCache`](super::export_cache::ExportCache) for its next
    /// call), one `call` into that export under the plugin's wall-clock
    /// limit; then, with `[reuse]`, the instance goes
    /// back to the pool if [`instance_pool::may_reuse`] allows (its resets
    /// run within the same deadline), else it is dropped.
    ///
    /// [`instance_pool::may_reuse`]: super::instance_pool::may_reuse
    async fn run<G, T>(
        &self,
        context: LogContext,
        load: impl FnOnce(&mut ReadyInstance) -> wasmtime::Result<G>,
        call: impl AsyncFnOnce(&mut Store<InstanceState>, G) -> wasmtime::Result<T>,
    ) -> Result<T, CallError> {
        // Boxed: wasmtime's call futures make this one a few KiB, and each
        // future that awaits it, up to the gRPC handler, would reserve room
        // for it again and be moved at that size (the handler's future was
        // 16 KiB, moved several times per call).
        Box::pin(self.run_unboxed(context, load, call)).await
    }

    /// [`Plugin::run`] without the box.
    async fn run_unboxed<G, T>(
        &self,
        context: LogContext,
        load: impl FnOnce(&mut ReadyInstance) -> wasmtime::Result<G>,
        call: impl AsyncFnOnce(&mut Store<InstanceState>, G) -> wasmtime::Result<T>,
    ) -> Result<T, CallError> {
        // From before the instance is readied (instantiation runs guest
        // code) to after its reset, however the call ends.
        let _running = self.activity.enter();
        let deadline = Instant::now() + self.limits.call_timeout;
        let (result, ready) = self
            .timed(async {
                let mut ready = self.ready_instance(context, deadline).await?;
                let guest = load(&mut ready).map_err(|e| self.classify(e, &ready.store))?;
                let result = self.in_guest(call(&mut ready.store, guest)).await;
                Ok((result, ready))
            })
            .await?;
        let answer = result.map_err(|e| self.classify(e, &ready.store));
        if let Some(pool) = &self.pool {
            let fuel = self
                .meters_fuel
                .then(|| self.limits.fuel.unwrap_or(u64::MAX));
            match pool.give_back(ready, answer.is_ok(), fuel).await {
                Ok(()) => {}
                // Unexpected: the rewrite's reset itself failed.
                Err(why @ WhyNotReused::ResetFailed { .. }) => {
                    tracing::warn!(plugin = %self.display_name(), "instance dropped: {why}")
                }
                Err(why) => {
                    tracing::debug!(plugin = %self.display_name(), "instance dropped: {why}")
                }
            }
        }
        answer
    }

    /// Runs `call` under the plugin's wall-clock limit. The epoch deadline
    /// stops guest code; this also stops a guest that waits inside the host
    /// (a sleep, a slow response), by dropping the call with its instance.
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

    /// An instance for one call ending at `deadline`, with this plugin's
    /// limits armed: an idle one of the pool, given a fresh per-call
    /// context, when there is one; else a fresh one.
    async fn ready_instance(
        &self,
        context: LogContext,
        deadline: Instant,
    ) -> Result<ReadyInstance, CallError> {
        if let Some(mut ready) = self.pool.as_ref().and_then(InstancePool::take) {
            ready.store.data_mut().start_call(context);
            self.arm(&mut ready.store, deadline)?;
            self.capabilities.metrics.reused();
            return Ok(ready);
        }
        // Boxed: an instantiation future is large, and the call's future
        // would hold room for it even on the reuse path, which never
        // instantiates.
        Box::pin(self.instantiate(context, deadline)).await
    }

    /// A fresh instance in a fresh store, with this plugin's limits armed;
    /// with `[reuse]`, committed (the state its resets return to).
    async fn instantiate(
        &self,
        context: LogContext,
        deadline: Instant,
    ) -> Result<ReadyInstance, CallError> {
        let mut store = Store::new(
            self.pre.engine(),
            InstanceState::new(self.limits.memory_bytes, context, self.capabilities.clone()),
        );
        store.limiter(|state| &mut state.limits);
        self.arm(&mut store, deadline)?;
        let started = Instant::now();
        let instance = self
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(|e| self.classify(e, &store))?;
        let mut ready = ReadyInstance::new(store, instance);
        if let Some(pool) = &self.pool {
            // One call without task data first: what a runtime sets up on
            // its first call belongs in the committed state.
            let identity = self
                .identity
                .load(&mut ready.store, &ready.instance)
                .map_err(|e| self.classify(e, &ready.store))?;
            identity
                .call_describe(&mut ready.store)
                .await
                .map_err(|e| self.classify(e, &ready.store))?;
            pool.commit(&mut ready)
                .await
                .map_err(|e| self.classify(e, &ready.store))?;
        }
        self.capabilities.metrics.instantiated(started.elapsed());
        Ok(ready)
    }

    /// Arms the wall-clock deadline and the fuel of one call in `store`
    /// (a fresh one, or a reused one whose earlier call left them spent).
    fn arm(&self, store: &mut Store<InstanceState>, deadline: Instant) -> Result<(), CallError> {
        // Each epoch tick (10 ms) of guest execution checks the wall-clock
        // deadline and otherwise yields to the async runtime, so a guest
        // that computes for long never holds a worker thread: other calls
        // (and queue timeouts) keep running on the same threads. tokio's
        // `yield_now` resumes the guest only once the worker has run what
        // else was ready and polled for network events; a plain wake-up
        // would be resumed first and let new requests wait for tokio's
        // periodic I/O poll (61 polls, over half a second of busy guests).
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
            store.set_fuel(fuel).map_err(|e| self.classify(e, store))?;
        }
        Ok(())
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
