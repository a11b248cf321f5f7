//! `Task`: the job an agent is asked to start (async) or answer (sync), with
//! the JSON parts of the WIT record already parsed.
//!
//! Parsing happens here, once, so that text the host sends that is not valid
//! JSON becomes a clear [`AgentError`] instead of a panic in agent code.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::bindings::wit;
use crate::error::AgentError;
use crate::info::TaskCategory;

/// `flyteidl.core.Identifier` of a task.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Identifier {
    pub project: String,
    pub domain: String,
    pub name: String,
    pub version: String,
    pub org: String,
}

/// `flyteidl.core.TaskExecutionIdentifier`, flattened.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TaskExecutionId {
    pub task: Identifier,
    pub node_id: String,
    pub execution_project: String,
    pub execution_domain: String,
    pub execution_name: String,
    pub retry_attempt: u32,
}

/// `flyteidl.admin.TaskExecutionMetadata`: the fields propeller fills.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TaskExecutionMetadata {
    pub task_execution_id: TaskExecutionId,
    pub namespace: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub k8s_service_account: String,
    pub environment_variables: BTreeMap<String, String>,
}

/// A task to run, as `create` (async) or `do_task` (sync) receive it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Task {
    /// The task type and version this task was routed on.
    pub category: TaskCategory,
    /// Identifier of the task template.
    pub template_id: Identifier,
    /// `TaskTemplate.custom` (an object; empty when unset).
    pub custom: Value,
    /// `TaskTemplate.config`.
    pub config: BTreeMap<String, String>,
    /// `TaskTemplate.sql.statement`, for SQL tasks.
    pub sql: Option<String>,
    /// The inputs as plain JSON values (see `task.inputs` in the WIT for the
    /// forms: numbers, strings, RFC 3339 datetimes, `"1.5s"` durations,
    /// `{"uri", "format"}` blobs, null for None...).
    pub inputs: Map<String, Value>,
    /// Where propeller expects output files, if outputs are not returned.
    pub output_prefix: String,
    /// Absent when run locally (`hangar run`).
    pub metadata: Option<TaskExecutionMetadata>,
    /// Stable for one attempt of one task execution: use it to make
    /// `create` idempotent.
    pub idempotency_key: String,
    /// The whole `flyteidl.core.TaskTemplate`, protobuf-encoded: from
    /// `AsyncAgentService/CreateTask`, the bytes the caller sent (see
    /// `task-template.raw` in the WIT).
    pub template_raw: Vec<u8>,
    /// The inputs as a protobuf-encoded `flyteidl.core.LiteralMap` (as sent,
    /// like `template_raw`).
    pub inputs_raw: Vec<u8>,
}

impl Task {
    /// A task of type `task_type` (version 0) with `custom` as its template's
    /// `custom` and no inputs: for an agent's unit tests. Add inputs with
    /// [`Task::with_input`].
    pub fn new(task_type: &str, custom: Value) -> Self {
        Self {
            category: crate::info::TaskCategory::new(task_type, 0),
            custom,
            ..Self::default()
        }
    }

    /// The task with input `name` set to `value` (as JSON); for tests.
    pub fn with_input(mut self, name: &str, value: impl Serialize) -> Self {
        let value = serde_json::to_value(value).unwrap_or(Value::Null);
        self.inputs.insert(name.to_string(), value);
        self
    }

    /// The input `name` converted to `T`.
    ///
    /// Errors (non-recoverable) when the input is missing or has another type.
    pub fn input<T: DeserializeOwned>(&self, name: &str) -> Result<T, AgentError> {
        let value = self.inputs.get(name).ok_or_else(|| {
            AgentError::non_recoverable(format!("missing input `{name}`")).with_code("MissingInput")
        })?;
        T::deserialize(value).map_err(|e| {
            AgentError::non_recoverable(format!("input `{name}` has the wrong type: {e}"))
                .with_code("InvalidInput")
        })
    }

    /// Like [`Task::input`], but a missing or null input is `Ok(None)`.
    pub fn optional_input<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, AgentError> {
        match self.inputs.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(_) => self.input(name).map(Some),
        }
    }

    /// `custom` converted to `T` (typically a struct deriving `Deserialize`).
    pub fn custom_as<T: DeserializeOwned>(&self) -> Result<T, AgentError> {
        T::deserialize(&self.custom).map_err(|e| {
            AgentError::non_recoverable(format!("task template `custom` does not fit: {e}"))
                .with_code("InvalidCustom")
        })
    }
}

/// Parses JSON object text from the host; empty text counts as `{}`.
fn parse_object(text: &str, what: &str, code: &str) -> Result<Map<String, Value>, AgentError> {
    if text.trim().is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(AgentError::non_recoverable(format!(
            "{what} must be a JSON object, got {}",
            json_kind(&other)
        ))
        .with_code(code)),
        Err(e) => Err(
            AgentError::non_recoverable(format!("{what} is not valid JSON: {e}")).with_code(code),
        ),
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn into_map(pairs: Vec<wit::KeyValue>) -> BTreeMap<String, String> {
    pairs.into_iter().map(|kv| (kv.key, kv.value)).collect()
}

impl From<wit::Identifier> for Identifier {
    fn from(id: wit::Identifier) -> Self {
        Self {
            project: id.project,
            domain: id.domain,
            name: id.name,
            version: id.version,
            org: id.org,
        }
    }
}

impl From<wit::TaskExecutionMetadata> for TaskExecutionMetadata {
    fn from(m: wit::TaskExecutionMetadata) -> Self {
        let id = m.task_execution_id;
        Self {
            task_execution_id: TaskExecutionId {
                task: id.task.into(),
                node_id: id.node_id,
                execution_project: id.execution_project,
                execution_domain: id.execution_domain,
                execution_name: id.execution_name,
                retry_attempt: id.retry_attempt,
            },
            namespace: m.namespace,
            labels: into_map(m.labels),
            annotations: into_map(m.annotations),
            k8s_service_account: m.k8s_service_account,
            environment_variables: into_map(m.environment_variables),
        }
    }
}

impl TryFrom<wit::Task> for Task {
    type Error = AgentError;

    fn try_from(t: wit::Task) -> Result<Self, AgentError> {
        let template = t.template;
        Ok(Self {
            category: template.category.into(),
            template_id: template.id.into(),
            custom: Value::Object(parse_object(
                &template.custom,
                "task template `custom`",
                "InvalidCustom",
            )?),
            config: into_map(template.config),
            sql: template.sql,
            inputs: parse_object(&t.inputs, "task inputs", "InvalidInputs")?,
            output_prefix: t.output_prefix,
            metadata: t.metadata.map(Into::into),
            idempotency_key: t.idempotency_key,
            template_raw: template.raw,
            inputs_raw: t.inputs_raw,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::error::ErrorKind;

    /// A WIT task as the host would send it, for tests across the crate.
    pub(crate) fn wit_task(category: &str, custom: &str, inputs: &str) -> wit::Task {
        wit::Task {
            template: wit::TaskTemplate {
                category: wit::TaskCategory {
                    name: category.into(),
                    version: 0,
                },
                id: wit::Identifier {
                    project: "p".into(),
                    domain: "d".into(),
                    name: "n".into(),
                    version: "v".into(),
                    org: String::new(),
                },
                custom: custom.into(),
                config: vec![wit::KeyValue {
                    key: "k".into(),
                    value: "v".into(),
                }],
                sql: None,
                raw: vec![1, 2],
            },
            inputs: inputs.into(),
            inputs_raw: vec![3],
            output_prefix: "s3://bucket/out".into(),
            metadata: None,
            idempotency_key: "key-1".into(),
        }
    }

    #[test]
    fn parses_json_parts() {
        let t = Task::try_from(wit_task("echo", r#"{"a": 1}"#, r#"{"x": 2, "s": "hi"}"#))
            .expect("valid task");
        assert_eq!(t.category, TaskCategory::new("echo", 0));
        assert_eq!(t.custom["a"], 1);
        assert_eq!(t.config.get("k").map(String::as_str), Some("v"));
        assert_eq!(t.input::<i64>("x").expect("x"), 2);
        assert_eq!(t.input::<String>("s").expect("s"), "hi");
        assert_eq!(t.optional_input::<i64>("nope").expect("none"), None);
        assert_eq!(t.template_raw, vec![1, 2]);
        assert_eq!(t.inputs_raw, vec![3]);
        assert_eq!(t.template_id.project, "p");
    }

    #[test]
    fn test_tasks_are_built_natively() {
        let t = Task::new("webhook", serde_json::json!({"url": "u"})).with_input("n", 3);
        assert_eq!(t.category, TaskCategory::new("webhook", 0));
        assert_eq!(t.custom["url"], "u");
        assert_eq!(t.input::<i64>("n").expect("n"), 3);
    }

    #[test]
    fn empty_text_is_an_empty_object() {
        let t = Task::try_from(wit_task("echo", "", " ")).expect("valid task");
        assert_eq!(t.custom, Value::Object(Map::new()));
        assert!(t.inputs.is_empty());
    }

    #[test]
    fn bad_json_is_an_error_not_a_panic() {
        let e = Task::try_from(wit_task("echo", "{}", "{not json")).expect_err("bad inputs");
        assert_eq!(e.code, "InvalidInputs");
        assert_eq!(e.kind, ErrorKind::NonRecoverable);
        assert!(e.message.contains("not valid JSON"), "{}", e.message);

        let e = Task::try_from(wit_task("echo", "[1]", "{}")).expect_err("bad custom");
        assert_eq!(e.code, "InvalidCustom");
        assert!(e.message.contains("an array"), "{}", e.message);
    }

    #[test]
    fn input_errors_name_the_input() {
        let t = Task::try_from(wit_task("wait", "{}", r#"{"seconds": "soon"}"#)).expect("task");
        let e = t.input::<i64>("seconds").expect_err("wrong type");
        assert_eq!(e.code, "InvalidInput");
        assert!(e.message.contains("`seconds`"), "{}", e.message);
        let e = t.input::<i64>("other").expect_err("missing");
        assert_eq!(e.code, "MissingInput");
    }
}
