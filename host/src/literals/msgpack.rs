//! msgpack ↔ JSON for `Binary { tag: "msgpack" }` scalars.
//!
//! flytekit 1.16 serializes `dict` and dataclasses as a msgpack document in
//! a binary scalar (`DictTransformer` / `DataclassTransformer`), so integers
//! stay integers (a `google.protobuf.Struct`, used before, turned them into
//! floats). Hangar reads and writes the same encoding; for the JSON a guest
//! returns, the bytes are identical to what `msgpack.dumps` produces for the
//! equivalent Python dict (most compact integer and string forms, floats as
//! float64).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use rmpv::Value as Mp;
use serde_json::{Map, Number, Value};

use super::{LiteralError, MAX_DEPTH, Path, Seg, quote};

/// The `Binary.tag` flytekit uses for msgpack documents.
pub(super) const MSGPACK_TAG: &str = "msgpack";

/// Decodes a msgpack document into JSON: maps become objects (integer, boolean
/// and nil keys are written as strings, as Python's `json.dumps` does), binary
/// strings become base64 strings.
pub(super) fn msgpack_to_json(bytes: &[u8], path: &Path<'_>) -> Result<Value, LiteralError> {
    let mut rd = bytes;
    // rmpv counts about two levels per container; our own limit, with paths,
    // is applied while converting.
    let value = rmpv::decode::read_value_with_max_depth(&mut rd, 2 * MAX_DEPTH + 8).map_err(
        |e| match e {
            rmpv::decode::Error::DepthLimitExceeded => LiteralError::TooDeep {
                path: path.to_string(),
                limit: MAX_DEPTH,
            },
            e => path.invalid(format!("the msgpack value is malformed ({e})")),
        },
    )?;
    if !rd.is_empty() {
        return Err(path.invalid(format!(
            "the msgpack value is followed by {} unexpected bytes",
            rd.len()
        )));
    }
    mp_to_json(&value, path)
}

fn mp_to_json(v: &Mp, path: &Path<'_>) -> Result<Value, LiteralError> {
    path.check_depth()?;
    Ok(match v {
        Mp::Nil => Value::Null,
        Mp::Boolean(b) => Value::Bool(*b),
        Mp::Integer(i) => {
            if let Some(n) = i.as_i64() {
                Value::from(n)
            } else if let Some(n) = i.as_u64() {
                Value::from(n)
            } else {
                return Err(path.invalid("msgpack integer out of range"));
            }
        }
        Mp::F32(f) => float(f64::from(*f), path)?,
        Mp::F64(f) => float(*f, path)?,
        Mp::String(s) => match s.as_str() {
            Some(s) => Value::String(s.to_string()),
            None => return Err(path.invalid("msgpack string is not valid UTF-8")),
        },
        Mp::Binary(b) => Value::String(BASE64.encode(b)),
        Mp::Array(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| mp_to_json(item, &path.index(i)))
                .collect::<Result<_, _>>()?,
        ),
        Mp::Map(pairs) => {
            let mut out = Map::new();
            for (k, item) in pairs {
                let key = match k {
                    Mp::String(s) => match s.as_str() {
                        Some(s) => s.to_string(),
                        None => return Err(path.invalid("msgpack map key is not valid UTF-8")),
                    },
                    Mp::Integer(i) => i.to_string(),
                    Mp::Boolean(b) => b.to_string(),
                    Mp::Nil => "null".to_string(),
                    other => {
                        return Err(path.invalid(format!(
                            "msgpack map key {} cannot be a JSON object key (only strings, integers, booleans and nil can)",
                            truncated_debug(other)
                        )));
                    }
                };
                let converted = mp_to_json(item, &path.child(Seg::Key(&key)))?;
                if out.insert(key.clone(), converted).is_some() {
                    return Err(path.invalid(format!(
                        "msgpack map has the key {} twice once keys are written as strings",
                        quote(&key)
                    )));
                }
            }
            Value::Object(out)
        }
        Mp::Ext(tag, _) => {
            return Err(path.invalid(format!("msgpack extension type {tag} has no JSON form")));
        }
    })
}

fn float(f: f64, path: &Path<'_>) -> Result<Value, LiteralError> {
    Number::from_f64(f).map(Value::Number).ok_or_else(|| {
        path.invalid(format!(
            "float {f} (NaN or infinite) cannot be written in JSON"
        ))
    })
}

fn truncated_debug(v: &Mp) -> String {
    let s = format!("{v}");
    let shown = super::truncate(&s, super::MAX_SHOWN);
    if shown.len() < s.len() {
        format!("{shown}...")
    } else {
        s
    }
}

/// Encodes JSON as msgpack: integers as the most compact msgpack integer,
/// other numbers as float64, objects as maps with string keys.
pub(super) fn json_to_msgpack(v: &Value, path: &Path<'_>) -> Result<Vec<u8>, LiteralError> {
    let value = json_to_mp(v, path)?;
    let mut out = Vec::new();
    rmpv::encode::write_value(&mut out, &value)
        .map_err(|e| path.invalid(format!("could not encode msgpack ({e})")))?;
    Ok(out)
}

fn json_to_mp(v: &Value, path: &Path<'_>) -> Result<Mp, LiteralError> {
    path.check_depth()?;
    Ok(match v {
        Value::Null => Mp::Nil,
        Value::Bool(b) => Mp::Boolean(*b),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Mp::from(i)
            } else if let Some(u) = n.as_u64() {
                Mp::from(u)
            } else {
                // serde_json numbers are always i64, u64 or finite f64.
                Mp::F64(n.as_f64().unwrap_or_default())
            }
        }
        Value::String(s) => Mp::from(s.as_str()),
        Value::Array(items) => Mp::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| json_to_mp(item, &path.index(i)))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => Mp::Map(
            map.iter()
                .map(|(k, item)| Ok((Mp::from(k.as_str()), json_to_mp(item, &path.key(k))?)))
                .collect::<Result<_, LiteralError>>()?,
        ),
    })
}
