//! The one wasmtime `Engine` every plugin shares, configured for serving:
//! async calls (a slow plugin never blocks a thread), epoch interruption for
//! wall-clock deadlines, and the pooling allocator so a fresh instance per
//! call is cheap. Fuel metering only when some plugin has a fuel limit (see
//! [`crate::limits::fuel_metering_needed`] for why).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::limits::MAX_MEMORY_MIB;

/// How often the epoch advances. Each tick, a running guest checks its
/// wall-clock deadline and yields to the async runtime (see `plugin.rs`).
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Sizing of the instance pool (how many instances may be alive at once).
#[derive(Debug, Clone, Copy)]
pub struct PoolSettings {
    /// Component instances alive at once, across all plugins.
    pub max_instances: u32,
    /// Largest linear memory any plugin may be granted, in bytes.
    pub max_memory_bytes: u64,
}

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings {
            max_instances: 256,
            max_memory_bytes: MAX_MEMORY_MIB * 1024 * 1024,
        }
    }
}

/// Builds the engine. `pool: None` uses on-demand allocation (for one-shot
/// local runs, where reserving a pool is wasted work). `fuel` compiles fuel
/// metering into every plugin (a different compiled artifact, so the
/// compile cache keys it separately); decide it with
/// [`crate::limits::fuel_metering_needed`].
pub fn build_engine(pool: Option<PoolSettings>, fuel: bool) -> anyhow::Result<Engine> {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    config.consume_fuel(fuel);
    if let Some(pool) = pool {
        let mut pooling = PoolingAllocationConfig::default();
        // A component such as a componentized Go or Python program holds
        // several core instances, memories and tables.
        pooling.total_component_instances(pool.max_instances);
        pooling.total_core_instances(pool.max_instances * 8);
        pooling.total_memories(pool.max_instances * 2);
        pooling.total_tables(pool.max_instances * 8);
        pooling.max_memory_size(pool.max_memory_bytes as usize);
        pooling.max_memories_per_component(4);
        pooling.max_core_instances_per_component(32);
        pooling.max_tables_per_component(32);
        keep_slots_resident(&mut pooling);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));
    }
    Engine::new(&config)
        .map_err(super::to_anyhow)
        .context("cannot configure the WebAssembly engine")
}

/// How much of a linear memory may stay resident after an instance is
/// dropped, when the kernel can tell which pages a call dirtied.
const KEEP_RESIDENT_MEMORY_BYTES: usize = 8 * 1024 * 1024;
/// The same for tables (function tables of a Python or JS runtime are large).
const KEEP_RESIDENT_TABLE_BYTES: usize = 1024 * 1024;

/// Makes a fresh instance per call cheap without giving up freshness.
///
/// By default the pooling allocator gives a dropped instance's memory back
/// to the kernel (`madvise`), which costs a TLB shoot-down on every core and
/// a page fault for every page the next call touches: the profile of a
/// busy Hangar was a third kernel time. On Linux 6.7+ the `PAGEMAP_SCAN`
/// ioctl finds exactly the pages a call wrote; wasmtime copies the module's
/// initial image back over those (or zeroes them) and keeps them mapped.
/// The next instance in that slot starts from the same bytes a brand-new
/// one would, so no call can see what an earlier one left behind.
/// Without the ioctl, `keep_resident` would `memset` whole prefixes of
/// every memory on each drop, so the defaults (give pages back) stay.
fn keep_slots_resident(pooling: &mut PoolingAllocationConfig) {
    if PoolingAllocationConfig::is_pagemap_scan_available() {
        pooling.pagemap_scan(Enabled::Yes);
        pooling.linear_memory_keep_resident(KEEP_RESIDENT_MEMORY_BYTES);
        pooling.table_keep_resident(KEEP_RESIDENT_TABLE_BYTES);
    }
}

/// Advances the engine's epoch every [`EPOCH_TICK`] on a background thread
/// until the returned guard is dropped. Deadlines are counted in ticks.
pub fn start_epoch_ticker(engine: &Engine) -> EpochTicker {
    let stop = Arc::new(AtomicBool::new(false));
    let engine = engine.clone();
    let flag = stop.clone();
    std::thread::Builder::new()
        .name("hangar-epoch".into())
        .spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                std::thread::sleep(EPOCH_TICK);
                engine.increment_epoch();
            }
        })
        .ok();
    EpochTicker { stop }
}

/// Stops the epoch thread when dropped.
pub struct EpochTicker {
    stop: Arc<AtomicBool>,
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
