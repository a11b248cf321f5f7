//! Prometheus metrics: one process-wide registry, a small recording API
//! for the task layer ([`Call`]), the runtime ([`InstanceTracker`]) and
//! capability checks ([`PluginMetrics::denied`]), and the `/metrics` HTTP
//! endpoint ([`server`]).
//!
//! Names that flytekit's connector server also exports are kept exactly
//! (`flyte_connector_*`), so dashboards built for `pyflyte serve agent`
//! keep working; the rest start with `hangar_`. `docs/metrics.md` lists
//! every metric.
//!
//! The per-call path is cheap: label values are `&'static str` or `Arc<str>`
//! clones (task types and plugin names are interned once), so a recorded
//! call takes a read lock and a hash lookup per family and allocates
//! nothing once its label set exists. Per-instance gauges are fetched once
//! per plugin, when it is loaded, and so, after its first success, are the
//! metrics a successful call of each (API, operation, task type) records
//! ([`ServedCall`]): such a call then looks up none of its families.

pub mod server;

use std::collections::HashSet;
use std::future::Future;
use std::sync::{Arc, LazyLock, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

use prometheus_client::encoding::{EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Metric, Registry};
use tracing::Instrument;

use crate::proto::flyteidl::core::TaskExecutionIdentifier;
use crate::tasks::TaskError;

/// Which API a call came through (the `service` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// flyteidl 1.x `AsyncAgentService` / `SyncAgentService`.
    Agent,
    /// Flyte 2 `flyteidl2.connector.AsyncConnectorService`.
    Connector,
}

/// A task operation, with flytekit's names (`operation` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Create,
    Get,
    Delete,
    Do,
    Metrics,
    Logs,
}

impl Operation {
    pub fn name(self) -> &'static str {
        match self {
            Operation::Create => "create",
            Operation::Get => "get",
            Operation::Delete => "delete",
            Operation::Do => "do",
            Operation::Metrics => "metrics",
            Operation::Logs => "logs",
        }
    }

    /// Whether its requests carry inputs (`input_bytes` is recorded).
    fn carries_inputs(self) -> bool {
        matches!(self, Operation::Create | Operation::Do)
    }

    /// The gRPC service and method that carry this operation.
    fn rpc(self, api: Api) -> (&'static str, &'static str) {
        let service = match (api, self) {
            (Api::Agent, Operation::Do) => "flyteidl.service.SyncAgentService",
            (Api::Agent, _) => "flyteidl.service.AsyncAgentService",
            (Api::Connector, _) => "flyteidl2.connector.AsyncConnectorService",
        };
        let method = match self {
            Operation::Create => "CreateTask",
            Operation::Get => "GetTask",
            Operation::Delete => "DeleteTask",
            Operation::Do => "ExecuteTaskSync",
            Operation::Metrics => "GetTaskMetrics",
            Operation::Logs => "GetTaskLogs",
        };
        (service, method)
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    task_type: Arc<str>,
    operation: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FailureLabels {
    task_type: Arc<str>,
    operation: &'static str,
    error_code: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TaskTypeLabels {
    task_type: Arc<str>,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RpcLabels {
    service: &'static str,
    method: &'static str,
    task_type: Arc<str>,
    plugin: Arc<str>,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RpcCodeLabels {
    service: &'static str,
    method: &'static str,
    task_type: Arc<str>,
    plugin: Arc<str>,
    code: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PluginLabels {
    plugin: Arc<str>,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DenialLabels {
    plugin: Arc<str>,
    capability: &'static str,
    reason: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Latency buckets, in seconds: a fresh instance costs about a millisecond,
/// calls that wait on a remote service take seconds.
const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

fn size_histogram() -> Histogram {
    // 64 B .. 64 MiB, times 4.
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
        64.0, 4.0, 11,
    ))
}

fn memory_histogram() -> Histogram {
    // 64 KiB (one page) .. 4 GiB, times 2.
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
        65536.0, 2.0, 17,
    ))
}

/// Distinct unknown task types given their own label value; more are
/// counted under [`OTHER_TASK_TYPE`], so a caller cannot grow the registry
/// without bound by sending made-up task types.
const MAX_UNKNOWN_TASK_TYPES: usize = 32;
const OTHER_TASK_TYPE: &str = "_other";

/// Every metric, registered once.
pub struct Metrics {
    registry: Registry,
    success: Family<OperationLabels, Counter>,
    failure: Family<FailureLabels, Counter>,
    latency: HistogramFamily<OperationLabels>,
    input_bytes: HistogramFamily<TaskTypeLabels>,
    rpc_calls: Family<RpcCodeLabels, Counter>,
    rpc_duration: HistogramFamily<RpcLabels>,
    instances_alive: Family<PluginLabels, Gauge>,
    instances_created: Family<PluginLabels, Counter>,
    instances_reused: Family<PluginLabels, Counter>,
    memory_bytes: Family<PluginLabels, Gauge>,
    memory_peak: HistogramFamily<PluginLabels>,
    instantiate_duration: HistogramFamily<PluginLabels>,
    guest_duration: HistogramFamily<PluginLabels>,
    denials: Family<DenialLabels, Counter>,
    load_failures: Counter,
    /// Task types and plugin names seen, so labels are `Arc` clones.
    interned: RwLock<HashSet<Arc<str>>>,
    unknown_task_types: Mutex<HashSet<Arc<str>>>,
}

/// How many plugins are loaded now, asked at each scrape.
type PluginCount = Box<dyn Fn() -> usize + Send + Sync>;
static PLUGIN_COUNT: OnceLock<PluginCount> = OnceLock::new();

#[derive(Debug)]
struct PluginCountCollector;

impl prometheus_client::collector::Collector for PluginCountCollector {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::DescriptorEncoder,
    ) -> Result<(), std::fmt::Error> {
        let Some(count) = PLUGIN_COUNT.get() else {
            return Ok(());
        };
        let gauge = ConstGauge::new(count() as i64);
        let metric = encoder.encode_descriptor(
            "hangar_plugins_loaded",
            "Plugins loaded and serving now",
            None,
            gauge.metric_type(),
        )?;
        gauge.encode(metric)
    }
}

/// Registers `metric` under `name` and hands it back for recording.
fn registered<M: Metric + Clone>(registry: &mut Registry, name: &str, help: &str, metric: M) -> M {
    registry.register(name, help, metric.clone());
    metric
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// The process-wide metrics.
pub fn global() -> &'static Metrics {
    &METRICS
}

/// Makes `hangar_plugins_loaded` report `count()` (the live registry).
pub fn set_plugin_count(count: impl Fn() -> usize + Send + Sync + 'static) {
    let _ = PLUGIN_COUNT.set(Box::new(count));
}

impl Metrics {
    fn new() -> Metrics {
        let mut registry = Registry::default();
        // Exposed as flyte_connector_requests_success_total.
        let success = registered(
            &mut registry,
            "flyte_connector_requests_success",
            "Requests answered (as flytekit: a task that failed is a successful request)",
            Family::<OperationLabels, Counter>::default(),
        );
        let failure = registered(
            &mut registry,
            "flyte_connector_requests_failure",
            "Requests that could not be served (a gRPC error); error_code is its HTTP equivalent",
            Family::<FailureLabels, Counter>::default(),
        );
        let latency: HistogramFamily<OperationLabels> = registered(
            &mut registry,
            "flyte_connector_request_latency_seconds",
            "Time spent serving a request (a histogram; flytekit's is a summary)",
            Family::new_with_constructor(latency_histogram),
        );
        let input_bytes: HistogramFamily<TaskTypeLabels> = registered(
            &mut registry,
            "flyte_connector_input_literal_bytes",
            "Size of the inputs (LiteralMap) of create and do requests",
            Family::new_with_constructor(size_histogram),
        );
        let rpc_calls = registered(
            &mut registry,
            "hangar_requests",
            "Task requests by gRPC service, method, task type, plugin and gRPC status code",
            Family::<RpcCodeLabels, Counter>::default(),
        );
        let rpc_duration: HistogramFamily<RpcLabels> = registered(
            &mut registry,
            "hangar_request_duration_seconds",
            "Time spent serving a task request, by gRPC service, method, task type and plugin",
            Family::new_with_constructor(latency_histogram),
        );
        let instances_alive = registered(
            &mut registry,
            "hangar_instances_alive",
            "Component instances of the plugin alive now: running a call, or idle between calls \
             when its manifest enables [reuse]",
            Family::<PluginLabels, Gauge>::default(),
        );
        let instances_created = registered(
            &mut registry,
            "hangar_instances_created",
            "Component instances of the plugin created (one per call not served by a reused \
             instance, plus one at load)",
            Family::<PluginLabels, Counter>::default(),
        );
        let instances_reused = registered(
            &mut registry,
            "hangar_instances_reused",
            "Calls of the plugin served by an idle instance, reset after an earlier call \
             ([reuse] in its manifest)",
            Family::<PluginLabels, Counter>::default(),
        );
        let memory_bytes = registered(
            &mut registry,
            "hangar_instance_memory_bytes",
            "Linear memory held now by the plugin's instances (running or idle), in bytes",
            Family::<PluginLabels, Gauge>::default(),
        );
        let memory_peak: HistogramFamily<PluginLabels> = registered(
            &mut registry,
            "hangar_instance_memory_peak_bytes",
            "Largest linear memory of each instance during its life (its call, or its calls when \
             reused), in bytes",
            Family::new_with_constructor(memory_histogram),
        );
        let instantiate_duration: HistogramFamily<PluginLabels> = registered(
            &mut registry,
            "hangar_instantiate_duration_seconds",
            "Time to create the fresh instance each call runs in",
            Family::new_with_constructor(latency_histogram),
        );
        let guest_duration: HistogramFamily<PluginLabels> = registered(
            &mut registry,
            "hangar_guest_call_duration_seconds",
            "Time inside the plugin's exported function per call: its own code, the host \
             functions it calls and the page faults it takes",
            Family::new_with_constructor(latency_histogram),
        );
        let denials = registered(
            &mut registry,
            "hangar_capability_denials",
            "Capability uses refused: outbound HTTP requests and secret reads, by reason class",
            Family::<DenialLabels, Counter>::default(),
        );
        let load_failures = registered(
            &mut registry,
            "hangar_plugin_load_failures",
            "Plugin files that could not be loaded (at start-up or on a live reload)",
            Counter::default(),
        );
        registry.register_collector(Box::new(PluginCountCollector));
        Metrics {
            registry,
            success,
            failure,
            latency,
            input_bytes,
            rpc_calls,
            rpc_duration,
            instances_alive,
            instances_created,
            instances_reused,
            memory_bytes,
            memory_peak,
            instantiate_duration,
            guest_duration,
            denials,
            load_failures,
            interned: RwLock::new(HashSet::new()),
            unknown_task_types: Mutex::new(HashSet::new()),
        }
    }

    /// The text exposition (OpenMetrics) of every metric.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }

    /// `value` as a shared label value, allocated once per distinct value.
    pub fn intern(&self, value: &str) -> Arc<str> {
        if let Some(found) = self
            .interned
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(value)
        {
            return found.clone();
        }
        let mut set = self.interned.write().unwrap_or_else(|e| e.into_inner());
        if let Some(found) = set.get(value) {
            return found.clone();
        }
        let value: Arc<str> = Arc::from(value);
        set.insert(value.clone());
        value
    }

    /// A task type no plugin serves: its own label while few are seen.
    fn unknown_task_type(&self, value: &str) -> Arc<str> {
        let mut seen = self
            .unknown_task_types
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(found) = seen.get(value) {
            return found.clone();
        }
        if seen.len() >= MAX_UNKNOWN_TASK_TYPES {
            return self.intern(OTHER_TASK_TYPE);
        }
        let value = self.intern(value);
        seen.insert(value.clone());
        value
    }

    /// A plugin file that could not be loaded.
    pub fn load_failed(&self, count: usize) {
        self.load_failures.inc_by(count as u64);
    }

    /// The handles one plugin's instances and capability checks record to.
    pub fn plugin(&self, plugin: &str) -> PluginMetrics {
        let labels = PluginLabels {
            plugin: self.intern(plugin),
        };
        PluginMetrics {
            instances_alive: self.instances_alive.get_or_create_owned(&labels),
            instances_created: self.instances_created.get_or_create_owned(&labels),
            instances_reused: self.instances_reused.get_or_create_owned(&labels),
            memory_bytes: self.memory_bytes.get_or_create_owned(&labels),
            memory_peak: self.memory_peak.get_or_create_owned(&labels),
            instantiate_duration: self.instantiate_duration.get_or_create_owned(&labels),
            guest_duration: self.guest_duration.get_or_create_owned(&labels),
            served: ServedCalls::default(),
            plugin: labels.plugin,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn record(
        &self,
        api: Api,
        operation: Operation,
        task_type: Arc<str>,
        plugin: Arc<str>,
        seconds: f64,
        code: tonic::Code,
    ) {
        let (service, method) = operation.rpc(api);
        let op = OperationLabels {
            task_type,
            operation: operation.name(),
        };
        self.latency.get_or_create(&op).observe(seconds);
        if code == tonic::Code::Ok {
            self.success.get_or_create(&op).inc();
        } else {
            self.failure
                .get_or_create(&FailureLabels {
                    task_type: op.task_type.clone(),
                    operation: op.operation,
                    error_code: http_equivalent(code),
                })
                .inc();
        }
        let rpc = RpcLabels {
            service,
            method,
            task_type: op.task_type,
            plugin,
        };
        self.rpc_duration.get_or_create(&rpc).observe(seconds);
        self.rpc_calls
            .get_or_create(&RpcCodeLabels {
                service,
                method,
                task_type: rpc.task_type,
                plugin: rpc.plugin,
                code: code_name(code),
            })
            .inc();
    }
}

impl Metrics {
    /// The metrics a successful call records, with the same labels
    /// [`Metrics::record`] and [`Call::input_bytes`] use.
    fn served_call(
        &self,
        api: Api,
        operation: Operation,
        task_type: &Arc<str>,
        plugin: &Arc<str>,
    ) -> ServedCall {
        let (service, method) = operation.rpc(api);
        let op = OperationLabels {
            task_type: task_type.clone(),
            operation: operation.name(),
        };
        ServedCall {
            latency: self.latency.get_or_create_owned(&op),
            success: self.success.get_or_create_owned(&op),
            input_bytes: operation.carries_inputs().then(|| {
                self.input_bytes.get_or_create_owned(&TaskTypeLabels {
                    task_type: task_type.clone(),
                })
            }),
            rpc_duration: self.rpc_duration.get_or_create_owned(&RpcLabels {
                service,
                method,
                task_type: task_type.clone(),
                plugin: plugin.clone(),
            }),
            rpc_ok: self.rpc_calls.get_or_create_owned(&RpcCodeLabels {
                service,
                method,
                task_type: task_type.clone(),
                plugin: plugin.clone(),
                code: code_name(tonic::Code::Ok),
            }),
        }
    }
}

/// What a successful call of one (API, operation, task type) of one plugin
/// records to: the families' own series (a `Counter` or `Histogram` clone
/// shares its value), so recording through them is recording through the
/// families.
struct ServedCall {
    latency: Histogram,
    success: Counter,
    /// Only for operations that carry inputs (create, do).
    input_bytes: Option<Histogram>,
    rpc_duration: Histogram,
    rpc_ok: Counter,
}

/// A plugin's [`ServedCall`]s, one for each (API, operation, task type) it
/// has answered successfully. Task types are the ones the plugin is routed
/// (its categories), so the list stays short; past [`MAX_SERVED_CALLS`]
/// calls record through the families.
#[derive(Clone, Default)]
struct ServedCalls(Arc<Mutex<Vec<ServedEntry>>>);

/// One kind of call a plugin has answered, and its series.
struct ServedEntry {
    api: Api,
    operation: Operation,
    /// Interned.
    task_type: Arc<str>,
    served: Arc<ServedCall>,
}

impl ServedEntry {
    fn is(&self, api: Api, operation: Operation, task_type: &str) -> bool {
        self.api == api && self.operation == operation && &*self.task_type == task_type
    }
}

/// Most [`ServedCall`]s kept for one plugin.
const MAX_SERVED_CALLS: usize = 64;

impl ServedCalls {
    /// The interned task type and its series, when known.
    fn find(
        &self,
        api: Api,
        operation: Operation,
        task_type: &str,
    ) -> Option<(Arc<str>, Arc<ServedCall>)> {
        let list = self.0.lock().unwrap_or_else(|e| e.into_inner());
        list.iter()
            .find(|entry| entry.is(api, operation, task_type))
            .map(|entry| (entry.task_type.clone(), entry.served.clone()))
    }

    fn remember(&self, api: Api, operation: Operation, task_type: &Arc<str>, plugin: &Arc<str>) {
        let mut list = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let known = list.iter().any(|entry| entry.is(api, operation, task_type));
        if !known && list.len() < MAX_SERVED_CALLS {
            let served = global().served_call(api, operation, task_type, plugin);
            list.push(ServedEntry {
                api,
                operation,
                task_type: task_type.clone(),
                served: Arc::new(served),
            });
        }
    }
}

/// What one plugin records to, fetched when it is loaded.
#[derive(Clone)]
pub struct PluginMetrics {
    plugin: Arc<str>,
    instances_alive: Gauge,
    instances_created: Counter,
    instances_reused: Counter,
    memory_bytes: Gauge,
    memory_peak: Histogram,
    instantiate_duration: Histogram,
    guest_duration: Histogram,
    served: ServedCalls,
}

impl std::fmt::Debug for PluginMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginMetrics")
            .field("plugin", &self.plugin)
            .finish()
    }
}

/// Capabilities whose refusals are counted.
#[derive(Debug, Clone, Copy)]
pub enum Capability {
    Http,
    Secret,
}

impl PluginMetrics {
    /// A capability use refused for reason class `reason` (a short
    /// snake_case word, see docs/metrics.md).
    pub fn denied(&self, capability: Capability, reason: &'static str) {
        global()
            .denials
            .get_or_create(&DenialLabels {
                plugin: self.plugin.clone(),
                capability: match capability {
                    Capability::Http => "http",
                    Capability::Secret => "secret",
                },
                reason,
            })
            .inc();
    }

    /// A fresh instance took `took` to create.
    pub fn instantiated(&self, took: Duration) {
        self.instantiate_duration.observe(took.as_secs_f64());
    }

    /// A call runs in an idle instance instead of a fresh one.
    pub fn reused(&self) {
        self.instances_reused.inc();
    }

    /// One call spent `took` inside the guest's exported function. With
    /// the request duration this splits a call into the guest's share and
    /// Hangar's (the benchmark's host overhead).
    pub fn guest_called(&self, took: Duration) {
        self.guest_duration.observe(took.as_secs_f64());
    }

    /// Counts an instance alive until the tracker is dropped, and the
    /// linear memory it holds.
    pub fn instance(&self) -> InstanceTracker {
        self.instances_alive.inc();
        self.instances_created.inc();
        InstanceTracker {
            metrics: Some(self.clone()),
            in_use: 0,
            peak: 0,
        }
    }
}

/// One running instance: keeps `hangar_instances_alive` and
/// `hangar_instance_memory_bytes` up to date (the store limiter reports
/// each memory growth) and undoes both when dropped.
pub struct InstanceTracker {
    metrics: Option<PluginMetrics>,
    in_use: u64,
    peak: u64,
}

impl InstanceTracker {
    /// A tracker that records nowhere (tests).
    #[cfg(test)]
    pub fn detached() -> InstanceTracker {
        InstanceTracker {
            metrics: None,
            in_use: 0,
            peak: 0,
        }
    }

    /// A linear memory grew from `current` to `desired` bytes.
    pub fn memory_grew(&mut self, current: usize, desired: usize) {
        let added = desired.saturating_sub(current) as u64;
        self.in_use += added;
        self.peak = self.peak.max(self.in_use);
        if let Some(m) = &self.metrics {
            m.memory_bytes.inc_by(added as i64);
        }
    }

    #[cfg(test)]
    pub fn in_use(&self) -> u64 {
        self.in_use
    }
}

impl Drop for InstanceTracker {
    fn drop(&mut self) {
        if let Some(m) = &self.metrics {
            m.instances_alive.dec();
            m.memory_bytes.dec_by(self.in_use as i64);
            m.memory_peak.observe(self.peak as f64);
        }
    }
}

/// One task request being served: its log span and its metrics.
pub struct Call<'a> {
    api: Api,
    operation: Operation,
    /// As the request names it (borrowed: nothing is copied per call).
    task_type: &'a str,
    span: tracing::Span,
    /// Set once the request is routed.
    routed: OnceLock<Routed>,
}

/// Where a call went: its labels, and the plugin's series for a
/// successful call of this kind once it has one.
struct Routed {
    task_type: Arc<str>,
    plugin: Arc<str>,
    served_calls: ServedCalls,
    served: Option<Arc<ServedCall>>,
}

impl<'a> Call<'a> {
    /// A request for `task_type` (the template's type, or the request's
    /// category name / task type); `task` names the task execution when the
    /// request carries it (formatted only when the span is logged).
    pub fn new(
        api: Api,
        operation: Operation,
        task_type: &'a str,
        task: Option<&TaskExecutionIdentifier>,
    ) -> Call<'a> {
        let (service, method) = operation.rpc(api);
        let span = tracing::info_span!(
            "call",
            service,
            method,
            task_type,
            plugin = tracing::field::Empty,
            task = tracing::field::Empty,
        );
        if let Some(task) = task.filter(|_| !span.is_disabled()) {
            span.record("task", task_name(task));
        }
        Call {
            api,
            operation,
            task_type,
            span,
            routed: OnceLock::new(),
        }
    }

    /// The request was routed to `plugin` (`PluginMetrics::plugin`).
    pub fn routed(&self, plugin: &PluginMetrics) {
        self.span.record("plugin", &*plugin.plugin);
        let (task_type, served) = match plugin.served.find(self.api, self.operation, self.task_type)
        {
            Some((task_type, served)) => (task_type, Some(served)),
            None => (global().intern(self.task_type), None),
        };
        let _ = self.routed.set(Routed {
            task_type,
            plugin: plugin.plugin.clone(),
            served_calls: plugin.served.clone(),
            served,
        });
    }

    /// Size of the inputs of a create or do request.
    pub fn input_bytes(&self, bytes: usize) {
        let routed = self.routed.get();
        if let Some(histogram) = routed.and_then(|r| r.served.as_ref()?.input_bytes.as_ref()) {
            histogram.observe(bytes as f64);
            return;
        }
        let task_type = match routed {
            Some(routed) => routed.task_type.clone(),
            None => global().unknown_task_type(self.task_type),
        };
        global()
            .input_bytes
            .get_or_create(&TaskTypeLabels { task_type })
            .observe(bytes as f64);
    }

    /// Runs `operation` inside the call's span, then records it.
    pub async fn run<T>(
        &self,
        operation: impl Future<Output = Result<T, TaskError>>,
    ) -> Result<T, TaskError> {
        let started = Instant::now();
        let result = operation.instrument(self.span.clone()).await;
        let code = match &result {
            Ok(_) => tonic::Code::Ok,
            Err(error) => crate::grpc::code_of(error),
        };
        self.finish(started.elapsed().as_secs_f64(), code);
        result
    }

    fn finish(&self, seconds: f64, code: tonic::Code) {
        let metrics = global();
        let Some(routed) = self.routed.get() else {
            let task_type = metrics.unknown_task_type(self.task_type);
            let plugin = metrics.intern("");
            metrics.record(self.api, self.operation, task_type, plugin, seconds, code);
            return;
        };
        match (&routed.served, code) {
            (Some(served), tonic::Code::Ok) => {
                served.latency.observe(seconds);
                served.success.inc();
                served.rpc_duration.observe(seconds);
                served.rpc_ok.inc();
            }
            _ => {
                let (task_type, plugin) = (routed.task_type.clone(), routed.plugin.clone());
                metrics.record(self.api, self.operation, task_type, plugin, seconds, code);
                if code == tonic::Code::Ok {
                    // Every series a success records now exists: keep them.
                    routed.served_calls.remember(
                        self.api,
                        self.operation,
                        &routed.task_type,
                        &routed.plugin,
                    );
                }
            }
        }
    }
}

/// A task execution as people read it: `project/domain/execution/node/retry`.
pub fn task_name(id: &TaskExecutionIdentifier) -> String {
    let node = id.node_execution_id.as_ref();
    let execution = node.and_then(|n| n.execution_id.as_ref());
    format!(
        "{}/{}/{}/{}/{}",
        execution.map(|e| e.project.as_str()).unwrap_or_default(),
        execution.map(|e| e.domain.as_str()).unwrap_or_default(),
        execution.map(|e| e.name.as_str()).unwrap_or_default(),
        node.map(|n| n.node_id.as_str()).unwrap_or_default(),
        id.retry_attempt
    )
}

/// gRPC code names as in the gRPC spec (`NOT_FOUND`).
fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "OK",
        Cancelled => "CANCELLED",
        Unknown => "UNKNOWN",
        InvalidArgument => "INVALID_ARGUMENT",
        DeadlineExceeded => "DEADLINE_EXCEEDED",
        NotFound => "NOT_FOUND",
        AlreadyExists => "ALREADY_EXISTS",
        PermissionDenied => "PERMISSION_DENIED",
        ResourceExhausted => "RESOURCE_EXHAUSTED",
        FailedPrecondition => "FAILED_PRECONDITION",
        Aborted => "ABORTED",
        OutOfRange => "OUT_OF_RANGE",
        Unimplemented => "UNIMPLEMENTED",
        Internal => "INTERNAL",
        Unavailable => "UNAVAILABLE",
        DataLoss => "DATA_LOSS",
        Unauthenticated => "UNAUTHENTICATED",
    }
}

/// flytekit labels failures with an HTTP status (404 for an unknown task
/// type, 500 otherwise); Hangar uses grpc-gateway's mapping of its codes.
fn http_equivalent(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "200",
        InvalidArgument | FailedPrecondition | OutOfRange => "400",
        Unauthenticated => "401",
        PermissionDenied => "403",
        NotFound => "404",
        AlreadyExists | Aborted => "409",
        ResourceExhausted => "429",
        Cancelled => "499",
        Unimplemented => "501",
        Unavailable => "503",
        DeadlineExceeded => "504",
        Unknown | Internal | DataLoss => "500",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The exposition line of `name` whose labels include all of `labels`.
    fn sample(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
        text.lines()
            .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
            .find(|l| labels.iter().all(|want| l.contains(want)))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    }

    #[tokio::test]
    async fn a_recorded_call_shows_up_with_its_labels() {
        let m = global();
        let plugin = m.plugin("unit-test-plugin");
        let call = Call::new(Api::Agent, Operation::Create, "unit_test_type", None);
        call.routed(&plugin);
        call.input_bytes(100);
        let answer: Result<u8, TaskError> = call.run(async { Ok(7) }).await;
        assert_eq!(answer.unwrap(), 7);

        let unknown = Call::new(Api::Agent, Operation::Get, "unit_test_missing", None);
        let failed: Result<(), TaskError> = unknown
            .run(async {
                Err(TaskError::UnknownCategory(
                    crate::registry::UnknownCategory {
                        name: "unit_test_missing".into(),
                        version: 0,
                        known: String::new(),
                    },
                ))
            })
            .await;
        assert!(failed.is_err());

        let text = m.encode();
        let ok = [r#"task_type="unit_test_type""#, r#"operation="create""#];
        assert_eq!(
            sample(&text, "flyte_connector_requests_success_total", &ok),
            Some(1.0),
            "{text}"
        );
        assert_eq!(
            sample(&text, "flyte_connector_request_latency_seconds_count", &ok),
            Some(1.0)
        );
        assert!(text.contains(
            r#"flyte_connector_request_latency_seconds_bucket{le="0.001",task_type="unit_test_type",operation="create"}"#
        ) || text.contains(r#"flyte_connector_request_latency_seconds_bucket{task_type="unit_test_type",operation="create",le="0.001"}"#), "{text}");
        assert_eq!(
            sample(
                &text,
                "flyte_connector_input_literal_bytes_sum",
                &[r#"task_type="unit_test_type""#]
            ),
            Some(100.0)
        );
        assert_eq!(
            sample(
                &text,
                "hangar_requests_total",
                &[
                    r#"service="flyteidl.service.AsyncAgentService""#,
                    r#"method="CreateTask""#,
                    r#"task_type="unit_test_type""#,
                    r#"plugin="unit-test-plugin""#,
                    r#"code="OK""#,
                ]
            ),
            Some(1.0)
        );
        assert_eq!(
            sample(
                &text,
                "flyte_connector_requests_failure_total",
                &[
                    r#"task_type="unit_test_missing""#,
                    r#"operation="get""#,
                    r#"error_code="404""#
                ]
            ),
            Some(1.0)
        );
        assert_eq!(
            sample(
                &text,
                "hangar_requests_total",
                &[
                    r#"task_type="unit_test_missing""#,
                    r#"plugin="""#,
                    r#"code="NOT_FOUND""#
                ]
            ),
            Some(1.0)
        );
    }

    /// After its first success a call records through the plugin's kept
    /// series, not the families: the counts must be the same as if every
    /// call had gone through the families, per operation, per plugin, and
    /// with failures still counted apart.
    #[tokio::test]
    async fn calls_after_the_first_success_count_the_same() {
        let m = global();
        let (first, second) = (
            m.plugin("unit-test-served-a"),
            m.plugin("unit-test-served-b"),
        );
        let unknown = || {
            TaskError::UnknownCategory(crate::registry::UnknownCategory {
                name: "x".into(),
                version: 0,
                known: String::new(),
            })
        };
        // (plugin, operation, succeeds, input bytes)
        let calls = [
            (&first, Operation::Create, true, 10),
            (&first, Operation::Create, true, 20),
            (&first, Operation::Create, false, 40),
            (&first, Operation::Create, true, 80),
            (&first, Operation::Get, true, 0),
            (&second, Operation::Create, true, 1),
        ];
        for (plugin, operation, succeeds, bytes) in calls {
            let call = Call::new(Api::Agent, operation, "unit_test_served", None);
            call.routed(plugin);
            if operation.carries_inputs() {
                call.input_bytes(bytes);
            }
            let _ = call
                .run(async move { if succeeds { Ok(()) } else { Err(unknown()) } })
                .await;
        }
        let text = m.encode();
        let of = |name: &str, labels: &[&str]| sample(&text, name, labels);
        let create = [r#"task_type="unit_test_served""#, r#"operation="create""#];
        let get = [r#"task_type="unit_test_served""#, r#"operation="get""#];
        let expected = [
            // Both plugins' creates share the flytekit-named series.
            (of("flyte_connector_requests_success_total", &create), 4.0),
            (
                of("flyte_connector_request_latency_seconds_count", &create),
                5.0,
            ),
            (of("flyte_connector_requests_failure_total", &create), 1.0),
            (of("flyte_connector_requests_success_total", &get), 1.0),
            (
                of("flyte_connector_request_latency_seconds_count", &get),
                1.0,
            ),
            (
                of(
                    "flyte_connector_input_literal_bytes_sum",
                    &[r#"task_type="unit_test_served""#],
                ),
                151.0,
            ),
            (
                of(
                    "hangar_requests_total",
                    &[
                        r#"method="CreateTask""#,
                        r#"plugin="unit-test-served-a""#,
                        r#"code="OK""#,
                    ],
                ),
                3.0,
            ),
            (
                of(
                    "hangar_requests_total",
                    &[
                        r#"method="CreateTask""#,
                        r#"plugin="unit-test-served-a""#,
                        r#"code="NOT_FOUND""#,
                    ],
                ),
                1.0,
            ),
            (
                of(
                    "hangar_request_duration_seconds_count",
                    &[r#"method="CreateTask""#, r#"plugin="unit-test-served-a""#],
                ),
                4.0,
            ),
            (
                of(
                    "hangar_requests_total",
                    &[r#"method="GetTask""#, r#"plugin="unit-test-served-a""#],
                ),
                1.0,
            ),
            (
                of(
                    "hangar_requests_total",
                    &[r#"method="CreateTask""#, r#"plugin="unit-test-served-b""#],
                ),
                1.0,
            ),
        ];
        for (i, (found, want)) in expected.into_iter().enumerate() {
            assert_eq!(found, Some(want), "row {i}:\n{text}");
        }
    }

    #[test]
    fn instances_and_memory_are_tracked_until_dropped() {
        let m = global();
        let plugin = m.plugin("unit-test-memory");
        let labels = r#"plugin="unit-test-memory""#;
        {
            let mut instance = plugin.instance();
            instance.memory_grew(0, 65536);
            instance.memory_grew(65536, 131072);
            let text = m.encode();
            assert_eq!(
                sample(&text, "hangar_instances_alive", &[labels]),
                Some(1.0)
            );
            assert_eq!(
                sample(&text, "hangar_instance_memory_bytes", &[labels]),
                Some(131072.0)
            );
        }
        let text = m.encode();
        assert_eq!(
            sample(&text, "hangar_instances_alive", &[labels]),
            Some(0.0)
        );
        assert_eq!(
            sample(&text, "hangar_instance_memory_bytes", &[labels]),
            Some(0.0)
        );
        assert_eq!(
            sample(&text, "hangar_instances_created_total", &[labels]),
            Some(1.0)
        );
        plugin.reused();
        assert_eq!(
            sample(&m.encode(), "hangar_instances_reused_total", &[labels]),
            Some(1.0)
        );
        assert_eq!(
            sample(&text, "hangar_instance_memory_peak_bytes_sum", &[labels]),
            Some(131072.0)
        );
        plugin.denied(Capability::Http, "not_allowed");
        let text = m.encode();
        assert_eq!(
            sample(
                &text,
                "hangar_capability_denials_total",
                &[labels, r#"capability="http""#, r#"reason="not_allowed""#]
            ),
            Some(1.0)
        );
    }

    #[test]
    fn unknown_task_types_are_capped() {
        // Not the global registry: other tests use unknown types too.
        let m = Metrics::new();
        for i in 0..(MAX_UNKNOWN_TASK_TYPES + 5) {
            let label = m.unknown_task_type(&format!("cap-test-{i}"));
            assert!(label.starts_with("cap-test-") || &*label == OTHER_TASK_TYPE);
        }
        assert_eq!(&*m.unknown_task_type("cap-test-overflow"), OTHER_TASK_TYPE);
    }

    #[test]
    fn task_names_are_readable() {
        use crate::proto::flyteidl::core::{NodeExecutionIdentifier, WorkflowExecutionIdentifier};
        let id = TaskExecutionIdentifier {
            node_execution_id: Some(NodeExecutionIdentifier {
                node_id: "n0".into(),
                execution_id: Some(WorkflowExecutionIdentifier {
                    project: "flytesnacks".into(),
                    domain: "development".into(),
                    name: "abc".into(),
                    ..Default::default()
                }),
            }),
            retry_attempt: 2,
            ..Default::default()
        };
        assert_eq!(task_name(&id), "flytesnacks/development/abc/n0/2");
    }
}
