//! `TaskHandle`: what `get`, `delete` and the observability calls receive,
//! with the resource meta already decoded.
//!
//! An async agent's metadata travels as JSON in the WIT `resource-meta`
//! bytes, like flytekit's `ResourceMeta` dataclasses encoded as JSON. This
//! module owns both directions so the encoding lives in one place. Empty
//! resource-meta bytes read as JSON `null`, so agents whose metadata is `()`
//! or an `Option` accept a handle the host built without calling `create`.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::bindings::wit;
use crate::error::AgentError;
use crate::info::TaskCategory;

/// A job started by `create`, as later calls see it.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskHandle<M> {
    /// The task type the job was routed on.
    pub category: TaskCategory,
    /// What `create` returned.
    pub meta: M,
    /// Where propeller expects output files.
    pub output_prefix: String,
}

/// Encodes `create`'s metadata as the resource-meta bytes.
pub(crate) fn encode_meta<M: Serialize>(meta: &M) -> Result<Vec<u8>, AgentError> {
    serde_json::to_vec(meta).map_err(|e| {
        AgentError::non_recoverable(format!("cannot encode the resource meta as JSON: {e}"))
            .with_code("InvalidResourceMeta")
    })
}

impl<M: DeserializeOwned> TryFrom<wit::TaskHandle> for TaskHandle<M> {
    type Error = AgentError;

    fn try_from(h: wit::TaskHandle) -> Result<Self, AgentError> {
        let bytes: &[u8] = if h.resource_meta.is_empty() {
            b"null"
        } else {
            &h.resource_meta
        };
        let meta = serde_json::from_slice(bytes).map_err(|e| {
            AgentError::non_recoverable(format!(
                "resource meta is not the JSON this agent's create returns: {e}"
            ))
            .with_code("InvalidResourceMeta")
        })?;
        Ok(Self {
            category: h.category.into(),
            meta,
            output_prefix: h.output_prefix,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Meta {
        job_id: String,
        deadline: u64,
    }

    /// A WIT handle as the host would send it, for tests across the crate.
    pub(crate) fn wit_handle(category: &str, meta: &[u8]) -> wit::TaskHandle {
        wit::TaskHandle {
            category: wit::TaskCategory {
                name: category.into(),
                version: 0,
            },
            resource_meta: meta.to_vec(),
            output_prefix: "s3://out".into(),
        }
    }

    #[test]
    fn meta_round_trips_as_json() {
        let meta = Meta {
            job_id: "j-1".into(),
            deadline: 7,
        };
        let bytes = encode_meta(&meta).expect("encode");
        assert_eq!(bytes, br#"{"job_id":"j-1","deadline":7}"#);
        let h: TaskHandle<Meta> = wit_handle("echo", &bytes).try_into().expect("decode");
        assert_eq!(h.meta, meta);
        assert_eq!(h.category, TaskCategory::new("echo", 0));
        assert_eq!(h.output_prefix, "s3://out");
    }

    #[test]
    fn bad_meta_is_an_error_not_a_panic() {
        let e = TaskHandle::<Meta>::try_from(wit_handle("echo", b"\xff{")).expect_err("bad meta");
        assert_eq!(e.code, "InvalidResourceMeta");
        let e = TaskHandle::<Meta>::try_from(wit_handle("echo", br#"{"job_id": 1}"#))
            .expect_err("wrong shape");
        assert!(e.message.contains("resource meta"), "{}", e.message);
    }

    #[test]
    fn empty_meta_reads_as_null() {
        let h: TaskHandle<()> = wit_handle("echo", b"").try_into().expect("unit meta");
        assert_eq!(h.meta, ());
        let h: TaskHandle<Option<Meta>> = wit_handle("echo", b"").try_into().expect("none");
        assert_eq!(h.meta, None);
        let e = TaskHandle::<Meta>::try_from(wit_handle("echo", b"")).expect_err("needs meta");
        assert_eq!(e.code, "InvalidResourceMeta");
    }

    #[test]
    fn unencodable_meta_is_an_error() {
        use std::collections::BTreeMap;
        let mut m = BTreeMap::new();
        m.insert((1, 2), "tuple keys are not JSON object keys");
        let e = encode_meta(&m).expect_err("not encodable");
        assert_eq!(e.code, "InvalidResourceMeta");
    }
}
