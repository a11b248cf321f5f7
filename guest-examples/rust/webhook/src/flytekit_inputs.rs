//! The task inputs as flytekit's webhook connector sees them
//! (`literal_map_string_repr`): primitives as themselves, datetimes as
//! Python `isoformat()` text, durations as float seconds, files and datasets
//! as their URI, msgpack values (dicts, dataclasses) as `json.dumps` text.
//! The host's JSON inputs plus each input's [`Shape`] give exactly that.

use hangar_agent::serde_json::Number;
use hangar_agent::{Map, Value};

use crate::literal_shape::{Shape, literal_map_shapes};
use crate::python_text::json_dumps;

/// `inputs` (the host's JSON) rewritten in flytekit's forms, using the kinds
/// read from `inputs_raw` (the protobuf LiteralMap).
pub fn flytekit_inputs(inputs: &Map<String, Value>, inputs_raw: &[u8]) -> Map<String, Value> {
    let shapes = literal_map_shapes(inputs_raw);
    inputs
        .iter()
        .map(|(name, value)| {
            let shape = shapes.get(name).unwrap_or(&Shape::Plain);
            (name.clone(), reshape(value, shape))
        })
        .collect()
}

fn reshape(value: &Value, shape: &Shape) -> Value {
    match (shape, value) {
        (Shape::Datetime, Value::String(s)) => Value::String(isoformat(s)),
        (Shape::Duration, Value::String(s)) => s
            .strip_suffix('s')
            .and_then(|n| n.parse::<f64>().ok())
            .and_then(Number::from_f64)
            .map(Value::Number)
            .unwrap_or_else(|| value.clone()),
        (Shape::Uri, Value::Object(o)) => o.get("uri").cloned().unwrap_or(Value::Null),
        (Shape::MsgpackText, v) => Value::String(json_dumps(v)),
        (Shape::Collection(shapes), Value::Array(items)) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, v)| reshape(v, shapes.get(i).unwrap_or(&Shape::Plain)))
                .collect(),
        ),
        (Shape::Map(shapes), Value::Object(map)) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        reshape(v, shapes.get(k).unwrap_or(&Shape::Plain)),
                    )
                })
                .collect(),
        ),
        _ => value.clone(),
    }
}

/// `2024-01-02T03:04:05.123456789Z` as Python's UTC `isoformat()`:
/// `2024-01-02T03:04:05.123456+00:00` (microseconds, truncated, and only
/// when not zero).
fn isoformat(rfc3339: &str) -> String {
    let Some(body) = rfc3339.strip_suffix('Z') else {
        return rfc3339.to_string();
    };
    let (seconds, fraction) = body.split_once('.').unwrap_or((body, ""));
    let micros: String = format!("{fraction:0<6}").chars().take(6).collect();
    if micros.chars().all(|c| c == '0') {
        format!("{seconds}+00:00")
    } else {
        format!("{seconds}.{micros}+00:00")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::literal_shape::tests::{entry, field, scalar_literal};
    use hangar_agent::json;

    #[test]
    fn datetimes_durations_files_and_dicts_take_flytekit_forms() {
        let datetime = scalar_literal(&field(1, &field(5, &[8, 1])));
        let duration = scalar_literal(&field(1, &field(6, &[8, 1])));
        let blob = scalar_literal(&field(2, &field(3, b"s3://b/k")));
        let msgpack = scalar_literal(&field(
            3,
            &[field(1, &[0x80]), field(2, b"msgpack")].concat(),
        ));
        let raw = [
            entry("t", &datetime),
            entry("t0", &datetime),
            entry("dur", &duration),
            entry("f", &blob),
            entry("d", &msgpack),
        ]
        .concat();
        let inputs = json!({
            "t": "2024-01-02T03:04:05.123456789Z",
            "t0": "2024-01-02T03:04:05Z",
            "dur": "90.5s",
            "f": {"uri": "s3://b/k", "format": "csv"},
            "d": {"a": 1, "b": "é"},
            "s": "2024-01-02T03:04:05Z",
        });
        let Value::Object(inputs) = inputs else {
            unreachable!()
        };
        let got = flytekit_inputs(&inputs, &raw);
        assert_eq!(got["t"], json!("2024-01-02T03:04:05.123456+00:00"));
        assert_eq!(got["t0"], json!("2024-01-02T03:04:05+00:00"));
        assert_eq!(got["dur"], json!(90.5));
        assert_eq!(got["f"], json!("s3://b/k"));
        assert_eq!(got["d"], json!("{\"a\": 1, \"b\": \"\\u00e9\"}"));
        assert_eq!(
            got["s"],
            json!("2024-01-02T03:04:05Z"),
            "a string stays a string"
        );
    }
}
