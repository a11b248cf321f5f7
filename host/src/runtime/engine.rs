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
///
/// Whether to reset in place is decided by [`slot_reset`], from what the
/// host says about swap.
fn keep_slots_resident(pooling: &mut PoolingAllocationConfig) {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok();
    let swap_max = std::fs::read_to_string("/sys/fs/cgroup/memory.swap.max").ok();
    let decision = slot_reset(
        PoolingAllocationConfig::is_pagemap_scan_available(),
        meminfo.as_deref(),
        swap_max.as_deref(),
    );
    match decision {
        SlotReset::InPlace => {
            tracing::debug!("instance slots are reset in place (PAGEMAP_SCAN, no swap)");
            pooling.pagemap_scan(Enabled::Yes);
            pooling.linear_memory_keep_resident(KEEP_RESIDENT_MEMORY_BYTES);
            pooling.table_keep_resident(KEEP_RESIDENT_TABLE_BYTES);
        }
        SlotReset::GiveBack(reason) if reason.is_slower_for_safety() => tracing::warn!(
            "instance slots are given back to the kernel after every call instead of being \
             reset in place, because {reason}; calls are slower (see docs/performance.md)"
        ),
        SlotReset::GiveBack(reason) => tracing::debug!(
            "instance slots are given back to the kernel after every call: {reason}"
        ),
    }
}

/// How a dropped instance's memory is made pristine for the next call.
#[derive(Debug, PartialEq, Eq)]
enum SlotReset {
    /// Find the pages the call wrote (`PAGEMAP_SCAN`) and restore them in
    /// place.
    InPlace,
    /// Give every page back to the kernel (`madvise`); the next call
    /// faults in fresh copies.
    GiveBack(GiveBackReason),
}

#[derive(Debug, PartialEq, Eq)]
enum GiveBackReason {
    /// The kernel has no `PAGEMAP_SCAN` (before Linux 6.7, or not Linux).
    NoPagemapScan,
    /// Pages of this process may be swapped out (KiB of swap on the host).
    Swap { total_kib: u64 },
    /// `/proc/meminfo` could not be read or has no `SwapTotal` line.
    SwapUnknown,
}

impl GiveBackReason {
    /// True when in-place reset was possible and is refused for safety.
    fn is_slower_for_safety(&self) -> bool {
        !matches!(self, GiveBackReason::NoPagemapScan)
    }
}

impl std::fmt::Display for GiveBackReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GiveBackReason::NoPagemapScan => {
                write!(
                    f,
                    "the kernel has no PAGEMAP_SCAN ioctl (Linux 6.7 or newer has it)"
                )
            }
            GiveBackReason::Swap { total_kib } => write!(
                f,
                "the host has {total_kib} KiB of swap and nothing says Hangar may not use it \
                 (/sys/fs/cgroup/memory.swap.max is not 0, or absent): wasmtime 48's in-place reset skips pages that \
                 are swapped out, so one call's page could reach the next call; turn swap \
                 off for Hangar (memory.swap.max = 0, or no swap on the node) to get the \
                 fast reset back"
            ),
            GiveBackReason::SwapUnknown => write!(
                f,
                "/proc/meminfo does not say whether the host has swap (no SwapTotal line)"
            ),
        }
    }
}

/// The one place that decides whether dropped instances are reset in place.
///
/// In-place reset is only as safe as the scan that finds what a call
/// wrote. wasmtime 48 asks `PAGEMAP_SCAN` for pages that are *present*:
/// a page a call wrote that the kernel has swapped out is not present, is
/// not reset, and comes back with the old call's bytes when the next
/// instance in the slot touches it. So in-place reset is used only when
/// nothing of this process can be swapped: the host has no swap
/// (`SwapTotal: 0 kB`), or this cgroup may not use it
/// (`memory.swap.max` is `0`). Anything unreadable counts as "may swap".
fn slot_reset(
    pagemap_scan: bool,
    meminfo: Option<&str>,
    cgroup_swap_max: Option<&str>,
) -> SlotReset {
    if !pagemap_scan {
        return SlotReset::GiveBack(GiveBackReason::NoPagemapScan);
    }
    if cgroup_swap_max.map(str::trim) == Some("0") {
        return SlotReset::InPlace;
    }
    let swap_total = meminfo.and_then(|text| {
        text.lines().find_map(|line| {
            let rest = line.strip_prefix("SwapTotal:")?;
            rest.trim().strip_suffix("kB")?.trim().parse::<u64>().ok()
        })
    });
    match swap_total {
        Some(0) => SlotReset::InPlace,
        Some(total_kib) => SlotReset::GiveBack(GiveBackReason::Swap { total_kib }),
        None => SlotReset::GiveBack(GiveBackReason::SwapUnknown),
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

#[cfg(test)]
mod tests {
    use super::{GiveBackReason, SlotReset, slot_reset};

    const NO_SWAP: &str = "MemTotal:       24684132 kB\nSwapCached:            0 kB\nSwapTotal:             0 kB\nSwapFree:              0 kB\n";
    const SWAP: &str =
        "MemTotal:       24684132 kB\nSwapTotal:       2097148 kB\nSwapFree:        2097148 kB\n";

    #[test]
    fn resets_in_place_only_when_nothing_can_be_swapped() {
        let swap = SlotReset::GiveBack(GiveBackReason::Swap { total_kib: 2097148 });
        let unknown = SlotReset::GiveBack(GiveBackReason::SwapUnknown);
        let no_scan = SlotReset::GiveBack(GiveBackReason::NoPagemapScan);
        let cases = [
            // (PAGEMAP_SCAN, /proc/meminfo, cgroup memory.swap.max) -> decision
            (true, Some(NO_SWAP), None, SlotReset::InPlace),
            (true, Some(NO_SWAP), Some("max\n"), SlotReset::InPlace),
            (true, Some(SWAP), None, swap),
            (
                true,
                Some(SWAP),
                Some("max\n"),
                SlotReset::GiveBack(GiveBackReason::Swap { total_kib: 2097148 }),
            ),
            (
                true,
                Some(SWAP),
                Some("1073741824\n"),
                SlotReset::GiveBack(GiveBackReason::Swap { total_kib: 2097148 }),
            ),
            // The cgroup may not swap: the host's swap does not matter.
            (true, Some(SWAP), Some("0\n"), SlotReset::InPlace),
            (true, None, Some("0"), SlotReset::InPlace),
            // Unreadable or unexpected counts as "may swap".
            (true, None, None, unknown),
            (
                true,
                Some("MemTotal: 1 kB\n"),
                None,
                SlotReset::GiveBack(GiveBackReason::SwapUnknown),
            ),
            (
                true,
                Some("SwapTotal: lots\n"),
                None,
                SlotReset::GiveBack(GiveBackReason::SwapUnknown),
            ),
            (
                true,
                Some("SwapTotal: 12 MB\n"),
                None,
                SlotReset::GiveBack(GiveBackReason::SwapUnknown),
            ),
            // Without the ioctl there is nothing to decide.
            (false, Some(NO_SWAP), Some("0"), no_scan),
        ];
        for (scan, meminfo, swap_max, expected) in cases {
            assert_eq!(
                slot_reset(scan, meminfo, swap_max),
                expected,
                "{scan} {meminfo:?} {swap_max:?}"
            );
        }
    }

    #[test]
    fn refusing_for_safety_says_how_to_get_speed_back() {
        let reason = GiveBackReason::Swap { total_kib: 8 }.to_string();
        assert!(reason.contains("memory.swap.max = 0"), "{reason}");
        assert!(GiveBackReason::Swap { total_kib: 8 }.is_slower_for_safety());
        assert!(GiveBackReason::SwapUnknown.is_slower_for_safety());
        assert!(!GiveBackReason::NoPagemapScan.is_slower_for_safety());
    }
}
