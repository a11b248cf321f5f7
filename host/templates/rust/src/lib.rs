//! {{name}}: an async Flyte agent for Hangar, serving task type
//! `{{name_snake}}`. `create` remembers who to greet, `get` answers at once
//! with output `greeting`, `delete` has nothing to cancel.
//!
//! Replace the bodies with your own job: start it in `create` (keep what
//! `get` needs in the metadata: any replica may serve the next call), poll
//! it in `get`, cancel it in `delete`. `hangar_agent::http` calls other
//! services (allow them in the manifest, `{{name}}.toml`),
//! `hangar_agent::secrets` and `hangar_agent::config` read what the
//! operator grants.

use hangar_agent::{AgentError, AgentInfo, AsyncAgent, Map, Resource, Task, TaskHandle, Value};
use serde::{Deserialize, Serialize};

/// What `create` keeps for `get` (stored as JSON in the resource meta).
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct Greeting {
    pub name: String,
}

pub struct {{name_pascal}};

impl AsyncAgent for {{name_pascal}} {
    type Metadata = Greeting;

    fn info() -> AgentInfo {
        AgentInfo::new("{{name}}").category("{{name_snake}}", 0)
    }

    fn create(task: Task) -> Result<Greeting, AgentError> {
        let name: String = task.input("name")?;
        hangar_agent::log::info!("greeting {name}");
        Ok(Greeting { name })
    }

    fn get(job: TaskHandle<Greeting>) -> Result<Resource, AgentError> {
        let mut outputs = Map::new();
        let greeting = format!("Hello, {}!", job.meta.name);
        outputs.insert("greeting".to_string(), Value::String(greeting));
        Ok(Resource::succeeded_with(outputs))
    }

    fn delete(_job: TaskHandle<Greeting>) -> Result<(), AgentError> {
        Ok(())
    }
}

hangar_agent::export_async_agent!({{name_pascal}});

#[cfg(test)]
mod tests {
    use super::*;
    use hangar_agent::{Outputs, Phase, TaskCategory, json};

    fn handle(meta: Greeting) -> TaskHandle<Greeting> {
        TaskHandle {
            category: TaskCategory::new("{{name_snake}}", 0),
            meta,
            output_prefix: String::new(),
        }
    }

    #[test]
    fn greets_by_name() {
        let task = Task::new("{{name_snake}}", json!({})).with_input("name", "World");
        let meta = {{name_pascal}}::create(task).expect("create");
        assert_eq!(meta, Greeting { name: "World".into() });
        let resource = {{name_pascal}}::get(handle(meta)).expect("get");
        assert_eq!(resource.phase, Phase::Succeeded);
        let Some(Outputs::Json(outputs)) = resource.outputs else {
            panic!("expected JSON outputs, got {:?}", resource.outputs)
        };
        assert_eq!(outputs["greeting"], "Hello, World!");
        {{name_pascal}}::delete(handle(Greeting { name: "World".into() })).expect("delete");
    }

    #[test]
    fn a_missing_name_is_an_error_not_a_panic() {
        let e = {{name_pascal}}::create(Task::new("{{name_snake}}", json!({}))).expect_err("no name");
        assert_eq!(e.code, "MissingInput");
    }
}
