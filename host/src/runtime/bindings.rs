//! Rust bindings for the `flyte:agent` WIT package, as the host sees it.
//!
//! One host-side world imports what we provide (logging, secrets, config,
//! outbound HTTP as plain values) and lists every interface a plugin may
//! export. A plugin exports only some of them,
//! so we never instantiate this world as a whole: each interface's
//! `GuestIndices` is looked up on its own, which is how the host tells async,
//! sync and observable plugins apart.
//!
//! `sync-handler` is not in this world: its function is named `do`, which
//! bindgen cannot turn into Rust. The host reaches it through a typed export
//! lookup instead (see `plugin.rs`), with the same generated types.

wasmtime::component::bindgen!({
    path: "../wit",
    inline: "
        package hangar:host;

        world plugin {
            import flyte:agent/logging@0.1.0;
            import flyte:agent/secrets@0.1.0;
            import flyte:agent/config@0.1.0;
            import flyte:agent/outbound-http@0.1.0;
            export flyte:agent/identity@0.1.0;
            export flyte:agent/async-handler@0.1.0;
            export flyte:agent/observability@0.1.0;
        }
    ",
    world: "hangar:host/plugin",
    // `secrets.get` may trap: a guest that ignores `too-many-reads` is stopped.
    // `outbound-http.send` waits for the network.
    imports: {
        "flyte:agent/secrets.get": trappable,
        "flyte:agent/outbound-http.send": async,
    },
    exports: { default: async },
});

pub use exports::flyte::agent::{async_handler, identity, observability};
pub use flyte::agent::config;
pub use flyte::agent::logging;
pub use flyte::agent::outbound_http;
pub use flyte::agent::secrets;
pub use flyte::agent::types;
