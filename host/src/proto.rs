//! The Flyte agent API types, from the workspace crate `hangar-proto`
//! (`proto/`), which the benchmarks share so both speak the same wire format.
//! Re-exported here so the host refers to stable paths such as
//! `crate::proto::flyteidl::admin::CreateTaskRequest`.

pub use hangar_proto::{FILE_DESCRIPTOR_SET, flyteidl, flyteidl2};
