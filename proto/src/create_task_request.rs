//! `flyteidl.admin.CreateTaskRequest`, written by hand instead of generated,
//! so that decoding it also keeps the bytes of its template and its inputs
//! as the caller sent them.
//!
//! An agent receives the whole template and the inputs as protobuf bytes
//! (`task.template.raw`, `task.inputs-raw`). The generated message would
//! lose those bytes on decode, and the host would have to encode both again
//! on every CreateTask: in a profile of the Rust echo agent that re-encoding
//! (prost walks every map entry twice, comparing each with its default) was
//! a tenth of the host's CPU per call. Keeping the bytes costs one copy of
//! each, and an agent also sees fields this crate's proto subset does not
//! know, exactly as propeller sent them.
//!
//! Wire format and field numbers are the generated message's
//! (`proto/flyteidl/admin/agent.proto`); `tests/python/test_wire_compat.py`
//! checks them against the PyPI flyteidl package like every other message.

use prost::bytes::{Buf, BufMut};
use prost::encoding::{self, DecodeContext, WireType};
use prost::{DecodeError, Message};

use crate::flyteidl::admin::TaskExecutionMetadata;
use crate::flyteidl::core::{LiteralMap, TaskTemplate};

/// Starts an asynchronous agent job.
#[derive(Clone, PartialEq, Default, Debug)]
pub struct CreateTaskRequest {
    /// Field 1.
    pub inputs: Option<LiteralMap>,
    /// Field 2. Boxed, as is the metadata: unboxed, they made the request
    /// 2.2 KiB, which tonic moves several times per call.
    pub template: Option<Box<TaskTemplate>>,
    /// Field 3.
    pub output_prefix: String,
    /// Field 4.
    pub task_execution_metadata: Option<Box<TaskExecutionMetadata>>,
    /// The bytes `inputs` and `template` were decoded from. Empty for a
    /// request built in code; a decoder fills it. Whoever changes `inputs`
    /// or `template` after decoding must reset it
    /// (`Received::default()`), or its bytes no longer match them.
    pub received: Received,
}

/// The encoded bytes of a decoded request's `inputs` and `template`.
#[derive(Clone, PartialEq, Eq, Default, Debug)]
pub struct Received {
    inputs: Option<Vec<u8>>,
    template: Option<Vec<u8>>,
}

impl Received {
    /// The encoded `LiteralMap` that `inputs` was decoded from, if the
    /// field was on the wire.
    pub fn inputs(&self) -> Option<&[u8]> {
        self.inputs.as_deref()
    }

    /// The encoded `TaskTemplate` that `template` was decoded from, if the
    /// field was on the wire.
    pub fn template(&self) -> Option<&[u8]> {
        self.template.as_deref()
    }
}

const INPUTS: u32 = 1;
const TEMPLATE: u32 = 2;
const OUTPUT_PREFIX: u32 = 3;
const TASK_EXECUTION_METADATA: u32 = 4;

impl Message for CreateTaskRequest {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        if let Some(inputs) = &self.inputs {
            encoding::message::encode(INPUTS, inputs, buf);
        }
        if let Some(template) = &self.template {
            encoding::message::encode(TEMPLATE, template, buf);
        }
        if !self.output_prefix.is_empty() {
            encoding::string::encode(OUTPUT_PREFIX, &self.output_prefix, buf);
        }
        if let Some(metadata) = &self.task_execution_metadata {
            encoding::message::encode(TASK_EXECUTION_METADATA, metadata, buf);
        }
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        let in_field = |mut error: DecodeError, field: &'static str| {
            error.push("CreateTaskRequest", field);
            error
        };
        match tag {
            INPUTS => merge_keeping_bytes(
                wire_type,
                self.inputs.get_or_insert_with(Default::default),
                self.received.inputs.get_or_insert_with(Vec::new),
                buf,
                ctx,
            )
            .map_err(|e| in_field(e, "inputs")),
            TEMPLATE => merge_keeping_bytes(
                wire_type,
                &mut **self.template.get_or_insert_with(Default::default),
                self.received.template.get_or_insert_with(Vec::new),
                buf,
                ctx,
            )
            .map_err(|e| in_field(e, "template")),
            OUTPUT_PREFIX => encoding::string::merge(wire_type, &mut self.output_prefix, buf, ctx)
                .map_err(|e| in_field(e, "output_prefix")),
            TASK_EXECUTION_METADATA => encoding::message::merge(
                wire_type,
                &mut **self
                    .task_execution_metadata
                    .get_or_insert_with(Default::default),
                buf,
                ctx,
            )
            .map_err(|e| in_field(e, "task_execution_metadata")),
            _ => encoding::skip_field(wire_type, tag, buf, ctx),
        }
    }

    fn encoded_len(&self) -> usize {
        self.inputs
            .as_ref()
            .map_or(0, |m| encoding::message::encoded_len(INPUTS, m))
            + self
                .template
                .as_ref()
                .map_or(0, |m| encoding::message::encoded_len(TEMPLATE, m))
            + if self.output_prefix.is_empty() {
                0
            } else {
                encoding::string::encoded_len(OUTPUT_PREFIX, &self.output_prefix)
            }
            + self.task_execution_metadata.as_ref().map_or(0, |m| {
                encoding::message::encoded_len(TASK_EXECUTION_METADATA, m)
            })
    }

    fn clear(&mut self) {
        *self = Self::default();
    }
}

/// Merges one length-delimited occurrence of a message field into `message`
/// and appends its bytes to `received`. A field that occurs more than once
/// is merged occurrence by occurrence, and in protobuf the concatenation of
/// encoded messages decodes as their merge, so `received` always decodes to
/// what `message` holds.
fn merge_keeping_bytes<M: Message>(
    wire_type: WireType,
    message: &mut M,
    received: &mut Vec<u8>,
    buf: &mut impl Buf,
    ctx: DecodeContext,
) -> Result<(), DecodeError> {
    encoding::check_wire_type(WireType::LengthDelimited, wire_type)?;
    let len = encoding::decode_varint(buf)?;
    // A length past the end copies what there is, and prost's own decode
    // below reports the underflow.
    let available = (len.min(buf.remaining() as u64)) as usize;
    let start = received.len();
    received.resize(start + available, 0);
    buf.copy_to_slice(&mut received[start..]);
    // Decoded through `message::merge`, which keeps the recursion limit of
    // `ctx`; it reads the length prefix first.
    let mut prefix = [0u8; 10];
    let prefix_len = {
        let mut free = &mut prefix[..];
        encoding::encode_varint(len, &mut free);
        10 - free.len()
    };
    let mut occurrence = (&prefix[..prefix_len]).chain(&received[start..]);
    encoding::message::merge(wire_type, message, &mut occurrence, ctx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flyteidl::core::{Identifier, Literal};

    /// The generated message this one replaces, for comparison.
    #[derive(Clone, PartialEq, prost::Message)]
    struct Generated {
        #[prost(message, optional, tag = "1")]
        inputs: Option<LiteralMap>,
        #[prost(message, optional, tag = "2")]
        template: Option<TaskTemplate>,
        #[prost(string, tag = "3")]
        output_prefix: String,
        #[prost(message, optional, tag = "4")]
        task_execution_metadata: Option<TaskExecutionMetadata>,
    }

    fn sample() -> Generated {
        Generated {
            inputs: Some(LiteralMap {
                literals: [("x".to_string(), Literal::default())].into(),
            }),
            template: Some(TaskTemplate {
                r#type: "echo".into(),
                id: Some(Identifier {
                    name: "t".into(),
                    ..Default::default()
                }),
                config: [("k".to_string(), "v".to_string())].into(),
                ..Default::default()
            }),
            output_prefix: "s3://out".into(),
            task_execution_metadata: Some(TaskExecutionMetadata {
                namespace: "ns".into(),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn same_wire_format_as_the_generated_message() {
        let generated = sample();
        let bytes = generated.encode_to_vec();
        let ours = CreateTaskRequest::decode(bytes.as_slice()).expect("decodes");
        assert_eq!(ours.inputs, generated.inputs);
        assert_eq!(ours.template.as_deref(), generated.template.as_ref());
        assert_eq!(ours.output_prefix, generated.output_prefix);
        assert_eq!(
            ours.task_execution_metadata.as_deref(),
            generated.task_execution_metadata.as_ref()
        );
        assert_eq!(ours.encode_to_vec(), bytes);
        assert_eq!(ours.encoded_len(), bytes.len());
    }

    #[test]
    fn keeps_the_bytes_it_decoded() {
        let generated = sample();
        let ours =
            CreateTaskRequest::decode(generated.encode_to_vec().as_slice()).expect("decodes");
        assert_eq!(
            ours.received.template(),
            Some(
                generated
                    .template
                    .as_ref()
                    .unwrap()
                    .encode_to_vec()
                    .as_slice()
            )
        );
        assert_eq!(
            ours.received.inputs(),
            Some(
                generated
                    .inputs
                    .as_ref()
                    .unwrap()
                    .encode_to_vec()
                    .as_slice()
            )
        );
        // Absent fields have no bytes; present but empty ones have empty bytes.
        let none = CreateTaskRequest::decode(&[][..]).expect("empty request");
        assert_eq!(none.received, Received::default());
        let empty = CreateTaskRequest::decode(&[0x12, 0x00][..]).expect("empty template");
        assert_eq!(empty.received.template(), Some(&[][..]));
        assert_eq!(empty.template.as_deref(), Some(&TaskTemplate::default()));
    }

    #[test]
    fn keeps_fields_this_subset_does_not_know() {
        // The template with an unknown field 99 (varint 7) after its type.
        let mut template = TaskTemplate {
            r#type: "echo".into(),
            ..Default::default()
        }
        .encode_to_vec();
        template.extend_from_slice(&[0x98, 0x06, 0x07]);
        let mut request = Vec::new();
        encoding::bytes::encode(TEMPLATE, &template, &mut request);
        let ours = CreateTaskRequest::decode(request.as_slice()).expect("decodes");
        assert_eq!(
            ours.template.as_ref().map(|t| t.r#type.as_str()),
            Some("echo")
        );
        assert_eq!(ours.received.template(), Some(template.as_slice()));
    }

    #[test]
    fn a_repeated_field_is_merged_and_its_bytes_decode_to_the_merge() {
        let first = TaskTemplate {
            r#type: "echo".into(),
            ..Default::default()
        };
        let second = TaskTemplate {
            task_type_version: 3,
            ..Default::default()
        };
        let mut request = Vec::new();
        encoding::message::encode(TEMPLATE, &first, &mut request);
        encoding::message::encode(TEMPLATE, &second, &mut request);
        let ours = CreateTaskRequest::decode(request.as_slice()).expect("decodes");
        let merged = *ours.template.clone().expect("template");
        assert_eq!(
            (merged.r#type.as_str(), merged.task_type_version),
            ("echo", 3)
        );
        let again =
            TaskTemplate::decode(ours.received.template().expect("bytes")).expect("decodes");
        assert_eq!(again, merged);
    }

    #[test]
    fn refuses_what_the_generated_message_refuses() {
        let cases: [(&str, &[u8]); 4] = [
            ("template as a varint", &[0x10, 0x01]),
            ("a length past the end", &[0x12, 0x05, 0x0a]),
            ("a broken template inside", &[0x12, 0x02, 0x0a, 0x05]),
            ("a truncated length", &[0x12, 0x80]),
        ];
        for (case, bytes) in cases {
            assert!(Generated::decode(bytes).is_err(), "{case}: generated");
            assert!(CreateTaskRequest::decode(bytes).is_err(), "{case}: ours");
        }
    }

    #[test]
    fn keeps_the_recursion_limit() {
        // Literals nested past prost's limit of 100 inside the inputs.
        let mut literal = Literal::default();
        for _ in 0..120 {
            literal = Literal {
                value: Some(crate::flyteidl::core::literal::Value::Collection(
                    crate::flyteidl::core::LiteralCollection {
                        literals: vec![literal],
                    },
                )),
                ..Default::default()
            };
        }
        let deep = Generated {
            inputs: Some(LiteralMap {
                literals: [("x".to_string(), literal)].into(),
            }),
            ..Default::default()
        }
        .encode_to_vec();
        assert!(Generated::decode(deep.as_slice()).is_err());
        assert!(CreateTaskRequest::decode(deep.as_slice()).is_err());
    }
}
