//! Finds the task's declared outputs inside the template's wire encoding,
//! without decoding or encoding anything.
//!
//! Every CreateTask puts the declared outputs (`TaskTemplate.interface.outputs`)
//! into the `resource_meta` envelope, and `build_task` has already encoded
//! the whole template for the guest (`task.template.raw`). The outputs'
//! bytes sit inside that encoding as they are, so the envelope borrows them
//! instead of cloning the `VariableMap` and encoding it a second time (a
//! profile put that at about 3% of a reused Rust echo's CreateTask).

use prost::encoding::{WireType, decode_varint};

/// `TaskTemplate.interface`.
const TEMPLATE_INTERFACE: u64 = 4;
/// `TypedInterface.outputs`.
const INTERFACE_OUTPUTS: u64 = 2;

/// The wire bytes of `interface.outputs` in an encoded `TaskTemplate`:
/// `Ok(None)` when the template declares no outputs. These are exactly the
/// bytes `VariableMap::encode_to_vec` gives for the same outputs.
///
/// An error means the bytes are not a single, well-formed encoding of each
/// field on the way (which prost's own encoding always is); the caller then
/// encodes the outputs from the decoded template instead.
pub fn declared_outputs(template: &[u8]) -> Result<Option<&[u8]>, WireError> {
    match only_field(template, TEMPLATE_INTERFACE)? {
        Some(interface) => only_field(interface, INTERFACE_OUTPUTS),
        None => Ok(None),
    }
}

/// Why the template's bytes could not be read this way.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("the encoding ends inside a field")]
    Truncated,
    #[error("field {0} is not length-delimited")]
    NotLengthDelimited(u64),
    #[error("field {0} occurs more than once")]
    Repeated(u64),
    #[error("wire type {0} is not one this reader skips")]
    UnsupportedWireType(u64),
}

/// The payload of the length-delimited field `tag` of `message`, when it
/// occurs exactly once; every other field is skipped.
fn only_field(message: &[u8], tag: u64) -> Result<Option<&[u8]>, WireError> {
    let mut rest = message;
    let mut found = None;
    while !rest.is_empty() {
        let key = decode_varint(&mut rest).map_err(|_| WireError::Truncated)?;
        let (field, wire_type) = (key >> 3, key & 0x7);
        let length = match wire_type {
            w if w == WireType::Varint as u64 => {
                decode_varint(&mut rest).map_err(|_| WireError::Truncated)?;
                0
            }
            w if w == WireType::SixtyFourBit as u64 => 8,
            w if w == WireType::ThirtyTwoBit as u64 => 4,
            w if w == WireType::LengthDelimited as u64 => {
                let length = decode_varint(&mut rest).map_err(|_| WireError::Truncated)?;
                usize::try_from(length).map_err(|_| WireError::Truncated)?
            }
            other => return Err(WireError::UnsupportedWireType(other)),
        };
        if length > rest.len() {
            return Err(WireError::Truncated);
        }
        let (payload, after) = rest.split_at(length);
        if field == tag {
            if wire_type != WireType::LengthDelimited as u64 {
                return Err(WireError::NotLengthDelimited(tag));
            }
            if found.replace(payload).is_some() {
                return Err(WireError::Repeated(tag));
            }
        }
        rest = after;
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use prost::Message;

    use super::*;
    use crate::proto::flyteidl::core::{
        Identifier, LiteralType, SimpleType, Sql, TaskMetadata, TaskTemplate, TypedInterface,
        Variable, VariableMap, literal_type, task_template,
    };

    fn variables(names: &[&str]) -> VariableMap {
        VariableMap {
            variables: names
                .iter()
                .map(|name| {
                    let variable = Variable {
                        r#type: Some(LiteralType {
                            r#type: Some(literal_type::Type::Simple(SimpleType::Integer as i32)),
                            ..Default::default()
                        }),
                        description: format!("the {name}"),
                        ..Default::default()
                    };
                    (name.to_string(), variable)
                })
                .collect(),
        }
    }

    /// Fields before and after `interface`, of every wire type prost writes
    /// in a template, so that skipping them is exercised.
    fn template(interface: Option<TypedInterface>) -> TaskTemplate {
        TaskTemplate {
            id: Some(Identifier {
                project: "p".into(),
                name: "t".into(),
                ..Default::default()
            }),
            r#type: "echo".into(),
            metadata: Some(TaskMetadata {
                discoverable: true,
                ..Default::default()
            }),
            interface,
            task_type_version: 3,
            target: Some(task_template::Target::Sql(Sql {
                statement: "select 1".into(),
                ..Default::default()
            })),
            config: BTreeMap::from([("k".to_string(), "v".to_string())]),
            ..Default::default()
        }
    }

    /// Table: whatever the template declares, the bytes found are what
    /// encoding the outputs on their own gives.
    #[test]
    fn finds_exactly_the_outputs_encoding() {
        let cases: Vec<(&str, Option<TypedInterface>)> = vec![
            ("no interface", None),
            (
                "interface without outputs",
                Some(TypedInterface {
                    inputs: Some(variables(&["a"])),
                    outputs: None,
                }),
            ),
            (
                "empty outputs",
                Some(TypedInterface {
                    inputs: None,
                    outputs: Some(VariableMap::default()),
                }),
            ),
            (
                "one output",
                Some(TypedInterface {
                    inputs: None,
                    outputs: Some(variables(&["o"])),
                }),
            ),
            (
                "inputs and several outputs",
                Some(TypedInterface {
                    inputs: Some(variables(&["a", "b"])),
                    outputs: Some(variables(&["x", "y", "z"])),
                }),
            ),
        ];
        for (name, interface) in cases {
            let expected = interface
                .as_ref()
                .and_then(|i| i.outputs.as_ref())
                .map(Message::encode_to_vec);
            let raw = template(interface).encode_to_vec();
            assert_eq!(declared_outputs(&raw), Ok(expected.as_deref()), "{name}");
        }
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        let raw = template(Some(TypedInterface {
            inputs: None,
            outputs: Some(variables(&["o"])),
        }))
        .encode_to_vec();
        let cut = &raw[..raw.len() - 1];
        // The interface field twice: protobuf would merge them, this reader
        // does not try.
        let twice = [raw.clone(), raw.clone()].concat();
        let interface_as_varint = [(TEMPLATE_INTERFACE << 3) as u8, 1];
        let group = [(1 << 3 | 3) as u8];
        let cases: Vec<(&str, &[u8], WireError)> = vec![
            ("cut short", cut, WireError::Truncated),
            (
                "interface twice",
                &twice,
                WireError::Repeated(TEMPLATE_INTERFACE),
            ),
            (
                "interface not a message",
                &interface_as_varint,
                WireError::NotLengthDelimited(TEMPLATE_INTERFACE),
            ),
            ("a group", &group, WireError::UnsupportedWireType(3)),
        ];
        for (name, bytes, expected) in cases {
            assert_eq!(declared_outputs(bytes), Err(expected), "{name}");
        }
    }
}
