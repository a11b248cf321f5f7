//! Which Flyte literal kind each input is, read from the protobuf
//! `LiteralMap` the host passes along (`task.inputs_raw`).
//!
//! Why: the JSON inputs give a datetime and a string the same form, and a
//! dict and a blob both look like objects; flytekit's templating writes them
//! differently (a datetime as `isoformat()`, a blob as its URI, a msgpack
//! dict as `json.dumps` text). Walking the protobuf for the few field numbers
//! that tell them apart is enough; no protobuf library needed.

use std::collections::BTreeMap;

/// What flytekit's `literal_string_repr` does with a literal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shape {
    /// Primitives (but datetimes and durations), None, generic structs:
    /// the JSON value is already flytekit's.
    Plain,
    /// A datetime: written as Python's `isoformat()`.
    Datetime,
    /// A duration: its total seconds as a float.
    Duration,
    /// A blob, schema or structured dataset: its URI.
    Uri,
    /// A msgpack binary (dicts, dataclasses): `json.dumps` of the value.
    MsgpackText,
    Collection(Vec<Shape>),
    Map(BTreeMap<String, Shape>),
}

/// Shapes of the literals of a protobuf `LiteralMap`, by input name; empty
/// when the bytes cannot be read (then every input is treated as plain).
pub fn literal_map_shapes(bytes: &[u8]) -> BTreeMap<String, Shape> {
    map_entries(bytes).unwrap_or_default()
}

/// A field's payload: only length-delimited ones matter here.
enum Payload<'a> {
    Bytes(&'a [u8]),
    Other,
}

fn varint(bytes: &[u8], pos: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *bytes.get(*pos)?;
        *pos += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// The fields of one message, or `None` if the bytes are malformed.
fn fields(bytes: &[u8]) -> Option<Vec<(u64, Payload<'_>)>> {
    let mut pos = 0;
    let mut out = Vec::new();
    while pos < bytes.len() {
        let key = varint(bytes, &mut pos)?;
        let payload = match key & 7 {
            0 => {
                varint(bytes, &mut pos)?;
                Payload::Other
            }
            1 => {
                pos = pos.checked_add(8).filter(|p| *p <= bytes.len())?;
                Payload::Other
            }
            2 => {
                let len = usize::try_from(varint(bytes, &mut pos)?).ok()?;
                let end = pos.checked_add(len).filter(|e| *e <= bytes.len())?;
                let slice = &bytes[pos..end];
                pos = end;
                Payload::Bytes(slice)
            }
            5 => {
                pos = pos.checked_add(4).filter(|p| *p <= bytes.len())?;
                Payload::Other
            }
            _ => return None,
        };
        out.push((key >> 3, payload));
    }
    Some(out)
}

fn sub(bytes: &[u8], field: u64) -> Option<&[u8]> {
    fields(bytes)?.into_iter().find_map(|(n, p)| match p {
        Payload::Bytes(b) if n == field => Some(b),
        _ => None,
    })
}

/// `LiteralMap { map<string, Literal> literals = 1 }`.
fn map_entries(bytes: &[u8]) -> Option<BTreeMap<String, Shape>> {
    let mut out = BTreeMap::new();
    for (n, p) in fields(bytes)? {
        let (1, Payload::Bytes(entry)) = (n, p) else {
            continue;
        };
        let key = String::from_utf8(sub(entry, 1).unwrap_or_default().to_vec()).ok()?;
        let value = sub(entry, 2).unwrap_or_default();
        out.insert(key, literal(value));
    }
    Some(out)
}

/// `Literal { Scalar scalar = 1; LiteralCollection collection = 2; LiteralMap map = 3; }`.
fn literal(bytes: &[u8]) -> Shape {
    let Some(fields) = fields(bytes) else {
        return Shape::Plain;
    };
    for (n, p) in fields {
        let Payload::Bytes(b) = p else { continue };
        match n {
            1 => return scalar(b),
            2 => {
                let items = self::fields(b).unwrap_or_default();
                return Shape::Collection(
                    items
                        .into_iter()
                        .filter_map(|(n, p)| match p {
                            Payload::Bytes(item) if n == 1 => Some(literal(item)),
                            _ => None,
                        })
                        .collect(),
                );
            }
            3 => return Shape::Map(map_entries(b).unwrap_or_default()),
            _ => {}
        }
    }
    Shape::Plain
}

/// `Scalar { primitive = 1; blob = 2; binary = 3; schema = 4; none_type = 5;
/// error = 6; generic = 7; structured_dataset = 8; union = 9; }`.
fn scalar(bytes: &[u8]) -> Shape {
    let Some(fields) = fields(bytes) else {
        return Shape::Plain;
    };
    for (n, p) in fields {
        let Payload::Bytes(b) = p else { continue };
        match n {
            // Primitive { ...; Timestamp datetime = 5; Duration duration = 6; }
            1 => {
                let kinds = self::fields(b).unwrap_or_default();
                return match kinds.first().map(|(n, _)| *n) {
                    Some(5) => Shape::Datetime,
                    Some(6) => Shape::Duration,
                    _ => Shape::Plain,
                };
            }
            2 | 4 | 8 => return Shape::Uri,
            // Binary { bytes value = 1; string tag = 2; }
            3 if sub(b, 2) == Some(b"msgpack".as_slice()) => return Shape::MsgpackText,
            // Union { Literal value = 1; LiteralType type = 2; }
            9 => return sub(b, 1).map(literal).unwrap_or(Shape::Plain),
            _ => {}
        }
    }
    Shape::Plain
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Protobuf encoding helpers for the tests.
    pub(crate) fn field(n: u64, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![(n << 3 | 2) as u8, payload.len() as u8];
        out.extend_from_slice(payload);
        out
    }

    pub(crate) fn entry(name: &str, literal: &[u8]) -> Vec<u8> {
        field(1, &[field(1, name.as_bytes()), field(2, literal)].concat())
    }

    pub(crate) fn scalar_literal(scalar: &[u8]) -> Vec<u8> {
        field(1, scalar)
    }

    #[test]
    fn tells_the_kinds_apart() {
        let datetime = scalar_literal(&field(1, &field(5, &[8, 1])));
        let string = scalar_literal(&field(1, &field(3, b"x")));
        let blob = scalar_literal(&field(2, &field(3, b"s3://b/k")));
        let msgpack = scalar_literal(&field(
            3,
            &[field(1, &[0x80]), field(2, b"msgpack")].concat(),
        ));
        let list = field(2, &field(1, &datetime));
        let bytes = [
            entry("t", &datetime),
            entry("s", &string),
            entry("f", &blob),
            entry("d", &msgpack),
            entry("l", &list),
        ]
        .concat();
        let shapes = literal_map_shapes(&bytes);
        assert_eq!(shapes["t"], Shape::Datetime);
        assert_eq!(shapes["s"], Shape::Plain);
        assert_eq!(shapes["f"], Shape::Uri);
        assert_eq!(shapes["d"], Shape::MsgpackText);
        assert_eq!(shapes["l"], Shape::Collection(vec![Shape::Datetime]));
    }

    #[test]
    fn garbage_is_empty_not_a_panic() {
        assert!(literal_map_shapes(&[0x0a, 0xff]).is_empty());
        assert!(literal_map_shapes(&[]).is_empty());
    }
}
