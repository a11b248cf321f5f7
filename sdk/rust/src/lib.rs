#![doc = include_str!("../README.md")]
//!
//! # Modules
//!
//! The crate root re-exports everything an agent needs; [`log`] holds the
//! logging functions and macros, [`secrets`] reads the secrets the operator
//! granted, [`config`] the operator's settings, and [`http`] makes outbound
//! requests over `wasi:http`.

mod adapter;
mod agent;
mod bindings;
pub mod config;
mod error;
mod handle;
pub mod http;
mod info;
pub mod log;
mod observe;
mod panic_hook;
mod resource;
pub mod secrets;
mod task;

pub use agent::{AsyncAgent, ObservableAgent, SyncAgent};
pub use error::{AgentError, ErrorKind};
pub use handle::TaskHandle;
pub use info::{AgentInfo, TaskCategory};
pub use observe::{LogPage, MetricResult, MetricsQuery, Timestamp};
pub use resource::{LogLink, Outputs, Phase, Resource};
pub use secrets::SecretError;
pub use task::{Identifier, Task, TaskExecutionId, TaskExecutionMetadata};

/// Re-exported so agents can name JSON values without their own dependency.
pub use serde_json::{self, Map, Value, json};

/// Re-exported for `#[serde(crate = "hangar_agent::serde")]`.
pub use serde;

/// What the `export_*_agent!` macros expand to. Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::adapter::{AsyncAdapter, SyncAdapter};
    pub use crate::bindings::{async_handler, identity, observability, sync_handler};
}

/// Exports an [`AsyncAgent`] as a component of the `async-agent` world.
/// Use it once per crate, at the top level: `export_async_agent!(MyAgent);`
#[macro_export]
macro_rules! export_async_agent {
    ($agent:ty) => {
        // Only a component has the host to export to; natively (an agent's
        // `cargo test`) the component-model symbol names would not link.
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            type HangarAsyncAgent = $crate::__private::AsyncAdapter<$agent>;
            $crate::__private::identity::export!(
                HangarAsyncAgent with_types_in $crate::__private::identity
            );
            $crate::__private::async_handler::export!(
                HangarAsyncAgent with_types_in $crate::__private::async_handler
            );
        };
    };
}

/// Exports an [`ObservableAgent`] as a component of the
/// `async-agent-observable` world (an async agent plus metrics and logs).
/// Use it instead of [`export_async_agent!`], once per crate.
#[macro_export]
macro_rules! export_observable_agent {
    ($agent:ty) => {
        // Only a component has the host to export to; natively (an agent's
        // `cargo test`) the component-model symbol names would not link.
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            type HangarObservableAgent = $crate::__private::AsyncAdapter<$agent>;
            $crate::__private::identity::export!(
                HangarObservableAgent with_types_in $crate::__private::identity
            );
            $crate::__private::async_handler::export!(
                HangarObservableAgent with_types_in $crate::__private::async_handler
            );
            $crate::__private::observability::export!(
                HangarObservableAgent with_types_in $crate::__private::observability
            );
        };
    };
}

/// Exports a [`SyncAgent`] as a component of the `sync-agent` world.
/// Use it once per crate, at the top level: `export_sync_agent!(MyAgent);`
#[macro_export]
macro_rules! export_sync_agent {
    ($agent:ty) => {
        // Only a component has the host to export to; natively (an agent's
        // `cargo test`) the component-model symbol names would not link.
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            type HangarSyncAgent = $crate::__private::SyncAdapter<$agent>;
            $crate::__private::identity::export!(
                HangarSyncAgent with_types_in $crate::__private::identity
            );
            $crate::__private::sync_handler::export!(
                HangarSyncAgent with_types_in $crate::__private::sync_handler
            );
        };
    };
}

#[cfg(test)]
mod world_coverage {
    //! The export macros assemble each official world from one-export
    //! pieces (see `bindings`). If `wit/agent.wit` changes a world, this test
    //! says the pieces must change too.

    use std::collections::BTreeSet;
    use std::path::Path;

    use wit_parser::{Resolve, WorldItem};

    use crate::bindings::{WORLD_EXPORTS, WORLD_IMPORTS};

    fn interface_names<'a>(
        resolve: &Resolve,
        items: impl Iterator<Item = &'a WorldItem>,
    ) -> BTreeSet<String> {
        items
            .map(|item| match item {
                WorldItem::Interface { id, .. } => resolve.interfaces[*id]
                    .name
                    .clone()
                    .unwrap_or_else(|| "<anonymous interface>".into()),
                WorldItem::Function(f) => format!("<function {}>", f.name),
                WorldItem::Type { .. } => "<type>".into(),
            })
            .collect()
    }

    #[test]
    fn pieces_cover_each_world_exactly() {
        let wit = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../wit");
        let mut resolve = Resolve::default();
        let (pkg, _) = resolve.push_dir(&wit).expect("parse wit/");
        for (world, exports) in WORLD_EXPORTS {
            let id = resolve
                .select_world(&[pkg], Some(world))
                .expect("world exists");
            let w = &resolve.worlds[id];
            let want: BTreeSet<String> = exports.iter().map(|s| s.to_string()).collect();
            assert_eq!(
                interface_names(&resolve, w.exports.values()),
                want,
                "exports of {world}"
            );
            let want: BTreeSet<String> = WORLD_IMPORTS.iter().map(|s| s.to_string()).collect();
            assert_eq!(
                interface_names(&resolve, w.imports.values()),
                want,
                "imports of {world}"
            );
        }
    }
}
