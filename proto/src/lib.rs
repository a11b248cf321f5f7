//! Rust types for Flyte's agent API, generated at build time from the
//! `.proto` files in this directory, for both the Hangar host and its
//! benchmarks (the load generator's clients and the floor's servers), so the
//! two can never disagree about the wire.
//!
//! Propeller and flytekit talk to agents over flyteidl's `AsyncAgentService`,
//! `SyncAgentService` and `AgentMetadataService`. Hangar serves those from
//! WebAssembly plugins, so it needs the exact same messages on the wire. The
//! `.proto` files under `flyteidl/` are a hand-written, wire-compatible subset
//! of flyteidl 1.16.8 (only what the agent services reach); `build.rs`
//! compiles them with protox and tonic-prost-build. Paths such as
//! `flyteidl::admin::CreateTaskRequest` follow the proto packages.
//!
//! Well-known types (`google.protobuf.Struct`, `Timestamp`, `Duration`,
//! `BoolValue`) are `prost_types`. Fields that upstream marks deprecated (e.g.
//! `Resource.state`, `Agent.supported_task_types`) are plain fields here, since
//! Hangar must still fill them for older propellers.
//!
//! `tests/python/test_wire_compat.py` checks the wire format field for field
//! against the Python flyteidl 1.16.8 package.

// Nearly all of this crate is generated code: not all of it is used (e.g. the
// clients), and its lints are prost's and tonic's business.
#![allow(
    clippy::all,
    clippy::pedantic,
    clippy::nursery,
    dead_code,
    missing_docs,
    unreachable_pub,
    rustdoc::all
)]

mod create_task_request;

/// Package tree of flyteidl 1 (`proto/flyteidl/`).
pub mod flyteidl {
    /// Package `flyteidl.core`: literals, types, task templates, identifiers.
    pub mod core {
        tonic::include_proto!("flyteidl.core");
    }
    /// Package `flyteidl.admin`: the agent request and response messages.
    pub mod admin {
        tonic::include_proto!("flyteidl.admin");
        pub use crate::create_task_request::{CreateTaskRequest, Received};
    }
    /// Package `flyteidl.service`: the agent gRPC services (servers and clients).
    pub mod service {
        tonic::include_proto!("flyteidl.service");
    }
}

/// Flyte 2's connector API (flyteidl2 2.0.53, `proto/flyteidl2/`): served on
/// the same port by `grpc::connector_v2`, which translates to the v1 types.
/// `tests/python/test_wire_compat_v2.py` checks it against the PyPI
/// `flyteidl2==2.0.53` package.
pub mod flyteidl2 {
    /// Package `flyteidl2.common`.
    pub mod common {
        tonic::include_proto!("flyteidl2.common");
    }
    /// Package `flyteidl2.core`: literals, types, task templates, identifiers.
    pub mod core {
        tonic::include_proto!("flyteidl2.core");
    }
    /// Package `flyteidl2.task`: named-literal inputs and outputs.
    pub mod task {
        tonic::include_proto!("flyteidl2.task");
    }
    /// Package `flyteidl2.logs.dataplane`: log lines.
    pub mod logs {
        pub mod dataplane {
            tonic::include_proto!("flyteidl2.logs.dataplane");
        }
    }
    /// Package `flyteidl2.connector`: the connector messages and services.
    pub mod connector {
        tonic::include_proto!("flyteidl2.connector");
    }
}

/// Encoded `FileDescriptorSet` of everything in `proto/` (and the well-known
/// types it imports), for gRPC server reflection (`tonic-reflection`).
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/flyteidl_descriptor.bin"));
