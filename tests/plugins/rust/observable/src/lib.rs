//! Test fixture for the `async-agent-observable` world (not an example):
//! jobs succeed at once, and every job reports the same metric and the same
//! two log lines, so the host's tests can check GetTaskMetrics and
//! GetTaskLogs with fixed expectations.
//!
//! - get-metrics: one result, metric `EXECUTION_METRIC_LIMIT_MEMORY_BYTES`,
//!   data `{"value":42}`.
//! - get-logs: lines `observable: job started`, `observable: job finished`;
//!   next-token empty.
//! - get: succeeds; its `custom_info` holds the bytes `create` received as
//!   `template.raw` and `inputs-raw`, in hex (`template_raw`, `inputs_raw`),
//!   so the host's tests can compare them with what they sent.

use hangar_agent::{
    AgentError, AgentInfo, AsyncAgent, LogPage, MetricResult, MetricsQuery, ObservableAgent,
    Resource, Task, TaskHandle, Value, json,
};

struct Observable;

impl AsyncAgent for Observable {
    /// `{"job": <idempotency key>, "received": {"template_raw": <hex>,
    /// "inputs_raw": <hex>}}`; any JSON is accepted back.
    type Metadata = Value;

    fn info() -> AgentInfo {
        AgentInfo::new("observable").category("observed", 0)
    }

    fn create(task: Task) -> Result<Value, AgentError> {
        Ok(json!({
            "job": task.idempotency_key,
            "received": {
                "template_raw": hex(&task.template_raw),
                "inputs_raw": hex(&task.inputs_raw),
            },
        }))
    }

    fn get(job: TaskHandle<Value>) -> Result<Resource, AgentError> {
        Ok(match job.meta.get("received") {
            Some(Value::Object(received)) => {
                Resource::succeeded().with_custom_info(received.clone())
            }
            _ => Resource::succeeded(),
        })
    }

    fn delete(_job: TaskHandle<Value>) -> Result<(), AgentError> {
        Ok(())
    }
}

impl ObservableAgent for Observable {
    fn get_metrics(
        _job: TaskHandle<Value>,
        _query: MetricsQuery,
    ) -> Result<Vec<MetricResult>, AgentError> {
        Ok(vec![MetricResult::new(
            "EXECUTION_METRIC_LIMIT_MEMORY_BYTES",
            json!({ "value": 42 }),
        )])
    }

    fn get_logs(
        _job: TaskHandle<Value>,
        _lines: u64,
        _token: String,
    ) -> Result<LogPage, AgentError> {
        Ok(LogPage {
            lines: vec![
                "observable: job started".to_string(),
                "observable: job finished".to_string(),
            ],
            next_token: String::new(),
        })
    }
}

hangar_agent::export_observable_agent!(Observable);

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
