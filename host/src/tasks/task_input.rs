//! Turns what propeller sends (TaskTemplate, inputs LiteralMap, execution
//! metadata) into the plain-value `task` record a guest receives.

use std::fmt::Write;

use prost::Message;
use sha2::{Digest, Sha256};

use crate::literals;
use crate::proto::flyteidl::admin::{Received, TaskExecutionMetadata};
use crate::proto::flyteidl::core::{self as core, LiteralMap, TaskTemplate};
use crate::runtime::types;

/// Builds the guest's view of a task, or says which input cannot be given
/// to a guest as a plain value. `received` holds the bytes the template and
/// the inputs were decoded from, when the request kept them: the guest gets
/// those as they are, else the host encodes the decoded messages.
pub fn build_task(
    template: &TaskTemplate,
    inputs: &LiteralMap,
    received: &Received,
    output_prefix: &str,
    metadata: Option<&TaskExecutionMetadata>,
) -> Result<types::Task, String> {
    let inputs_json = literals::literal_map_to_json(inputs).map_err(|e| e.to_string())?;
    let custom = match &template.custom {
        Some(custom) => crate::struct_json::struct_to_json(custom),
        None => Default::default(),
    };
    let raw = match received.template() {
        Some(bytes) => bytes.to_vec(),
        None => template.encode_to_vec(),
    };
    let inputs_raw = match received.inputs() {
        Some(bytes) => bytes.to_vec(),
        None => inputs.encode_to_vec(),
    };
    let idempotency_key = match metadata.and_then(|m| m.task_execution_id.as_ref()) {
        Some(id) => idempotency_key(id),
        None => local_idempotency_key(&raw, &inputs_raw, output_prefix),
    };
    Ok(types::Task {
        template: types::TaskTemplate {
            category: category_of(template),
            id: identifier(template.id.as_ref()),
            custom: json_text(&custom)?,
            config: sorted_pairs(&template.config),
            sql: match &template.target {
                Some(core::task_template::Target::Sql(sql)) => Some(sql.statement.clone()),
                _ => None,
            },
            raw,
        },
        inputs: json_text(&inputs_json)?,
        inputs_raw,
        output_prefix: output_prefix.to_string(),
        metadata: metadata.map(execution_metadata),
        idempotency_key,
    })
}

/// A JSON object as text. `serde_json::to_string` writes straight into a
/// buffer; `Value`'s `Display` goes through the formatting machinery, which
/// cost more than the conversion itself on small tasks.
fn json_text(object: &serde_json::Map<String, serde_json::Value>) -> Result<String, String> {
    serde_json::to_string(object).map_err(|e| format!("cannot write the task as JSON: {e}"))
}

/// The task category propeller routes on: `(type, task_type_version)`.
pub fn category_of(template: &TaskTemplate) -> types::TaskCategory {
    types::TaskCategory {
        name: template.r#type.clone(),
        version: template.task_type_version,
    }
}

/// A key that is the same for every call about one attempt of one task
/// execution (on any replica) and differs between retry attempts.
fn idempotency_key(id: &core::TaskExecutionIdentifier) -> String {
    let task = id.task_id.as_ref();
    let node = id.node_execution_id.as_ref();
    let execution = node.and_then(|n| n.execution_id.as_ref());
    let parts = [
        task.map_or("", |t| t.project.as_str()),
        task.map_or("", |t| t.domain.as_str()),
        task.map_or("", |t| t.name.as_str()),
        task.map_or("", |t| t.version.as_str()),
        task.map_or("", |t| t.org.as_str()),
        node.map_or("", |n| n.node_id.as_str()),
        execution.map_or("", |e| e.project.as_str()),
        execution.map_or("", |e| e.domain.as_str()),
        execution.map_or("", |e| e.name.as_str()),
        execution.map_or("", |e| e.org.as_str()),
    ];
    digest_key(&parts, id.retry_attempt)
}

/// Local runs have no execution id: the key follows the request itself.
fn local_idempotency_key(template: &[u8], inputs: &[u8], output_prefix: &str) -> String {
    let mut hasher = Sha256::new();
    for part in [template, inputs, output_prefix.as_bytes()] {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    let mut key = String::from("local-");
    push_hex(&mut key, &hasher.finalize()[..16]);
    key
}

fn digest_key(parts: &[&str], retry_attempt: u32) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        // Length-prefixed so ("ab", "c") and ("a", "bc") differ.
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    hasher.update(retry_attempt.to_le_bytes());
    let mut key = String::with_capacity(44);
    push_hex(&mut key, &hasher.finalize()[..16]);
    // Writing into a String cannot fail.
    let _ = write!(key, "-{retry_attempt}");
    key
}

/// Lower-case hex, written straight into `out` (`hex::encode` collects one
/// `char` at a time, which showed in a profile of every call).
fn push_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
}

fn identifier(id: Option<&core::Identifier>) -> types::Identifier {
    let id = id.cloned().unwrap_or_default();
    types::Identifier {
        project: id.project,
        domain: id.domain,
        name: id.name,
        version: id.version,
        org: id.org,
    }
}

/// A protobuf `map<string, string>` as WIT pairs, in key order (protobuf
/// maps are `BTreeMap`s).
fn sorted_pairs(map: &std::collections::BTreeMap<String, String>) -> Vec<types::KeyValue> {
    map.iter()
        .map(|(key, value)| types::KeyValue {
            key: key.clone(),
            value: value.clone(),
        })
        .collect()
}

fn execution_metadata(m: &TaskExecutionMetadata) -> types::TaskExecutionMetadata {
    let id = m.task_execution_id.clone().unwrap_or_default();
    let node = id.node_execution_id.unwrap_or_default();
    let execution = node.execution_id.unwrap_or_default();
    types::TaskExecutionMetadata {
        task_execution_id: types::TaskExecutionId {
            task: identifier(id.task_id.as_ref()),
            node_id: node.node_id,
            execution_project: execution.project,
            execution_domain: execution.domain,
            execution_name: execution.name,
            retry_attempt: id.retry_attempt,
        },
        namespace: m.namespace.clone(),
        labels: sorted_pairs(&m.labels),
        annotations: sorted_pairs(&m.annotations),
        k8s_service_account: m.k8s_service_account.clone(),
        environment_variables: sorted_pairs(&m.environment_variables),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn execution_id(node: &str, retry: u32) -> core::TaskExecutionIdentifier {
        core::TaskExecutionIdentifier {
            task_id: Some(core::Identifier {
                project: "flytesnacks".into(),
                domain: "development".into(),
                name: "echo_task".into(),
                version: "v1".into(),
                ..Default::default()
            }),
            node_execution_id: Some(core::NodeExecutionIdentifier {
                node_id: node.into(),
                execution_id: Some(core::WorkflowExecutionIdentifier {
                    project: "flytesnacks".into(),
                    domain: "development".into(),
                    name: "abc123".into(),
                    ..Default::default()
                }),
            }),
            retry_attempt: retry,
        }
    }

    #[test]
    fn keys_are_lower_case_hex_as_before() {
        for bytes in [&[][..], &[0x00, 0x0f, 0xa5, 0xff][..], &[0x12; 16][..]] {
            let mut ours = String::new();
            push_hex(&mut ours, bytes);
            assert_eq!(ours, hex::encode(bytes));
        }
    }

    /// Keys must not change between Hangar versions: an agent deduplicates
    /// a retried create by them, across a rolling upgrade too.
    #[test]
    fn keys_are_the_same_as_in_earlier_versions() {
        assert_eq!(
            idempotency_key(&execution_id("n0", 3)),
            "718a92271857c74c0ae9a520ffcf924c-3"
        );
        assert_eq!(
            local_idempotency_key(b"t", b"i", "s3://p"),
            "local-88beea00201023bd965241fae678a631"
        );
    }

    #[test]
    fn idempotency_key_is_stable_and_distinguishes_attempts() {
        let a = idempotency_key(&execution_id("n0", 0));
        assert_eq!(a, idempotency_key(&execution_id("n0", 0)));
        assert_ne!(a, idempotency_key(&execution_id("n0", 1)));
        assert_ne!(a, idempotency_key(&execution_id("n1", 0)));
        assert!(a.ends_with("-0"), "{a}");
    }

    /// The same request, decoded again (as a retry would be), gives the
    /// agent the same raw bytes and the same local idempotency key. Maps
    /// (inputs, config) must not be written in a per-decode hash order.
    #[test]
    fn same_request_same_raw_bytes_and_local_key() {
        use crate::proto::flyteidl::core::{
            Literal, Primitive, Scalar, literal, primitive, scalar,
        };
        let int = |v: i64| Literal {
            value: Some(literal::Value::Scalar(Box::new(Scalar {
                value: Some(scalar::Value::Primitive(Primitive {
                    value: Some(primitive::Value::Integer(v)),
                })),
            }))),
            ..Default::default()
        };
        let template = TaskTemplate {
            r#type: "echo".into(),
            config: (0..8).map(|i| (format!("k{i}"), format!("v{i}"))).collect(),
            ..Default::default()
        };
        let inputs = LiteralMap {
            literals: (0..8).map(|i| (format!("x{i}"), int(i))).collect(),
        };
        let (template_bytes, inputs_bytes) = (template.encode_to_vec(), inputs.encode_to_vec());
        let build = || {
            let template = TaskTemplate::decode(template_bytes.as_slice()).expect("template");
            let inputs = LiteralMap::decode(inputs_bytes.as_slice()).expect("inputs");
            build_task(&template, &inputs, &Received::default(), "s3://out", None).expect("task")
        };
        let first = build();
        for _ in 0..16 {
            let again = build();
            assert_eq!(again.template.raw, first.template.raw);
            assert_eq!(again.inputs_raw, first.inputs_raw);
            assert_eq!(again.idempotency_key, first.idempotency_key);
        }
    }

    #[test]
    fn guest_sees_template_fields() {
        let template = TaskTemplate {
            r#type: "echo".into(),
            task_type_version: 2,
            config: [
                ("b".to_string(), "2".to_string()),
                ("a".to_string(), "1".to_string()),
            ]
            .into_iter()
            .collect(),
            ..Default::default()
        };
        let task = build_task(
            &template,
            &LiteralMap::default(),
            &Received::default(),
            "s3://out",
            None,
        )
        .unwrap();
        assert_eq!(task.template.category.name, "echo");
        assert_eq!(task.template.category.version, 2);
        assert_eq!(task.template.custom, "{}");
        assert_eq!(task.inputs, "{}");
        assert_eq!(task.template.config[0].key, "a");
        assert!(task.idempotency_key.starts_with("local-"));
        assert!(task.metadata.is_none());
    }
}
