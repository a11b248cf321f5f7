//! The requests every target receives: one small `LiteralMap`
//! (`{"n": 3, "s": "hi"}`) in a task template whose interface declares the
//! same names as outputs, so an echo agent can type its answer. Every target
//! gets the same messages; only the task type differs (each server
//! names its echo agents its own way).

use std::collections::BTreeMap;

use crate::proto::flyteidl::admin::{
    CreateRequestHeader, CreateTaskRequest, ExecuteTaskSyncRequest, GetTaskRequest, TaskCategory,
    execute_task_sync_request::Part,
};
use crate::proto::flyteidl::core::{
    Identifier, Literal, LiteralMap, LiteralType, Primitive, Scalar, SimpleType, TaskTemplate,
    TypedInterface, Variable, VariableMap, literal, literal_type, primitive, scalar,
};

/// Where propeller would want outputs; echo agents return them instead.
const OUTPUT_PREFIX: &str = "s3://bench/outputs";

/// `{"n": 3, "s": "hi"}` as a `LiteralMap`.
pub fn inputs() -> LiteralMap {
    fn primitive_literal(value: primitive::Value) -> Literal {
        Literal {
            value: Some(literal::Value::Scalar(Box::new(Scalar {
                value: Some(scalar::Value::Primitive(Primitive { value: Some(value) })),
            }))),
            ..Default::default()
        }
    }
    let mut literals = BTreeMap::new();
    literals.insert(
        "n".to_owned(),
        primitive_literal(primitive::Value::Integer(3)),
    );
    literals.insert(
        "s".to_owned(),
        primitive_literal(primitive::Value::StringValue("hi".to_owned())),
    );
    LiteralMap { literals }
}

/// The interface `n: int, s: str -> n: int, s: str`.
fn interface() -> TypedInterface {
    fn variables() -> VariableMap {
        let simple = |t: SimpleType| Variable {
            r#type: Some(LiteralType {
                r#type: Some(literal_type::Type::Simple(t as i32)),
                ..Default::default()
            }),
            ..Default::default()
        };
        let mut map = BTreeMap::new();
        map.insert("n".to_owned(), simple(SimpleType::Integer));
        map.insert("s".to_owned(), simple(SimpleType::String));
        VariableMap { variables: map }
    }
    TypedInterface {
        inputs: Some(variables()),
        outputs: Some(variables()),
    }
}

/// A task template of type `task_type`.
pub fn template(task_type: &str) -> TaskTemplate {
    TaskTemplate {
        id: Some(Identifier {
            resource_type: 1, // TASK
            project: "bench".to_owned(),
            domain: "development".to_owned(),
            name: "bench.echo".to_owned(),
            version: "1".to_owned(),
            org: String::new(),
        }),
        r#type: task_type.to_owned(),
        interface: Some(interface()),
        ..Default::default()
    }
}

/// `CreateTask` for an async echo agent.
pub fn create(task_type: &str) -> CreateTaskRequest {
    CreateTaskRequest {
        inputs: Some(inputs()),
        template: Some(Box::new(template(task_type))),
        output_prefix: OUTPUT_PREFIX.to_owned(),
        task_execution_metadata: None,
        received: Default::default(),
    }
}

/// `GetTask` for the job `resource_meta` (what `CreateTask` returned).
pub fn get(task_type: &str, resource_meta: Vec<u8>) -> GetTaskRequest {
    GetTaskRequest {
        task_type: task_type.to_owned(),
        resource_meta,
        task_category: Some(TaskCategory {
            name: task_type.to_owned(),
            version: 0,
        }),
        output_prefix: OUTPUT_PREFIX.to_owned(),
    }
}

/// The two messages of an `ExecuteTaskSync` stream: header, then inputs.
pub fn execute_sync(task_type: &str) -> [ExecuteTaskSyncRequest; 2] {
    [
        ExecuteTaskSyncRequest {
            part: Some(Part::Header(CreateRequestHeader {
                template: Some(template(task_type)),
                output_prefix: OUTPUT_PREFIX.to_owned(),
                task_execution_metadata: None,
                max_dataset_size_bytes: 0,
            })),
        },
        ExecuteTaskSyncRequest {
            part: Some(Part::Inputs(inputs())),
        },
    ]
}
