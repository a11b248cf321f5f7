//! The typed exports of one instance, looked up on its first call and kept
//! for the calls after it.
//!
//! Looking an export up type-checks every function of its interface against
//! the component (about 3% of a Rust echo call's CPU). A fresh instance
//! serves one call, so it looks them up once either way; a reused one
//! (`[reuse]`) would otherwise repeat the lookup on every call. A `Func`
//! belongs to the store of the instance it came from, so the cache lives
//! beside that instance and is dropped with it.

use wasmtime::Store;
use wasmtime::component::Instance;

use super::bindings::{async_handler, observability};
use super::instance_state::InstanceState;

/// The exports looked up so far, by interface.
#[derive(Default)]
pub struct ExportCache {
    async_handler: Option<async_handler::Guest>,
    observability: Option<observability::Guest>,
}

impl ExportCache {
    /// The async handler (`create`, `get`, `delete`) of `instance`.
    pub fn async_handler(
        &mut self,
        store: &mut Store<InstanceState>,
        instance: &Instance,
        indices: &async_handler::GuestIndices,
    ) -> wasmtime::Result<async_handler::Guest> {
        cached(&mut self.async_handler, || indices.load(store, instance))
    }

    /// The observability exports (`get-metrics`, `get-logs`) of `instance`.
    pub fn observability(
        &mut self,
        store: &mut Store<InstanceState>,
        instance: &Instance,
        indices: &observability::GuestIndices,
    ) -> wasmtime::Result<observability::Guest> {
        cached(&mut self.observability, || indices.load(store, instance))
    }
}

/// The cached value, else what `load` gives (kept only when it succeeds).
fn cached<T: Clone>(
    slot: &mut Option<T>,
    load: impl FnOnce() -> wasmtime::Result<T>,
) -> wasmtime::Result<T> {
    if let Some(value) = slot {
        return Ok(value.clone());
    }
    let value = load()?;
    *slot = Some(value.clone());
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::cached;

    #[test]
    fn a_value_is_loaded_once_and_a_failure_is_not_kept() {
        let mut slot: Option<u32> = None;
        let mut loads = 0;
        let mut load = |answer: wasmtime::Result<u32>| {
            loads += 1;
            answer
        };
        assert!(cached(&mut slot, || load(Err(wasmtime::Error::msg("no")))).is_err());
        assert_eq!(slot, None);
        assert_eq!(cached(&mut slot, || load(Ok(7))).unwrap(), 7);
        assert_eq!(cached(&mut slot, || load(Ok(8))).unwrap(), 7);
        assert_eq!(loads, 2);
    }
}
