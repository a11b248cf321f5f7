//! The one import of a QuickJS agent that only its build uses.
//!
//! componentize-qjs pre-initialises an agent with Wizer: it runs the
//! agent's module top level at build time and keeps the resulting memory.
//! While it does, QuickJS resolves and loads the agent's own JavaScript
//! modules through `local:init/module-loader`, which the agent component
//! imports. After the build nothing calls it: every module is already
//! loaded into the snapshot. componentize-qjs satisfies the import by
//! nesting a stub component whose functions trap; `hangar-js-build
//! --engine quickjs` takes the agent component out of that nesting (a
//! flat component is what the reuse rewrite can follow), and the host
//! links the interface here instead: two functions that trap, as the stub's
//! do. They grant nothing (no data in, none out), so no security decision
//! is involved; `hangar inspect` lists the import like any other.

use wasmtime::component::Linker;

use super::instance_state::InstanceState;

/// The interface's name as componentize-qjs 0.4 imports it (unversioned).
pub const INTERFACE: &str = "local:init/module-loader";

/// Its functions. Each traps when called.
const FUNCTIONS: [&str; 2] = ["resolve", "load"];

/// Adds [`INTERFACE`] to `linker`: functions that trap with an error that
/// says why.
pub fn add_to_linker(linker: &mut Linker<InstanceState>) -> anyhow::Result<()> {
    let mut instance = linker.instance(INTERFACE).map_err(super::to_anyhow)?;
    for name in FUNCTIONS {
        instance
            .func_new(name, move |_store, _ty, _params, _results| {
                Err(wasmtime::Error::msg(format!(
                    "{INTERFACE}#{name} was called at run time: componentize-qjs uses it only \
                     while it pre-initialises the agent at build time (a module imported \
                     dynamically after the build cannot be loaded; import it statically)"
                )))
            })
            .map_err(super::to_anyhow)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use wasmtime::Store;
    use wasmtime::component::{Component, Linker};

    use super::INTERFACE;
    use crate::audit::AuditLog;
    use crate::config::SecretSources;
    use crate::runtime::capabilities::{Capabilities, HostServices};
    use crate::runtime::engine::{Profiling, build_engine};
    use crate::runtime::instance_state::{InstanceState, LogContext};
    use crate::secrets::SecretStore;

    /// A component importing the loader as componentize-qjs's agents do,
    /// exporting `call-<name>` for each of its functions.
    fn importer() -> String {
        format!(
            r#"(component
                (import "{INTERFACE}" (instance $loader
                    (export "resolve" (func (param "referrer" string) (param "specifier" string)
                        (result (result string (error string)))))
                    (export "load" (func (param "path" string) (result (result string (error string)))))))
                (core module $memory (memory (export "memory") 1)
                    (func (export "realloc") (param i32 i32 i32 i32) (result i32) i32.const 64))
                (core instance $m (instantiate $memory))
                (alias core export $m "memory" (core memory $mem))
                (alias core export $m "realloc" (core func $realloc))
                (alias export $loader "resolve" (func $resolve))
                (alias export $loader "load" (func $load))
                (core func $resolve_low (canon lower (func $resolve) (memory $mem) (realloc $realloc)))
                (core func $load_low (canon lower (func $load) (memory $mem) (realloc $realloc)))
                (core module $calls
                    (import "host" "resolve" (func $r (param i32 i32 i32 i32 i32)))
                    (import "host" "load" (func $l (param i32 i32 i32)))
                    (func (export "call-resolve") (call $r (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 128)))
                    (func (export "call-load") (call $l (i32.const 0) (i32.const 0) (i32.const 128))))
                (core instance $host (export "resolve" (func $resolve_low)) (export "load" (func $load_low)))
                (core instance $c (instantiate $calls (with "host" (instance $host))))
                (func (export "call-resolve") (canon lift (core func $c "call-resolve")))
                (func (export "call-load") (canon lift (core func $c "call-load"))))"#
        )
    }

    fn state() -> InstanceState {
        let services = HostServices {
            audit: AuditLog::memory(),
            secret_store: Arc::new(SecretStore::new(&SecretSources {
                env_prefix: "_HANGAR_UNIT_TEST_NO_SUCH_PREFIX_".into(),
                dir: None,
            })),
        };
        let manifest = crate::manifest::parse("").expect("an empty manifest");
        let capabilities = Capabilities::from_manifest("qjs", &manifest, &services).expect("caps");
        InstanceState::new(1 << 24, LogContext::default(), Arc::new(capabilities))
    }

    #[tokio::test]
    async fn a_component_importing_the_loader_links_and_each_call_traps_with_the_reason() {
        let engine = build_engine(None, false, Profiling::Off).expect("engine");
        let bytes = wat::parse_str(importer()).expect("the importer parses");
        let component = Component::new(&engine, bytes).expect("the importer compiles");
        // Without the stub the import is what the host does not provide.
        let bare: Linker<InstanceState> = Linker::new(&engine);
        assert!(bare.instantiate_pre(&component).is_err());

        let linker = crate::runtime::plugin::host_linker(&engine).expect("host linker");
        let pre = linker
            .instantiate_pre(&component)
            .expect("links with the stub");
        for name in ["resolve", "load"] {
            let mut store = Store::new(&engine, state());
            store.set_epoch_deadline(u64::MAX / 2);
            let instance = pre
                .instantiate_async(&mut store)
                .await
                .expect("instantiates");
            let func = instance
                .get_typed_func::<(), ()>(&mut store, &format!("call-{name}"))
                .expect("the export");
            let error = func.call_async(&mut store, ()).await.expect_err("traps");
            let text = format!("{error:?}");
            assert!(
                text.contains(&format!("{INTERFACE}#{name} was called at run time"))
                    && text.contains("pre-initialises"),
                "{text}"
            );
        }
    }
}
