//! How many bytes cross the sandbox boundary in one call: the variable-size
//! parts (strings and byte lists) of what goes in and of what comes back.
//!
//! Checked against the plugin's `max_input_bytes` before an instance is
//! made, and `max_output_bytes` once the call returned. The sums walk a few
//! fields and allocate nothing: this runs on every call.
//!
//! What comes back was already copied out of the guest when it is measured,
//! but it cannot be larger than the guest's linear memory (`memory_mib`),
//! so the host never holds more than that per call.

use super::types;

fn kv_bytes(pairs: &[types::KeyValue]) -> u64 {
    pairs
        .iter()
        .map(|kv| (kv.key.len() + kv.value.len()) as u64)
        .sum()
}

fn identifier_bytes(id: &types::Identifier) -> u64 {
    (id.project.len() + id.domain.len() + id.name.len() + id.version.len() + id.org.len()) as u64
}

/// Bytes of a task passed to `create` or `do`: inputs (JSON and raw), the
/// template (custom, config, SQL, raw), metadata and the smaller strings.
pub fn task(task: &types::Task) -> u64 {
    let template = &task.template;
    let mut bytes = (task.inputs.len()
        + task.inputs_raw.len()
        + task.output_prefix.len()
        + task.idempotency_key.len()
        + template.category.name.len()
        + template.custom.len()
        + template.raw.len()
        + template.sql.as_ref().map_or(0, String::len)) as u64
        + identifier_bytes(&template.id)
        + kv_bytes(&template.config);
    if let Some(m) = &task.metadata {
        let id = &m.task_execution_id;
        bytes += identifier_bytes(&id.task)
            + (id.node_id.len()
                + id.execution_project.len()
                + id.execution_domain.len()
                + id.execution_name.len()
                + m.namespace.len()
                + m.k8s_service_account.len()) as u64
            + kv_bytes(&m.labels)
            + kv_bytes(&m.annotations)
            + kv_bytes(&m.environment_variables);
    }
    bytes
}

/// Bytes of a handle passed to `get`, `delete` and the observability calls.
pub fn handle(handle: &types::TaskHandle) -> u64 {
    (handle.category.name.len() + handle.resource_meta.len() + handle.output_prefix.len()) as u64
}

/// Bytes of an agent's error.
pub fn agent_error(error: &types::AgentError) -> u64 {
    (error.message.len() + error.code.len()) as u64
}

/// Bytes of an answer that is either `ok` or an agent error.
pub fn answer<T>(answer: &Result<T, types::AgentError>, ok: impl FnOnce(&T) -> u64) -> u64 {
    match answer {
        Ok(value) => ok(value),
        Err(error) => agent_error(error),
    }
}

/// Bytes of a resource: message, outputs, log links and custom info.
pub fn resource(resource: &types::Resource) -> u64 {
    let outputs = match &resource.outputs {
        Some(types::Outputs::Json(text)) => text.len(),
        Some(types::Outputs::LiteralMap(bytes)) => bytes.len(),
        None => 0,
    };
    let links: usize = resource
        .log_links
        .iter()
        .map(|l| l.name.len() + l.uri.len())
        .sum();
    (resource.message.len()
        + outputs
        + links
        + resource.custom_info.as_ref().map_or(0, String::len)) as u64
}

pub fn metrics(results: &[types::MetricResult]) -> u64 {
    results
        .iter()
        .map(|r| (r.metric.len() + r.data.len()) as u64)
        .sum()
}

pub fn log_page(page: &types::LogPage) -> u64 {
    page.lines.iter().map(|l| l.len() as u64).sum::<u64>() + page.next_token.len() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(key: &str, value: &str) -> types::KeyValue {
        types::KeyValue {
            key: key.into(),
            value: value.into(),
        }
    }

    fn id(name: &str) -> types::Identifier {
        types::Identifier {
            project: String::new(),
            domain: String::new(),
            name: name.into(),
            version: String::new(),
            org: String::new(),
        }
    }

    #[test]
    fn task_counts_every_variable_part() {
        let mut t = types::Task {
            template: types::TaskTemplate {
                category: types::TaskCategory {
                    name: "ab".into(), // 2
                    version: 0,
                },
                id: id("n"),                // 1
                custom: "{}".into(),        // 2
                config: vec![kv("k", "v")], // 2
                sql: Some("sql".into()),    // 3
                raw: vec![0; 10],           // 10
            },
            inputs: "{\"a\":1}".into(),    // 7
            inputs_raw: vec![0; 100],      // 100
            output_prefix: "s3://".into(), // 5
            metadata: None,
            idempotency_key: "key".into(), // 3
        };
        assert_eq!(task(&t), 2 + 1 + 2 + 2 + 3 + 10 + 7 + 100 + 5 + 3);
        t.metadata = Some(types::TaskExecutionMetadata {
            task_execution_id: types::TaskExecutionId {
                task: id("tt"),       // 2
                node_id: "n0".into(), // 2
                execution_project: String::new(),
                execution_domain: String::new(),
                execution_name: "e".into(), // 1
                retry_attempt: 3,
            },
            namespace: "ns".into(),                   // 2
            labels: vec![kv("l", "1")],               // 2
            annotations: vec![kv("a", "22")],         // 3
            k8s_service_account: "sa".into(),         // 2
            environment_variables: vec![kv("E", "")], // 1
        });
        assert_eq!(task(&t), 135 + 2 + 2 + 1 + 2 + 2 + 3 + 2 + 1);
    }

    #[test]
    fn answers_count_what_comes_back() {
        let r = types::Resource {
            phase: types::Phase::Succeeded,
            message: "done".into(),                                  // 4
            outputs: Some(types::Outputs::Json("{\"x\":1}".into())), // 7
            log_links: vec![types::LogLink {
                name: "ui".into(),       // 2
                uri: "https://x".into(), // 9
            }],
            custom_info: Some("{}".into()), // 2
        };
        assert_eq!(resource(&r), 24);
        let error = types::AgentError {
            message: "no".into(),
            code: "Bad".into(),
            kind: types::ErrorKind::NonRecoverable,
        };
        assert_eq!(answer(&Err::<types::Resource, _>(error), resource), 5);
        assert_eq!(
            answer(&Ok::<_, types::AgentError>(vec![0u8; 9]), |m| m.len()
                as u64),
            9
        );
        let page = types::LogPage {
            lines: vec!["a".into(), "bcd".into()],
            next_token: "t".into(),
        };
        assert_eq!(log_page(&page), 5);
        let m = [types::MetricResult {
            metric: "m".into(),
            data: "{}".into(),
        }];
        assert_eq!(metrics(&m), 3);
        assert_eq!(
            handle(&types::TaskHandle {
                category: types::TaskCategory {
                    name: "echo".into(),
                    version: 0
                },
                resource_meta: vec![1, 2, 3],
                output_prefix: String::new(),
            }),
            7
        );
    }
}
