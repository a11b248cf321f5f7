//! Flyte literals ↔ plain JSON, the value forms guests see.
//!
//! # Why this module exists
//!
//! Flyte passes task inputs and outputs as `flyteidl.core.Literal`s: nested
//! protobuf messages (scalars, collections, maps, unions, msgpack-encoded
//! dicts, blobs...). Asking every guest, in every language, to carry a
//! protobuf library and re-implement flytekit's type engine would make small
//! agents big and every one of them subtly different. So the host converts:
//!
//! * **Inputs** ([`literal_map_to_json`]): the `LiteralMap` propeller sends
//!   becomes one JSON object of native values (the forms `task.inputs`
//!   documents in `wit/agent.wit`), so a guest reads `inputs["n"]` as a
//!   number, whatever its language.
//! * **Outputs** ([`json_to_literal_map`]): a guest returns plain JSON and the
//!   host types it with the output types the task *declares*
//!   (`TaskTemplate.interface.outputs`), producing exactly the literals
//!   flytekit 1.16's `TypeEngine` would produce for the same Python values. A
//!   downstream flytekit task therefore decodes them to the same Python values
//!   a flytekit agent would have returned: a `dict` comes back as a `dict` with
//!   its ints still ints, an `Optional[int]` as the right union variant, a
//!   `FlyteFile["csv"]` with its format.
//!
//! # Forms
//!
//! | Flyte literal (declared type)            | JSON                                             |
//! |------------------------------------------|--------------------------------------------------|
//! | integer (`int`)                          | integer                                          |
//! | float (`float`)                          | number (NaN and ±inf are rejected)               |
//! | string (`str`), enum value (`Enum`)      | string                                           |
//! | boolean (`bool`)                         | `true` / `false`                                 |
//! | datetime (`datetime`)                    | RFC 3339 string in UTC: `"2024-01-02T03:04:05.123456Z"` |
//! | duration (`timedelta`)                   | `"1.500s"`, `"3600s"`, `"-2s"` (protobuf JSON)    |
//! | none (`None`)                            | `null`                                           |
//! | collection (`List[T]`)                   | array                                            |
//! | map (`Dict[str, T]`)                     | object                                           |
//! | msgpack binary (`dict`, dataclass)       | object (the msgpack document as JSON)            |
//! | generic `Struct` (older flytekit `dict`) | object                                           |
//! | other binary                             | `{"binary": "<base64>", "tag": "..."}`            |
//! | blob (`FlyteFile`, `FlyteDirectory`)     | `{"uri", "format", "dimensionality": "single" \| "multipart"}` |
//! | structured dataset                       | `{"uri", "format"}`                              |
//! | schema                                   | `{"uri"}`                                        |
//! | union (`Optional[T]`, `Union[..]`)       | the value of the variant that is set             |
//!
//! On the way back the host is lenient where flytekit is: an integer output
//! accepts `3.0`, a float output accepts `3`, a duration accepts a bare number
//! of seconds, a datetime without an offset is read as UTC (flytekit treats
//! naive datetimes as UTC), blobs and datasets accept a bare URI string, and a
//! missing `Optional` output becomes `None`. Everything else fails with an
//! error that names the variable path (`output "info".items[3]`), the
//! expected type and what was received.
//!
//! Offloaded literals and upstream error literals are refused. Nesting deeper
//! than [`MAX_DEPTH`] levels is refused in both directions, so a hostile
//! payload cannot exhaust the host's stack.

mod from_json;
mod msgpack;
mod time;
mod to_json;

#[cfg(test)]
mod tests;

use std::fmt;

use serde_json::Value;

use crate::proto::flyteidl::core::{LiteralType, SimpleType, blob_type, literal_type};

pub use from_json::json_to_literal_map;
pub use to_json::literal_map_to_json;

/// How deeply values may nest (lists in maps in unions...) before conversion
/// gives up. Real Flyte types nest a few levels; this only stops abuse.
pub const MAX_DEPTH: usize = 64;

/// Longest rendering of a received value or a key inside an error message.
const MAX_SHOWN: usize = 80;

/// Why a literal could not become JSON, or JSON could not become a literal.
///
/// Every message names the variable path and says what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LiteralError {
    /// The value does not have the declared type.
    #[error("{path}: expected {expected}, got {got}")]
    Mismatch {
        /// Where, e.g. `output "info".items[3]`.
        path: String,
        /// The declared type and how to write it in JSON.
        expected: String,
        /// What was received (truncated).
        got: String,
    },
    /// The value has the right shape but cannot be represented.
    #[error("{path}: {reason}")]
    Invalid { path: String, reason: String },
    /// The guest returned an output the task does not declare.
    #[error(
        "output {name:?} is not declared by the task (declared outputs: {declared}); \
         return only the declared outputs, names are case-sensitive"
    )]
    UnknownOutput { name: String, declared: String },
    /// The guest did not return a declared output.
    #[error(
        "output {name:?} is declared by the task as {expected} but the agent did not return it; \
         add it to the returned JSON object (only Optional outputs may be left out)"
    )]
    MissingOutput { name: String, expected: String },
    /// Flyte features Hangar does not convert (yet).
    #[error("{path}: {what}")]
    Unsupported { path: String, what: String },
    /// Nesting beyond [`MAX_DEPTH`].
    #[error("{path}: nested more than {limit} levels deep; flatten the value or pass it as a file")]
    TooDeep { path: String, limit: usize },
}

/// One step of a variable path.
#[derive(Clone, Copy)]
enum Seg<'a> {
    /// `input "x"` or `output "x"`.
    Root { kind: &'static str, name: &'a str },
    /// `[3]`
    Index(usize),
    /// `.key` or `["odd key"]`
    Key(&'a str),
    /// Same place, one level deeper (inside a union).
    Inner,
}

/// Where a value sits, built on the stack as conversion recurses and only
/// rendered when an error is reported.
#[derive(Clone, Copy)]
struct Path<'a> {
    seg: Seg<'a>,
    parent: Option<&'a Path<'a>>,
    depth: usize,
}

impl<'a> Path<'a> {
    fn root(kind: &'static str, name: &'a str) -> Self {
        Path {
            seg: Seg::Root { kind, name },
            parent: None,
            depth: 0,
        }
    }

    fn child(&'a self, seg: Seg<'a>) -> Path<'a> {
        Path {
            seg,
            parent: Some(self),
            depth: self.depth + 1,
        }
    }

    fn index(&'a self, i: usize) -> Path<'a> {
        self.child(Seg::Index(i))
    }

    fn key(&'a self, k: &'a str) -> Path<'a> {
        self.child(Seg::Key(k))
    }

    fn inner(&'a self) -> Path<'a> {
        self.child(Seg::Inner)
    }

    /// Fails once the value nests deeper than [`MAX_DEPTH`].
    fn check_depth(&self) -> Result<(), LiteralError> {
        if self.depth > MAX_DEPTH {
            Err(LiteralError::TooDeep {
                path: self.to_string(),
                limit: MAX_DEPTH,
            })
        } else {
            Ok(())
        }
    }

    fn mismatch(&self, expected: impl Into<String>, got: &Value) -> LiteralError {
        LiteralError::Mismatch {
            path: self.to_string(),
            expected: expected.into(),
            got: describe_json(got),
        }
    }

    fn invalid(&self, reason: impl Into<String>) -> LiteralError {
        LiteralError::Invalid {
            path: self.to_string(),
            reason: reason.into(),
        }
    }

    fn unsupported(&self, what: impl Into<String>) -> LiteralError {
        LiteralError::Unsupported {
            path: self.to_string(),
            what: what.into(),
        }
    }
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(parent) = self.parent {
            parent.fmt(f)?;
        }
        match self.seg {
            Seg::Root { kind, name } => write!(f, "{kind} {}", quote(name)),
            Seg::Index(i) => write!(f, "[{i}]"),
            Seg::Key(k) if is_identifier(k) && k.len() <= MAX_SHOWN => write!(f, ".{k}"),
            Seg::Key(k) => write!(f, "[{}]", quote(k)),
            Seg::Inner => Ok(()),
        }
    }
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A JSON-quoted string, truncated to [`MAX_SHOWN`] characters.
fn quote(s: &str) -> String {
    let shown = truncate(s, MAX_SHOWN);
    let mut out = serde_json::to_string(shown).unwrap_or_else(|_| format!("{shown:?}"));
    if shown.len() < s.len() {
        out.push_str("...");
    }
    out
}

/// The longest prefix of `s` of at most `max` characters.
fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((end, _)) => &s[..end],
        None => s,
    }
}

/// A short description of a received JSON value: its kind and its start.
fn describe_json(v: &Value) -> String {
    let kind = match v {
        Value::Null => return "null".to_string(),
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    format!("{kind} {}", json_prefix(v))
}

/// Compact JSON of `v`, cut after [`MAX_SHOWN`] characters without
/// serializing the rest of a possibly huge value.
fn json_prefix(v: &Value) -> String {
    struct Capped {
        buf: Vec<u8>,
        full: bool,
    }
    impl std::io::Write for Capped {
        fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
            // Keep a few bytes beyond the cap so UTF-8 sequences stay whole.
            let room = (MAX_SHOWN * 4 + 4).saturating_sub(self.buf.len());
            if data.len() > room {
                self.buf.extend_from_slice(&data[..room]);
                self.full = true;
                return Err(std::io::Error::other("enough"));
            }
            self.buf.extend_from_slice(data);
            Ok(data.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut w = Capped {
        buf: Vec::new(),
        full: false,
    };
    let _ = serde_json::to_writer(&mut w, v);
    let text = String::from_utf8_lossy(&w.buf);
    let shown = truncate(&text, MAX_SHOWN);
    if w.full || shown.len() < text.len() {
        format!("{shown}...")
    } else {
        shown.to_string()
    }
}

/// A readable name of a Flyte type, e.g. `list[integer]` or
/// `union[integer, none]`.
fn type_name(t: &LiteralType) -> String {
    let mut out = String::new();
    write_type_name(t, 0, &mut out);
    out
}

fn write_type_name(t: &LiteralType, depth: usize, out: &mut String) {
    use literal_type::Type;
    if depth > 6 || out.len() > 2 * MAX_SHOWN {
        out.push_str("...");
        return;
    }
    match &t.r#type {
        None => out.push_str("(no type)"),
        Some(Type::Simple(s)) => match SimpleType::try_from(*s) {
            Ok(SimpleType::Struct) => match dataclass_title(t) {
                Some(title) => {
                    out.push_str("dataclass ");
                    out.push_str(truncate(title, MAX_SHOWN));
                }
                None => out.push_str("struct (dict)"),
            },
            Ok(s) => out.push_str(simple_name(s)),
            Err(_) => out.push_str(&format!("simple type {s}")),
        },
        Some(Type::Schema(_)) => out.push_str("schema"),
        Some(Type::CollectionType(inner)) => {
            out.push_str("list[");
            write_type_name(inner, depth + 1, out);
            out.push(']');
        }
        Some(Type::MapValueType(inner)) => {
            out.push_str("map[string, ");
            write_type_name(inner, depth + 1, out);
            out.push(']');
        }
        Some(Type::Blob(b)) => {
            out.push_str(
                if b.dimensionality == blob_type::BlobDimensionality::Multipart as i32 {
                    "directory (multipart blob)"
                } else {
                    "file (single blob)"
                },
            );
            if !b.format.is_empty() {
                out.push_str(&format!(" of format {}", quote(&b.format)));
            }
        }
        Some(Type::EnumType(e)) => {
            out.push_str("enum[");
            for (i, v) in e.values.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                if out.len() > 2 * MAX_SHOWN {
                    out.push_str("...");
                    break;
                }
                out.push_str(&quote(v));
            }
            out.push(']');
        }
        Some(Type::StructuredDatasetType(sd)) => {
            out.push_str("structured dataset");
            if !sd.format.is_empty() {
                out.push_str(&format!(" of format {}", quote(&sd.format)));
            }
        }
        Some(Type::UnionType(u)) => {
            out.push_str("union[");
            for (i, v) in u.variants.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_type_name(v, depth + 1, out);
            }
            out.push(']');
        }
    }
}

fn simple_name(s: SimpleType) -> &'static str {
    match s {
        SimpleType::None => "none",
        SimpleType::Integer => "integer",
        SimpleType::Float => "float",
        SimpleType::String => "string",
        SimpleType::Boolean => "boolean",
        SimpleType::Datetime => "datetime",
        SimpleType::Duration => "duration",
        SimpleType::Binary => "binary",
        SimpleType::Error => "error",
        SimpleType::Struct => "struct (dict)",
    }
}

/// flytekit puts a dataclass's JSON schema in `LiteralType.metadata`,
/// including its `title` (the class name).
fn dataclass_title(t: &LiteralType) -> Option<&str> {
    let title = t.metadata.as_ref()?.fields.get("title")?;
    match &title.kind {
        Some(prost_types::value::Kind::StringValue(s)) => Some(s),
        _ => None,
    }
}

/// The declared type's name plus how to write a value of it in JSON.
fn expected(t: &LiteralType) -> String {
    use literal_type::Type;
    let how = match &t.r#type {
        Some(Type::Simple(s)) => match SimpleType::try_from(*s) {
            Ok(SimpleType::Integer) => "a JSON integer such as 42",
            Ok(SimpleType::Float) => "a JSON number such as 1.5",
            Ok(SimpleType::String) => "a JSON string",
            Ok(SimpleType::Boolean) => "true or false",
            Ok(SimpleType::Datetime) => "an RFC 3339 string such as \"2024-01-02T03:04:05Z\"",
            Ok(SimpleType::Duration) => "a string such as \"1.5s\" or a number of seconds",
            Ok(SimpleType::None) => "null",
            Ok(SimpleType::Binary) => {
                "a base64 string or {\"binary\": \"<base64>\", \"tag\": \"...\"}"
            }
            Ok(SimpleType::Struct) => "a JSON object",
            Ok(SimpleType::Error) | Err(_) => "",
        },
        Some(Type::CollectionType(_)) => "a JSON array",
        Some(Type::MapValueType(_)) => "a JSON object",
        Some(Type::Blob(_)) => "a URI string or {\"uri\": \"s3://...\"}",
        Some(Type::StructuredDatasetType(_)) => {
            "a URI string or {\"uri\": \"s3://...\", \"format\": \"parquet\"}"
        }
        Some(Type::Schema(_)) => "a URI string or {\"uri\": \"s3://...\"}",
        Some(Type::EnumType(_)) => "one of these strings",
        Some(Type::UnionType(_)) => "a value of one of these types",
        None => "",
    };
    if how.is_empty() {
        type_name(t)
    } else {
        format!("{} ({how})", type_name(t))
    }
}
