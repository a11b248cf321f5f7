//! Types of the optional `observability` export: metrics and logs of a job,
//! for async agents exported with `export_observable_agent!`.

use serde_json::Value;

use crate::bindings::wit;

/// A point in time, as protobuf's `Timestamp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Timestamp {
    pub seconds: i64,
    pub nanos: u32,
}

/// What metrics the caller wants, and over which period.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MetricsQuery {
    /// Metric names, e.g. `EXECUTION_METRIC_LIMIT_MEMORY_BYTES`.
    pub queries: Vec<String>,
    pub start_time: Option<Timestamp>,
    pub end_time: Option<Timestamp>,
    /// Resolution in seconds.
    pub step_seconds: Option<f64>,
}

/// One metric's data.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricResult {
    pub metric: String,
    /// A JSON object.
    pub data: Value,
}

impl MetricResult {
    pub fn new(metric: impl Into<String>, data: Value) -> Self {
        Self {
            metric: metric.into(),
            data,
        }
    }
}

/// A page of log lines.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LogPage {
    pub lines: Vec<String>,
    /// Passed back to read the next page; empty when there is none.
    pub next_token: String,
}

impl From<wit::Timestamp> for Timestamp {
    fn from(t: wit::Timestamp) -> Self {
        Self {
            seconds: t.seconds,
            nanos: t.nanos,
        }
    }
}

impl From<wit::MetricsQuery> for MetricsQuery {
    fn from(q: wit::MetricsQuery) -> Self {
        Self {
            queries: q.queries,
            start_time: q.start_time.map(Into::into),
            end_time: q.end_time.map(Into::into),
            step_seconds: q.step_seconds,
        }
    }
}

impl From<MetricResult> for wit::MetricResult {
    fn from(m: MetricResult) -> Self {
        Self {
            metric: m.metric,
            data: m.data.to_string(),
        }
    }
}

impl From<LogPage> for wit::LogPage {
    fn from(p: LogPage) -> Self {
        Self {
            lines: p.lines,
            next_token: p.next_token,
        }
    }
}
