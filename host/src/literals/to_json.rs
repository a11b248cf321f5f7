//! Literal → JSON: the inputs a guest receives.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Number, Value, json};

use super::msgpack::{MSGPACK_TAG, msgpack_to_json};
use super::time::{format_duration, format_timestamp};
use super::{LiteralError, Path, quote, truncate};
use crate::proto::flyteidl::core::{
    Literal, LiteralMap, Scalar, blob_type::BlobDimensionality, literal, primitive, scalar,
};

/// Converts task inputs to one JSON object of plain values (the forms
/// documented on `task.inputs` in `wit/agent.wit` and in the module docs).
///
/// Fails, naming the input, on values with no JSON form: NaN or infinite
/// floats, error literals, offloaded literals, malformed msgpack, nesting
/// deeper than [`super::MAX_DEPTH`].
pub fn literal_map_to_json(map: &LiteralMap) -> Result<Map<String, Value>, LiteralError> {
    // In name order (protobuf maps are `BTreeMap`s), so that of two bad
    // inputs the error always names the same one.
    let mut out = Map::new();
    for (name, literal) in &map.literals {
        let path = Path::root("input", name);
        out.insert(name.clone(), literal_to_json(literal, &path)?);
    }
    Ok(out)
}

fn literal_to_json(lit: &Literal, path: &Path<'_>) -> Result<Value, LiteralError> {
    path.check_depth()?;
    match &lit.value {
        None => Err(path.invalid("the literal has no value set")),
        Some(literal::Value::Scalar(s)) => scalar_to_json(s, path),
        Some(literal::Value::Collection(c)) => c
            .literals
            .iter()
            .enumerate()
            .map(|(i, item)| literal_to_json(item, &path.index(i)))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        Some(literal::Value::Map(m)) => {
            let mut out = Map::new();
            for (k, item) in &m.literals {
                out.insert(k.clone(), literal_to_json(item, &path.key(k))?);
            }
            Ok(Value::Object(out))
        }
        Some(literal::Value::OffloadedMetadata(o)) => Err(path.unsupported(format!(
            "offloaded literals are not supported yet (this value, {} bytes, was offloaded by \
             propeller to {}); raise propeller's literal offloading threshold \
             (literal-offloading-config) or pass large data as a FlyteFile",
            o.size_bytes,
            quote(&o.uri)
        ))),
    }
}

fn scalar_to_json(s: &Scalar, path: &Path<'_>) -> Result<Value, LiteralError> {
    let Some(value) = &s.value else {
        return Err(path.invalid("the scalar has no value set"));
    };
    Ok(match value {
        scalar::Value::Primitive(p) => match &p.value {
            None => return Err(path.invalid("the primitive has no value set")),
            Some(primitive::Value::Integer(i)) => Value::from(*i),
            Some(primitive::Value::FloatValue(f)) => match Number::from_f64(*f) {
                Some(n) => Value::Number(n),
                None => {
                    return Err(path.invalid(format!(
                        "float {f} cannot be passed as JSON (JSON has no NaN or infinity)"
                    )));
                }
            },
            Some(primitive::Value::StringValue(s)) => Value::String(s.clone()),
            Some(primitive::Value::Boolean(b)) => Value::Bool(*b),
            Some(primitive::Value::Datetime(ts)) => {
                Value::String(format_timestamp(ts).map_err(|e| path.invalid(e))?)
            }
            Some(primitive::Value::Duration(d)) => {
                Value::String(format_duration(d).map_err(|e| path.invalid(e))?)
            }
        },
        scalar::Value::Blob(b) => {
            let t = b.metadata.as_ref().and_then(|m| m.r#type.as_ref());
            let format = t.map(|t| t.format.as_str()).unwrap_or_default();
            let multipart =
                t.is_some_and(|t| t.dimensionality == BlobDimensionality::Multipart as i32);
            json!({
                "uri": b.uri,
                "format": format,
                "dimensionality": if multipart { "multipart" } else { "single" },
            })
        }
        scalar::Value::Binary(b) if b.tag == MSGPACK_TAG => msgpack_to_json(&b.value, path)?,
        scalar::Value::Binary(b) => json!({
            "binary": BASE64.encode(&b.value),
            "tag": b.tag,
        }),
        scalar::Value::Schema(s) => json!({ "uri": s.uri }),
        scalar::Value::NoneType(_) => Value::Null,
        scalar::Value::Error(e) => {
            return Err(path.unsupported(format!(
                "is an error from upstream node {} ({}), not a value; \
                 agents receive only successful inputs",
                quote(&e.failed_node_id),
                quote(truncate(&e.message, 200))
            )));
        }
        scalar::Value::Generic(st) => struct_to_json(st, path)?,
        scalar::Value::StructuredDataset(sd) => {
            let format = sd
                .metadata
                .as_ref()
                .and_then(|m| m.structured_dataset_type.as_ref())
                .map(|t| t.format.as_str())
                .unwrap_or_default();
            json!({ "uri": sd.uri, "format": format })
        }
        scalar::Value::Union(u) => match &u.value {
            Some(inner) => literal_to_json(inner, &path.inner())?,
            None => return Err(path.invalid("the union has no value set")),
        },
    })
}

/// `google.protobuf.Struct` (how flytekit before 1.14 sent `dict`s) to JSON.
/// Its numbers are doubles and stay JSON floats, as flytekit reads them.
fn struct_to_json(st: &prost_types::Struct, path: &Path<'_>) -> Result<Value, LiteralError> {
    let mut out = Map::new();
    for (k, v) in &st.fields {
        out.insert(k.clone(), pb_value_to_json(v, &path.key(k))?);
    }
    Ok(Value::Object(out))
}

fn pb_value_to_json(v: &prost_types::Value, path: &Path<'_>) -> Result<Value, LiteralError> {
    use prost_types::value::Kind;
    path.check_depth()?;
    Ok(match &v.kind {
        None | Some(Kind::NullValue(_)) => Value::Null,
        Some(Kind::NumberValue(f)) => match Number::from_f64(*f) {
            Some(n) => Value::Number(n),
            None => {
                return Err(path.invalid(format!(
                    "float {f} cannot be passed as JSON (JSON has no NaN or infinity)"
                )));
            }
        },
        Some(Kind::StringValue(s)) => Value::String(s.clone()),
        Some(Kind::BoolValue(b)) => Value::Bool(*b),
        Some(Kind::StructValue(s)) => struct_to_json(s, path)?,
        Some(Kind::ListValue(l)) => Value::Array(
            l.values
                .iter()
                .enumerate()
                .map(|(i, item)| pb_value_to_json(item, &path.index(i)))
                .collect::<Result<_, _>>()?,
        ),
    })
}
