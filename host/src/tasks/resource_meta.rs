//! The `resource_meta` bytes Hangar hands to propeller after CreateTask.
//!
//! Propeller stores them and sends them back on every GetTask and
//! DeleteTask, possibly to another replica. So everything the host needs
//! later lives inside: which agent made them, the task's declared outputs
//! (GetTask carries no template, yet outputs must be typed), the agent's own
//! bytes, and, when create itself failed, that failure (CreateTaskResponse
//! has no Resource, so the failure is reported by the next GetTask).
//!
//! Layout: the magic `HNGR`, a format version byte, then a protobuf
//! [`Envelope`]. Anything else is rejected as not Hangar's.

use prost::Message;

use crate::proto::flyteidl::core::VariableMap;

const MAGIC: &[u8; 4] = b"HNGR";
const FORMAT_VERSION: u8 = 1;

#[derive(Clone, PartialEq, Message)]
pub struct Envelope {
    /// Name of the agent that created the job.
    #[prost(string, tag = "1")]
    pub agent: String,
    /// The task's declared outputs (`TaskTemplate.interface.outputs`).
    #[prost(message, optional, tag = "2")]
    pub outputs: Option<VariableMap>,
    /// The bytes the agent's `create` returned.
    #[prost(bytes = "vec", tag = "3")]
    pub agent_meta: Vec<u8>,
    /// Set when `create` failed: GetTask reports it as the task's outcome.
    #[prost(message, optional, tag = "4")]
    pub create_error: Option<CreateError>,
}

#[derive(Clone, PartialEq, Message)]
pub struct CreateError {
    #[prost(string, tag = "1")]
    pub message: String,
    #[prost(string, tag = "2")]
    pub code: String,
    #[prost(bool, tag = "3")]
    pub recoverable: bool,
}

/// Why bytes are not a usable `resource_meta`. Messages are for the caller
/// and reveal nothing of the host.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MetaError {
    #[error("resource_meta is empty")]
    Empty,
    #[error("resource_meta was not created by Hangar")]
    Foreign,
    #[error("resource_meta was created by a newer Hangar (format {0})")]
    UnknownVersion(u8),
    #[error("resource_meta is malformed")]
    Malformed,
    #[error(
        "resource_meta belongs to agent \"{found}\", not to agent \"{expected}\" that serves this task type"
    )]
    OtherAgent { found: String, expected: String },
}

/// The owned envelope's encoding, which [`encode_borrowed`] must equal (the
/// host itself only ever encodes borrowed envelopes).
#[cfg(test)]
pub fn encode(envelope: &Envelope) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + envelope.encoded_len());
    out.extend_from_slice(MAGIC);
    out.push(FORMAT_VERSION);
    envelope.encode(&mut out).expect("a Vec grows as needed");
    out
}

/// An [`Envelope`] that borrows what it carries, as CreateTask has it:
/// `outputs` is the wire encoding of the declared `VariableMap` (found in
/// the template's encoding by `template_wire::declared_outputs`), so making
/// the meta clones and re-encodes nothing.
pub struct BorrowedEnvelope<'a> {
    pub agent: &'a str,
    pub outputs: Option<&'a [u8]>,
    pub agent_meta: &'a [u8],
    pub create_error: Option<&'a CreateError>,
}

/// The same bytes [`encode`] gives for the owned [`Envelope`] with these
/// fields: prost skips an empty string or bytes field and writes a present
/// message, even an empty one.
pub fn encode_borrowed(envelope: &BorrowedEnvelope<'_>) -> Vec<u8> {
    use prost::encoding::{WireType, encode_key, encode_varint, encoded_len_varint, message};

    fn delimited_len(tag: u32, bytes: &[u8]) -> usize {
        prost::encoding::key_len(tag) + encoded_len_varint(bytes.len() as u64) + bytes.len()
    }
    fn put_delimited(tag: u32, bytes: &[u8], out: &mut Vec<u8>) {
        encode_key(tag, WireType::LengthDelimited, out);
        encode_varint(bytes.len() as u64, out);
        out.extend_from_slice(bytes);
    }

    let BorrowedEnvelope {
        agent,
        outputs,
        agent_meta,
        create_error,
    } = *envelope;
    let agent = Some(agent.as_bytes()).filter(|bytes| !bytes.is_empty());
    let agent_meta = Some(agent_meta).filter(|bytes| !bytes.is_empty());
    let length = agent.map_or(0, |bytes| delimited_len(1, bytes))
        + outputs.map_or(0, |bytes| delimited_len(2, bytes))
        + agent_meta.map_or(0, |bytes| delimited_len(3, bytes))
        + create_error.map_or(0, |error| message::encoded_len(4, error));
    let mut out = Vec::with_capacity(5 + length);
    out.extend_from_slice(MAGIC);
    out.push(FORMAT_VERSION);
    for (tag, bytes) in [(1, agent), (2, outputs), (3, agent_meta)] {
        if let Some(bytes) = bytes {
            put_delimited(tag, bytes, &mut out);
        }
    }
    if let Some(error) = create_error {
        message::encode(4, error, &mut out);
    }
    out
}

/// Decodes `bytes` and checks they belong to `agent`.
pub fn decode(bytes: &[u8], agent: &str) -> Result<Envelope, MetaError> {
    if bytes.is_empty() {
        return Err(MetaError::Empty);
    }
    let Some(rest) = bytes.strip_prefix(MAGIC.as_slice()) else {
        return Err(MetaError::Foreign);
    };
    let Some((&version, body)) = rest.split_first() else {
        return Err(MetaError::Malformed);
    };
    if version != FORMAT_VERSION {
        return Err(MetaError::UnknownVersion(version));
    }
    let envelope = Envelope::decode(body).map_err(|_| MetaError::Malformed)?;
    if envelope.agent != agent {
        return Err(MetaError::OtherAgent {
            found: envelope.agent,
            expected: agent.to_string(),
        });
    }
    Ok(envelope)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Envelope {
        Envelope {
            agent: "echo".into(),
            outputs: Some(VariableMap::default()),
            agent_meta: b"{\"x\":1}".to_vec(),
            create_error: None,
        }
    }

    /// Table: the borrowed envelope encodes to the owned one's bytes, and
    /// decodes back to it.
    #[test]
    fn borrowed_envelope_encodes_like_the_owned_one() {
        use crate::proto::flyteidl::core::{LiteralType, Variable};
        let outputs = VariableMap {
            variables: [(
                "o".to_string(),
                Variable {
                    r#type: Some(LiteralType::default()),
                    description: "out".into(),
                    ..Default::default()
                },
            )]
            .into(),
        };
        let error = CreateError {
            message: "quota".into(),
            code: "QuotaExceeded".into(),
            recoverable: true,
        };
        let cases = [
            (
                "everything",
                "echo",
                Some(outputs.clone()),
                b"{}".to_vec(),
                Some(error.clone()),
            ),
            ("no outputs", "echo", None, b"{}".to_vec(), None),
            (
                "empty outputs",
                "echo",
                Some(VariableMap::default()),
                b"m".to_vec(),
                None,
            ),
            (
                "empty agent meta",
                "echo",
                Some(outputs.clone()),
                Vec::new(),
                None,
            ),
            (
                "create failed",
                "echo",
                None,
                Vec::new(),
                Some(error.clone()),
            ),
            (
                "empty error",
                "echo",
                None,
                Vec::new(),
                Some(CreateError::default()),
            ),
            ("empty agent name", "", None, Vec::new(), None),
        ];
        for (name, agent, outputs, agent_meta, create_error) in cases {
            let owned = Envelope {
                agent: agent.to_string(),
                outputs: outputs.clone(),
                agent_meta: agent_meta.clone(),
                create_error: create_error.clone(),
            };
            let outputs_wire = outputs.as_ref().map(Message::encode_to_vec);
            let borrowed = encode_borrowed(&BorrowedEnvelope {
                agent,
                outputs: outputs_wire.as_deref(),
                agent_meta: &agent_meta,
                create_error: create_error.as_ref(),
            });
            assert_eq!(borrowed, encode(&owned), "{name}");
            assert_eq!(decode(&borrowed, agent), Ok(owned), "{name}");
        }
    }

    #[test]
    fn round_trips() {
        let bytes = encode(&sample());
        assert_eq!(decode(&bytes, "echo"), Ok(sample()));
    }

    #[test]
    fn rejects_what_is_not_ours() {
        let good = encode(&sample());
        let mut bad_version = good.clone();
        bad_version[4] = 9;
        let mut truncated = good.clone();
        truncated.truncate(good.len() - 3);
        let cases: Vec<(&[u8], MetaError)> = vec![
            (b"", MetaError::Empty),
            (b"{\"job_id\": 3}", MetaError::Foreign),
            (b"HNGR", MetaError::Malformed),
            (&bad_version, MetaError::UnknownVersion(9)),
            (&truncated, MetaError::Malformed),
        ];
        for (bytes, expected) in cases {
            assert_eq!(decode(bytes, "echo"), Err(expected));
        }
        assert_eq!(
            decode(&good, "wait"),
            Err(MetaError::OtherAgent {
                found: "echo".into(),
                expected: "wait".into()
            })
        );
    }
}
