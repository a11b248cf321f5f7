//! The flyteidl 1 agent API (workspace crate `hangar-proto`, the same types
//! the host is built with): clients for the load generator, servers for the
//! floor.

pub use hangar_proto::flyteidl;
