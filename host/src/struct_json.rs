//! `google.protobuf.Struct` ⇄ JSON object. Flyte carries free-form config as
//! Structs (`TaskTemplate.custom`, `Resource.custom_info`, metric data);
//! guests see and return them as JSON text.
//!
//! Struct numbers are doubles, as in protobuf's own JSON mapping: an integer
//! becomes a float on the way in and stays a whole number on the way out.

use prost_types::{ListValue, Struct, Value as ProtoValue, value::Kind};
use serde_json::{Map, Number, Value};

/// A Struct as a JSON object. Non-finite numbers (which JSON cannot hold)
/// become null.
pub fn struct_to_json(value: &Struct) -> Map<String, Value> {
    value
        .fields
        .iter()
        .map(|(key, value)| (key.clone(), value_to_json(value)))
        .collect()
}

/// A JSON object as a Struct.
pub fn json_to_struct(object: &Map<String, Value>) -> Struct {
    Struct {
        fields: object
            .iter()
            .map(|(key, value)| (key.clone(), json_to_value(value)))
            .collect(),
    }
}

fn value_to_json(value: &ProtoValue) -> Value {
    match &value.kind {
        None | Some(Kind::NullValue(_)) => Value::Null,
        Some(Kind::NumberValue(n)) => number_to_json(*n),
        Some(Kind::StringValue(s)) => Value::String(s.clone()),
        Some(Kind::BoolValue(b)) => Value::Bool(*b),
        Some(Kind::StructValue(s)) => Value::Object(struct_to_json(s)),
        Some(Kind::ListValue(list)) => {
            Value::Array(list.values.iter().map(value_to_json).collect())
        }
    }
}

/// Whole numbers print as integers (`3`, not `3.0`) so guests reading config
/// like `{"timeout_sec": 10}` get what the author wrote.
fn number_to_json(n: f64) -> Value {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    if n.fract() == 0.0 && n.abs() <= EXACT {
        return Value::Number(Number::from(n as i64));
    }
    Number::from_f64(n)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

fn json_to_value(value: &Value) -> ProtoValue {
    let kind = match value {
        Value::Null => Kind::NullValue(0),
        Value::Bool(b) => Kind::BoolValue(*b),
        Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or(0.0)),
        Value::String(s) => Kind::StringValue(s.clone()),
        Value::Array(items) => Kind::ListValue(ListValue {
            values: items.iter().map(json_to_value).collect(),
        }),
        Value::Object(object) => Kind::StructValue(json_to_struct(object)),
    };
    ProtoValue { kind: Some(kind) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trips_json_objects() {
        let cases = [
            json!({}),
            json!({"url": "http://127.0.0.1:1/x", "timeout_sec": 10, "ratio": 0.5}),
            json!({"nested": {"list": [1, "two", null, true, {"deep": []}]}}),
            json!({"negative": -3, "big": 9007199254740992i64}),
        ];
        for case in cases {
            let Value::Object(object) = &case else {
                unreachable!()
            };
            let back = struct_to_json(&json_to_struct(object));
            assert_eq!(Value::Object(back), case);
        }
    }

    #[test]
    fn non_finite_numbers_become_null() {
        let value = Struct {
            fields: [(
                "x".to_string(),
                ProtoValue {
                    kind: Some(Kind::NumberValue(f64::NAN)),
                },
            )]
            .into_iter()
            .collect(),
        };
        assert_eq!(struct_to_json(&value)["x"], Value::Null);
    }
}
