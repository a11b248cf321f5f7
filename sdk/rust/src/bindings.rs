//! Generated bindings for the `flyte:agent` WIT package.
//!
//! Why it is split this way: `wit_bindgen::generate!` with `pub_export_macro`
//! defines one `#[macro_export]` macro per exported interface, and those land
//! at the crate root under a name derived from the interface alone. Generating
//! the three official worlds here would define the `identity` (and
//! `async-handler`) export macros twice. So each exported interface gets a
//! one-export world of its own, every interface is generated exactly once, and
//! the user-facing `export_*_agent!` macros combine the pieces of the world
//! they stand for. Each piece's export macro carries its own "imports and
//! exports" type section, so only the pieces an agent actually exports end up
//! in its component; `wit-component` merges them into the official world
//! (checked against `wit/agent.wit` by the `world_coverage` test).
//!
//! The shared types and the host's imports (`logging`, `secrets`, `config`) are
//! generated once, in `base`, and remapped everywhere else with `with`, so
//! one native conversion serves every world. An agent that never calls an
//! import does not import it: `wit-component` drops unused imports.

/// Shared types (`flyte:agent/types`) and the host's imports (`logging`,
/// `secrets`, `config`).
pub mod base {
    wit_bindgen::generate!({
        inline: "package hangar:sdk;
                 world base {
                     import flyte:agent/logging@0.1.0;
                     import flyte:agent/secrets@0.1.0;
                     import flyte:agent/config@0.1.0;
                     import flyte:agent/types@0.1.0;
                 }",
        path: "../../wit",
        world: "hangar:sdk/base",
        pub_export_macro: true,
        generate_all,
        generate_unused_types: true,
    });
}

/// The `identity` export, common to every world.
pub mod identity {
    wit_bindgen::generate!({
        inline: "package hangar:sdk;
                 world identity {
                     import flyte:agent/logging@0.1.0;
                     export flyte:agent/identity@0.1.0;
                 }",
        path: "../../wit",
        world: "hangar:sdk/identity",
        pub_export_macro: true,
        with: {
            "flyte:agent/types@0.1.0": crate::bindings::base::flyte::agent::types,
            "flyte:agent/logging@0.1.0": crate::bindings::base::flyte::agent::logging,
        },
    });
}

/// The `async-handler` export (create / get / delete).
pub mod async_handler {
    wit_bindgen::generate!({
        inline: "package hangar:sdk;
                 world async-handler {
                     export flyte:agent/async-handler@0.1.0;
                 }",
        path: "../../wit",
        world: "hangar:sdk/async-handler",
        pub_export_macro: true,
        with: {
            "flyte:agent/types@0.1.0": crate::bindings::base::flyte::agent::types,
        },
    });
}

/// The optional `observability` export (metrics and logs of a job).
pub mod observability {
    wit_bindgen::generate!({
        inline: "package hangar:sdk;
                 world observability {
                     export flyte:agent/observability@0.1.0;
                 }",
        path: "../../wit",
        world: "hangar:sdk/observability",
        pub_export_macro: true,
        with: {
            "flyte:agent/types@0.1.0": crate::bindings::base::flyte::agent::types,
        },
    });
}

/// The `sync-handler` export (do).
pub mod sync_handler {
    wit_bindgen::generate!({
        inline: "package hangar:sdk;
                 world sync-handler {
                     export flyte:agent/sync-handler@0.1.0;
                 }",
        path: "../../wit",
        world: "hangar:sdk/sync-handler",
        pub_export_macro: true,
        with: {
            "flyte:agent/types@0.1.0": crate::bindings::base::flyte::agent::types,
        },
    });
}

/// The generated shared types, under a short name for the conversion code.
pub(crate) use base::flyte::agent::types as wit;

/// Which mini-world each user-facing export macro combines, by interface name.
/// The `world_coverage` test compares these with the worlds in `agent.wit`.
#[cfg(test)]
pub(crate) const WORLD_EXPORTS: &[(&str, &[&str])] = &[
    ("async-agent", &["identity", "async-handler"]),
    (
        "async-agent-observable",
        &["identity", "async-handler", "observability"],
    ),
    ("sync-agent", &["identity", "sync-handler"]),
];

/// Interfaces the mini-worlds import; every official world must import
/// exactly these (types are imported implicitly through `use`).
#[cfg(test)]
pub(crate) const WORLD_IMPORTS: &[&str] = &["logging", "secrets", "config", "types"];
