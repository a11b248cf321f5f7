//! The plugin runtime: one engine, components compiled once and cached on
//! disk, and a fresh sandboxed instance for every call (or, for a plugin
//! whose manifest opts in, an idle one reset after its last call).
//!
//! It knows WebAssembly and the `flyte:agent` WIT; it knows nothing of gRPC
//! or of Flyte's protobuf messages.

pub mod bindings;
pub mod boundary;
pub mod capabilities;
pub mod compile_cache;
pub mod engine;
pub mod export_cache;
pub mod instance_pool;
pub mod instance_state;
pub mod limiter;
pub mod plugin;
pub mod quickjs_preinit;
pub mod reuse;
pub mod stderr_capture;

pub use bindings::types;
pub use instance_state::LogContext;
pub use plugin::{CallError, Plugin};

/// wasmtime has its own error type; the rest of the host speaks anyhow.
pub(crate) fn to_anyhow(error: wasmtime::Error) -> anyhow::Error {
    anyhow::Error::from_boxed(error.into_boxed_dyn_error())
}

/// An error's whole text on one line (whitespace runs folded), for log
/// lines and gRPC messages that must stay one line.
pub(crate) fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
