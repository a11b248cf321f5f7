//! JSON → literal: the outputs a guest returns, typed by the task's declared
//! output types so they match what flytekit's `TypeEngine` would produce.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value};

use super::msgpack::{MSGPACK_TAG, json_to_msgpack};
use super::time::{
    duration_from_seconds, duration_from_whole_seconds, parse_duration, parse_timestamp,
};
use super::{LiteralError, Path, expected, quote, type_name};
use crate::proto::flyteidl::core::{
    Binary, Blob, BlobMetadata, Literal, LiteralCollection, LiteralMap, LiteralType, Primitive,
    Scalar, Schema, SimpleType, StructuredDataset, StructuredDatasetMetadata, Union, VariableMap,
    Void, literal, literal_type, primitive, scalar,
};

/// Converts the JSON object of outputs a guest returned into a `LiteralMap`.
///
/// With `declared` (the task's `interface.outputs`), every returned output
/// must be declared, every declared output must be returned (an omitted
/// `Optional` output becomes `None`), and each value is converted by its
/// declared type. Without it, types are inferred: integers, floats, strings,
/// booleans, `null` as none, arrays as collections and objects as msgpack
/// dicts (what flytekit produces for `dict`).
pub fn json_to_literal_map(
    values: &Map<String, Value>,
    declared: Option<&VariableMap>,
) -> Result<LiteralMap, LiteralError> {
    let mut literals = BTreeMap::new();
    let Some(declared) = declared else {
        for (name, v) in values {
            literals.insert(name.clone(), infer(v, &Path::root("output", name))?);
        }
        return Ok(LiteralMap { literals });
    };

    if let Some(unknown) = values
        .keys()
        .find(|name| !declared.variables.contains_key(*name))
    {
        // In name order: protobuf maps are `BTreeMap`s.
        let listed = if declared.variables.is_empty() {
            "none".to_string()
        } else {
            declared
                .variables
                .keys()
                .map(|n| quote(n))
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Err(LiteralError::UnknownOutput {
            name: super::truncate(unknown, super::MAX_SHOWN).to_string(),
            declared: listed,
        });
    }

    for (name, variable) in &declared.variables {
        let path = Path::root("output", name);
        let Some(t) = variable.r#type.as_ref() else {
            return Err(path.invalid(
                "the task declares this output without a type; re-register the task with a typed interface",
            ));
        };
        let lit = match values.get(name) {
            Some(v) => to_literal(v, t, &path)?,
            None => missing_as_none(t).ok_or_else(|| LiteralError::MissingOutput {
                name: name.clone(),
                expected: expected(t),
            })?,
        };
        literals.insert(name.clone(), lit);
    }
    Ok(LiteralMap { literals })
}

/// Whether integers and floats must match exactly (JSON `3` only as an
/// integer, `3.0` only as a float). Used for a first pass over union variants
/// so that `Union[float, int]` picks `int` for `3`, as Python would.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Numbers {
    Exact,
    Lenient,
}

fn to_literal(v: &Value, t: &LiteralType, path: &Path<'_>) -> Result<Literal, LiteralError> {
    convert(v, t, path, Numbers::Lenient)
}

/// Converts `v` by its declared type `t`.
///
/// Union variants are tried in turn, but types are trees (no sharing), so
/// the work is bounded by (size of `t`) × (size of `v`), times two for the
/// exact-number pass at the leaves: no exponential blow-up.
fn convert(
    v: &Value,
    t: &LiteralType,
    path: &Path<'_>,
    numbers: Numbers,
) -> Result<Literal, LiteralError> {
    use literal_type::Type;
    path.check_depth()?;
    match &t.r#type {
        None => Err(path.invalid(
            "the declared type is empty (no LiteralType set); re-register the task with a typed interface",
        )),
        Some(Type::Simple(s)) => simple(v, *s, t, path, numbers),
        Some(Type::Schema(st)) => Ok(scalar_lit(scalar::Value::Schema(Schema {
            uri: uri_of(v, t, path)?,
            r#type: Some(st.clone()),
        }))),
        Some(Type::CollectionType(inner)) => {
            let Value::Array(items) = v else {
                return Err(path.mismatch(expected(t), v));
            };
            let literals = items
                .iter()
                .enumerate()
                .map(|(i, item)| convert(item, inner, &path.index(i), numbers))
                .collect::<Result<_, _>>()?;
            Ok(Literal {
                value: Some(literal::Value::Collection(LiteralCollection { literals })),
                ..Default::default()
            })
        }
        Some(Type::MapValueType(inner)) => {
            let Value::Object(map) = v else {
                return Err(path.mismatch(expected(t), v));
            };
            let mut literals = BTreeMap::new();
            for (k, item) in map {
                literals.insert(
                    k.clone(),
                    convert(item, inner, &path.key(k), numbers)?,
                );
            }
            Ok(Literal {
                value: Some(literal::Value::Map(LiteralMap { literals })),
                ..Default::default()
            })
        }
        Some(Type::Blob(bt)) => Ok(scalar_lit(scalar::Value::Blob(Blob {
            metadata: Some(BlobMetadata {
                r#type: Some(bt.clone()),
            }),
            uri: uri_of(v, t, path)?,
        }))),
        Some(Type::EnumType(et)) => {
            let Value::String(s) = v else {
                return Err(path.mismatch(expected(t), v));
            };
            if !et.values.iter().any(|allowed| allowed == s) {
                return Err(path.mismatch(expected(t), v));
            }
            Ok(prim(primitive::Value::StringValue(s.clone())))
        }
        Some(Type::StructuredDatasetType(sdt)) => {
            let uri = uri_of(v, t, path)?;
            let mut sd_type = sdt.clone();
            if let Value::Object(m) = v {
                match m.get("format") {
                    None | Some(Value::Null) => {}
                    Some(Value::String(f)) if f.is_empty() => {}
                    Some(Value::String(f)) => sd_type.format = f.clone(),
                    Some(other) => {
                        return Err(path
                            .key("format")
                            .mismatch("string (e.g. \"parquet\")", other));
                    }
                }
            }
            Ok(scalar_lit(scalar::Value::StructuredDataset(
                StructuredDataset {
                    uri,
                    metadata: Some(StructuredDatasetMetadata {
                        structured_dataset_type: Some(sd_type),
                    }),
                },
            )))
        }
        Some(Type::UnionType(ut)) => {
            if v.is_null() {
                return match ut.variants.iter().find(|x| is_none_type(x)) {
                    Some(none_variant) => Ok(union_lit(none_lit(), none_variant)),
                    None => Err(path.mismatch(expected(t), v)),
                };
            }
            // For a number, first look for a variant it matches exactly.
            let passes: &[Numbers] = if v.is_number() && numbers == Numbers::Lenient {
                &[Numbers::Exact, Numbers::Lenient]
            } else {
                &[numbers]
            };
            let mut failures = Vec::new();
            for pass in passes {
                failures.clear();
                for variant in ut.variants.iter().filter(|x| !is_none_type(x)) {
                    match convert(v, variant, &path.inner(), *pass) {
                        Ok(lit) => return Ok(union_lit(lit, variant)),
                        Err(e @ LiteralError::TooDeep { .. }) => return Err(e),
                        Err(e) => failures.push(e),
                    }
                }
            }
            // With a single candidate (e.g. `Optional[List[int]]`) its own
            // error is the most precise one.
            if failures.len() == 1 {
                return Err(failures.remove(0));
            }
            Err(path.mismatch(expected(t), v))
        }
    }
}

fn simple(
    v: &Value,
    s: i32,
    t: &LiteralType,
    path: &Path<'_>,
    numbers: Numbers,
) -> Result<Literal, LiteralError> {
    let Ok(simple) = SimpleType::try_from(s) else {
        return Err(path.unsupported(format!(
            "the declared simple type {s} is unknown to Hangar (flyteidl 1.16)"
        )));
    };
    let mismatch = || path.mismatch(expected(t), v);
    Ok(match simple {
        SimpleType::None => match v {
            Value::Null => none_lit(),
            _ => return Err(mismatch()),
        },
        SimpleType::Integer => {
            let Value::Number(n) = v else {
                return Err(mismatch());
            };
            if let Some(i) = n.as_i64() {
                prim(primitive::Value::Integer(i))
            } else if n.is_u64() {
                return Err(path.invalid(format!(
                    "integer {n} does not fit in a 64-bit signed integer (Flyte's integer)"
                )));
            } else if numbers == Numbers::Exact {
                return Err(mismatch());
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                if f.fract() != 0.0 {
                    return Err(mismatch());
                }
                // [-2^63, 2^63): the whole f64 values that fit an i64.
                let bound = -(i64::MIN as f64);
                if !(-bound..bound).contains(&f) {
                    return Err(path.invalid(format!(
                        "integer {n} does not fit in a 64-bit signed integer (Flyte's integer)"
                    )));
                }
                prim(primitive::Value::Integer(f as i64))
            }
        }
        SimpleType::Float => match v {
            Value::Number(n) if numbers == Numbers::Lenient || n.is_f64() => {
                prim(primitive::Value::FloatValue(n.as_f64().unwrap_or_default()))
            }
            _ => return Err(mismatch()),
        },
        SimpleType::String => match v {
            Value::String(s) => prim(primitive::Value::StringValue(s.clone())),
            _ => return Err(mismatch()),
        },
        SimpleType::Boolean => match v {
            Value::Bool(b) => prim(primitive::Value::Boolean(*b)),
            _ => return Err(mismatch()),
        },
        SimpleType::Datetime => match v {
            Value::String(s) => {
                let ts = parse_timestamp(s).map_err(|e| {
                    path.invalid(format!(
                        "{} is {e}; write a datetime like \"2024-01-02T03:04:05Z\" \
                         or \"2024-01-02T05:04:05.5+02:00\"",
                        quote(s)
                    ))
                })?;
                prim(primitive::Value::Datetime(ts))
            }
            _ => return Err(mismatch()),
        },
        SimpleType::Duration => {
            let d = match v {
                Value::String(s) => {
                    parse_duration(s).map_err(|e| path.invalid(format!("{} is {e}", quote(s))))?
                }
                Value::Number(n) => match n.as_i64() {
                    Some(i) => duration_from_whole_seconds(i),
                    None => duration_from_seconds(n.as_f64().unwrap_or(f64::NAN)),
                }
                .map_err(|e| path.invalid(e))?,
                _ => return Err(mismatch()),
            };
            prim(primitive::Value::Duration(d))
        }
        SimpleType::Binary => {
            let (encoded, tag) = match v {
                Value::String(s) => (s, String::new()),
                Value::Object(m) => {
                    let Some(Value::String(encoded)) = m.get("binary") else {
                        return Err(mismatch());
                    };
                    let tag = match m.get("tag") {
                        None | Some(Value::Null) => String::new(),
                        Some(Value::String(tag)) => tag.clone(),
                        Some(other) => return Err(path.key("tag").mismatch("string", other)),
                    };
                    (encoded, tag)
                }
                _ => return Err(mismatch()),
            };
            let value = BASE64.decode(encoded).map_err(|e| {
                path.invalid(format!(
                    "binary value is not valid standard base64 ({e}); encode the bytes with padding, alphabet A-Z a-z 0-9 + /"
                ))
            })?;
            scalar_lit(scalar::Value::Binary(Binary { value, tag }))
        }
        SimpleType::Struct => match v {
            Value::Object(_) => msgpack_lit(v, path)?,
            _ => return Err(mismatch()),
        },
        SimpleType::Error => {
            return Err(path.unsupported(
                "the declared type is error, which an agent cannot produce; \
                 report a failure with an agent error instead",
            ));
        }
    })
}

/// The URI of a blob, dataset or schema: a string or `{"uri": "..."}`.
fn uri_of(v: &Value, t: &LiteralType, path: &Path<'_>) -> Result<String, LiteralError> {
    let uri = match v {
        Value::String(s) => s,
        Value::Object(m) => match m.get("uri") {
            Some(Value::String(s)) => s,
            Some(other) => return Err(path.key("uri").mismatch("a URI string", other)),
            None => return Err(path.mismatch(expected(t), v)),
        },
        _ => return Err(path.mismatch(expected(t), v)),
    };
    if uri.is_empty() {
        return Err(path.invalid(format!(
            "the URI is empty; {} needs the location of the data, e.g. \"s3://bucket/key\"",
            type_name(t)
        )));
    }
    Ok(uri.clone())
}

/// What an omitted output becomes: `None` for `Optional` outputs.
fn missing_as_none(t: &LiteralType) -> Option<Literal> {
    if is_none_type(t) {
        return Some(none_lit());
    }
    match &t.r#type {
        Some(literal_type::Type::UnionType(ut)) => ut
            .variants
            .iter()
            .find(|x| is_none_type(x))
            .map(|none_variant| union_lit(none_lit(), none_variant)),
        _ => None,
    }
}

fn is_none_type(t: &LiteralType) -> bool {
    matches!(t.r#type, Some(literal_type::Type::Simple(s)) if s == SimpleType::None as i32)
}

/// A type-inferred literal, for tasks that declare no outputs interface.
fn infer(v: &Value, path: &Path<'_>) -> Result<Literal, LiteralError> {
    path.check_depth()?;
    Ok(match v {
        Value::Null => none_lit(),
        Value::Bool(b) => prim(primitive::Value::Boolean(*b)),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                prim(primitive::Value::Integer(i))
            } else if n.is_u64() {
                return Err(path.invalid(format!(
                    "integer {n} does not fit in a 64-bit signed integer (Flyte's integer)"
                )));
            } else {
                prim(primitive::Value::FloatValue(n.as_f64().unwrap_or_default()))
            }
        }
        Value::String(s) => prim(primitive::Value::StringValue(s.clone())),
        Value::Array(items) => Literal {
            value: Some(literal::Value::Collection(LiteralCollection {
                literals: items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| infer(item, &path.index(i)))
                    .collect::<Result<_, _>>()?,
            })),
            ..Default::default()
        },
        Value::Object(_) => msgpack_lit(v, path)?,
    })
}

/// A dict or dataclass the way flytekit 1.16 encodes it.
fn msgpack_lit(v: &Value, path: &Path<'_>) -> Result<Literal, LiteralError> {
    Ok(scalar_lit(scalar::Value::Binary(Binary {
        value: json_to_msgpack(v, path)?,
        tag: MSGPACK_TAG.to_string(),
    })))
}

fn scalar_lit(v: scalar::Value) -> Literal {
    Literal {
        value: Some(literal::Value::Scalar(Box::new(Scalar { value: Some(v) }))),
        ..Default::default()
    }
}

fn prim(v: primitive::Value) -> Literal {
    scalar_lit(scalar::Value::Primitive(Primitive { value: Some(v) }))
}

fn none_lit() -> Literal {
    scalar_lit(scalar::Value::NoneType(Void {}))
}

/// A union literal whose `type` is the chosen variant, verbatim: flytekit
/// matches it against the declared variants by `structure.tag`.
fn union_lit(value: Literal, variant: &LiteralType) -> Literal {
    scalar_lit(scalar::Value::Union(Box::new(Union {
        value: Some(Box::new(value)),
        r#type: Some(variant.clone()),
    })))
}
