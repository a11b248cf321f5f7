//! Safe instance reuse: a load-time rewrite after which a component puts
//! its own state back between calls, so one instance can serve call after
//! call without any call seeing what an earlier one left.
//!
//! Why in the guest: wasmtime resets an instance's memory only when the
//! instance is dropped, and its API does not reach a component's core
//! memories, globals or tables. So each core module is rewritten to keep a
//! journal of its own writes:
//!
//! - The module that defines the component's memory also defines a *map*
//!   (one byte per block of `2^BLOCK_SHIFT` bytes marking those written
//!   since the last reset, followed by the list of them, so a reset visits
//!   only those, and each block's place in the journal) and a *journal*
//!   (the committed bytes of every block written since the commit, packed
//!   in the order they were first written); every module that uses the
//!   memory imports both.
//! - Before every store, `memory.fill`, `memory.copy` and `memory.init`,
//!   the block(s) written are marked and listed if the map says they are
//!   not yet, and copied to the journal if it has no copy of them yet (see
//!   `writes`). A reset starts the memory over from the committed state,
//!   so a copy made during one call still holds the committed bytes in the
//!   next: a block every call writes is copied once, then only put back.
//! - The host writes into guest memory too, without any instruction: call
//!   arguments through the guest's `realloc`, and results at the return
//!   pointer a lowered import is given. Every function the component names
//!   as `realloc` is wrapped to journal the bytes it hands out, and every
//!   host import with a return area is wrapped to journal that area (its
//!   size follows from the import's WIT type, `abi`). Which core imports
//!   are such host functions is found from the component's wiring, or by
//!   WIT name where wit-component routes them through trampolines; a host
//!   function with a return area found neither way makes the rewrite
//!   refuse the component (`component::Graph`).
//! - Every mutable global and every defined table gets a shadow.
//!
//! Each module with state exports `hangar_commit` (the state now is the
//! state to come back to) and `hangar_reset` (copy the journaled blocks,
//! globals and tables back; answer nonzero when the memory or a table grew,
//! which cannot be undone), lifted as component exports `hangar-commit-N`
//! and `hangar-reset-N`. The host commits once after instantiating and
//! resets after every call (`instance_pool`).
//!
//! Anything the rewrite cannot follow is refused with the reason: more than
//! one memory, core modules in nested components, atomics and SIMD stores,
//! component-defined resources, asynchronous lifts and lowers, and host
//! functions reached along paths it cannot follow.

mod abi;
mod component;
mod module;
mod writes;

pub use component::{COMMIT_PREFIX, RESET_PREFIX};

/// log2 of the journaled block: 256 bytes. CPython's writes (reference
/// counts) are scattered, so small blocks copy the least (measured in
/// docs/performance.md: 1 KiB and 256-byte blocks beat 4 KiB pages).
pub const BLOCK_SHIFT: u32 = 8;

/// The journal's geometry for one plugin.
#[derive(Debug, Clone, Copy)]
pub struct Journal {
    pub block_shift: u32,
    /// Size of the map in 64 KiB pages: one byte per block of the largest
    /// memory the plugin may grow to, rounded up.
    pub map_pages: u64,
}

impl Journal {
    pub fn for_memory_limit(memory_limit_bytes: u64) -> Journal {
        let blocks = memory_limit_bytes.div_ceil(1 << BLOCK_SHIFT).max(8);
        Journal {
            block_shift: BLOCK_SHIFT,
            map_pages: blocks.div_ceil(65536).max(1),
        }
    }
}

/// The compile-cache key of the rewrite of the component whose sha256 is
/// `original_sha256`: that hash, the rewrite's fingerprint (a hash of this
/// module's sources and the workspace's `Cargo.lock`, from `build.rs`) and
/// the journal's geometry. Everything [`rewrite`]'s output depends on, so a
/// cached compile of it can be used without rewriting again.
pub fn cache_key(original_sha256: &str, memory_limit_bytes: u64) -> String {
    let journal = Journal::for_memory_limit(memory_limit_bytes);
    format!(
        "{original_sha256}-reuse-{}-b{}m{}",
        env!("HANGAR_REWRITE_FINGERPRINT"),
        journal.block_shift,
        journal.map_pages
    )
}

/// Rewrites `component` so it can reset itself (see the module doc). The
/// error says why a component cannot be made resettable.
pub fn rewrite(component: &[u8], memory_limit_bytes: u64) -> anyhow::Result<Vec<u8>> {
    let journal = Journal::for_memory_limit(memory_limit_bytes);
    let (bytes, _writes) = component::rewrite(component, journal)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests;
