//! The one wasmtime `Engine` every plugin shares, configured for serving:
//! async calls (a slow plugin never blocks a thread), epoch interruption for
//! wall-clock deadlines, and the pooling allocator so a fresh instance per
//! call is cheap. Fuel metering only when some plugin has a fuel limit (see
//! [`crate::limits::fuel_metering_needed`] for why).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::Thread;
use std::time::Duration;

use anyhow::Context;
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::limits::MAX_MEMORY_MIB;

/// How often the epoch advances. Each tick, a running guest checks its
/// wall-clock deadline and yields to the async runtime (see `plugin.rs`).
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// What the engine tells a profiler about the code it compiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profiling {
    /// Nothing: guest code shows as bare addresses.
    Off,
    /// wasmtime writes `/tmp/perf-PID.map`, so that `perf report` names
    /// guest functions (`wasm[8]::function[4035]::_PyEval_EvalFrameDefault`):
    /// how the profiles in docs/performance.md were taken (`serve
    /// --perf-map`). The map grows with every module loaded and is never
    /// trimmed, so it is off by default.
    PerfMap,
}

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
pub fn build_engine(
    pool: Option<PoolSettings>,
    fuel: bool,
    profiling: Profiling,
) -> anyhow::Result<Engine> {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    config.consume_fuel(fuel);
    if profiling == Profiling::PerfMap {
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    if let Some(pool) = pool {
        let mut pooling = PoolingAllocationConfig::default();
        // A component such as a componentized Go or Python program holds
        // several core instances, memories and tables.
        pooling.total_component_instances(pool.max_instances);
        pooling.total_core_instances(pool.max_instances * 8);
        // A component rewritten for `[reuse]` (see `instance_pool`) has two
        // more memories, for its reset's bookkeeping, in the module that
        // defines its own memory, and a shadow copy of every table a module
        // defines.
        pooling.total_memories(pool.max_instances * 4);
        pooling.max_memories_per_module(3);
        pooling.total_tables(pool.max_instances * 16);
        pooling.max_tables_per_module(4);
        pooling.max_memory_size(pool.max_memory_bytes as usize);
        pooling.max_memories_per_component(8);
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
    let read = |path: &str| std::fs::read_to_string(path).ok();
    let swap_max = read("/sys/fs/cgroup/memory.swap.max");
    let v1_memory = read("/sys/fs/cgroup/memory/memory.limit_in_bytes");
    let v1_memory_and_swap = read("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes");
    let decision = slot_reset(
        PoolingAllocationConfig::is_pagemap_scan_available(),
        meminfo.as_deref(),
        CgroupSwap {
            v2_swap_max: swap_max.as_deref(),
            v1_memory_limit: v1_memory.as_deref(),
            v1_memory_and_swap_limit: v1_memory_and_swap.as_deref(),
        },
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
                 (/sys/fs/cgroup/memory.swap.max is not 0, or absent; or, on cgroup v1, \
                 memory.memsw.limit_in_bytes is above memory.limit_in_bytes): wasmtime 48's \
                 in-place reset skips pages that are swapped out, so one call's page could \
                 reach the next call; turn swap off for Hangar (memory.swap.max = 0, or no \
                 swap on the node) to get the fast reset back"
            ),
            GiveBackReason::SwapUnknown => write!(
                f,
                "/proc/meminfo does not say whether the host has swap (no SwapTotal line)"
            ),
        }
    }
}

/// What this process's cgroup says about swap, as read from its files
/// (`None` when a file is absent or unreadable).
#[derive(Clone, Copy, Default)]
struct CgroupSwap<'a> {
    /// cgroup v2 `memory.swap.max`: `0` means no swap for this cgroup.
    v2_swap_max: Option<&'a str>,
    /// cgroup v1 `memory.limit_in_bytes`.
    v1_memory_limit: Option<&'a str>,
    /// cgroup v1 `memory.memsw.limit_in_bytes` (memory plus swap): equal to
    /// the memory limit means not one byte may be swapped.
    v1_memory_and_swap_limit: Option<&'a str>,
}

impl CgroupSwap<'_> {
    /// True only when the cgroup's own limits forbid any swap.
    fn forbids_swap(&self) -> bool {
        if self.v2_swap_max.map(str::trim) == Some("0") {
            return true;
        }
        // cgroup v1 prints "no limit" as a huge number (PAGE_COUNTER_MAX
        // pages, about 2^63 bytes); two such values being equal says nothing.
        const V1_UNLIMITED: u64 = 1 << 62;
        let bytes = |text: Option<&str>| text?.trim().parse::<u64>().ok();
        match (
            bytes(self.v1_memory_limit),
            bytes(self.v1_memory_and_swap_limit),
        ) {
            (Some(memory), Some(memory_and_swap)) => {
                memory < V1_UNLIMITED && memory_and_swap <= memory
            }
            _ => false,
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
/// (`SwapTotal: 0 kB`), or this cgroup may not use it (v2 `memory.swap.max`
/// is `0`; v1 `memory.memsw.limit_in_bytes` equals a real
/// `memory.limit_in_bytes`). Anything unreadable counts as "may swap".
fn slot_reset(pagemap_scan: bool, meminfo: Option<&str>, cgroup: CgroupSwap<'_>) -> SlotReset {
    if !pagemap_scan {
        return SlotReset::GiveBack(GiveBackReason::NoPagemapScan);
    }
    if cgroup.forbids_swap() {
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
/// while a guest may be running (see [`GuestActivity`]), until the returned
/// guard is dropped. Deadlines are counted in ticks.
pub fn start_epoch_ticker(engine: &Engine) -> EpochTicker {
    let shared = Arc::new(TickerShared::default());
    let engine = engine.clone();
    let state = shared.clone();
    let thread = std::thread::Builder::new()
        .name("hangar-epoch".into())
        .spawn(move || {
            while !state.stop.load(Ordering::SeqCst) {
                if state.running.load(Ordering::SeqCst) == 0 {
                    // Woken by the next call's `GuestActivity::enter` (or
                    // by the guard's drop); a spurious return just loops.
                    std::thread::park();
                    continue;
                }
                std::thread::sleep(EPOCH_TICK);
                engine.increment_epoch();
                state.ticks.fetch_add(1, Ordering::Relaxed);
            }
        })
        .ok();
    if let Some(handle) = &thread {
        let _ = shared.thread.set(handle.thread().clone());
    }
    EpochTicker { shared }
}

/// What the epoch thread and the calls share.
#[derive(Default)]
struct TickerShared {
    /// Calls that may be running guest code now.
    running: AtomicUsize,
    stop: AtomicBool,
    /// Set once the thread has started; unparked when `running` leaves 0.
    thread: OnceLock<Thread>,
    /// Epochs advanced so far (for tests and debugging).
    ticks: AtomicU64,
}

impl TickerShared {
    fn wake(&self) {
        if let Some(thread) = self.thread.get() {
            thread.unpark();
        }
    }
}

/// Stops the epoch thread when dropped.
pub struct EpochTicker {
    shared: Arc<TickerShared>,
}

impl EpochTicker {
    /// The handle calls use to keep the epoch advancing while they run.
    pub fn activity(&self) -> GuestActivity {
        GuestActivity(Some(self.shared.clone()))
    }

    /// Epochs advanced so far.
    #[cfg(test)]
    fn ticks(&self) -> u64 {
        self.shared.ticks.load(Ordering::Relaxed)
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.wake();
    }
}

/// Tells the epoch thread when guest code may run. Epoch interruption is
/// what stops a guest at its deadline, so the epoch must advance whenever
/// one runs; when none does, the thread sleeps instead of waking 100 times
/// a second (an idle server was measured at about 140 wake-ups a second,
/// most of them this thread's: docs/performance.md, "Since: the outputs
/// taken from the template's bytes"). Every call into a plugin holds a
/// [`RunningGuest`] from before its instance is readied until after its
/// reset.
///
/// The default has no epoch thread behind it: nothing then interrupts a
/// guest at its deadline.
#[derive(Clone, Default)]
pub struct GuestActivity(Option<Arc<TickerShared>>);

impl GuestActivity {
    /// Marks a call as running until the returned guard is dropped; the
    /// first one wakes the epoch thread.
    pub fn enter(&self) -> RunningGuest {
        if let Some(shared) = &self.0
            && shared.running.fetch_add(1, Ordering::SeqCst) == 0
        {
            shared.wake();
        }
        RunningGuest(self.0.clone())
    }
}

/// One call that may be running guest code (see [`GuestActivity`]).
pub struct RunningGuest(Option<Arc<TickerShared>>);

impl Drop for RunningGuest {
    fn drop(&mut self) {
        if let Some(shared) = &self.0 {
            shared.running.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{CgroupSwap, GiveBackReason, SlotReset, slot_reset};

    /// The epoch advances while a call runs and stops when none does; a
    /// call that starts after an idle spell wakes it again. The waits poll
    /// with a generous cap, so a busy machine that schedules the thread
    /// late does not fail it; an epoch thread that ticks while idle, or
    /// sleeps through a call, does.
    #[test]
    fn the_epoch_advances_only_while_a_guest_runs() {
        use super::{EPOCH_TICK, EpochTicker, start_epoch_ticker};
        use std::time::Instant;
        let cap = Duration::from_secs(5);
        // The tick count once it has not moved for 10 ticks (the thread
        // has parked: it cannot tick again until woken).
        let settled = |ticker: &EpochTicker| {
            let start = Instant::now();
            loop {
                let seen = ticker.ticks();
                std::thread::sleep(EPOCH_TICK * 10);
                if ticker.ticks() == seen || start.elapsed() > cap {
                    return seen;
                }
            }
        };
        let engine = wasmtime::Engine::default();
        let ticker = start_epoch_ticker(&engine);
        let activity = ticker.activity();
        std::thread::sleep(EPOCH_TICK * 10);
        assert_eq!(ticker.ticks(), 0, "ticked with no call running");
        for round in 0..2 {
            let before = ticker.ticks();
            let running = activity.enter();
            let start = Instant::now();
            while ticker.ticks() < before + 3 && start.elapsed() < cap {
                std::thread::sleep(EPOCH_TICK);
            }
            assert!(
                ticker.ticks() >= before + 3,
                "round {round}: fewer than 3 ticks in {cap:?} while a call ran"
            );
            drop(running);
            let idle = settled(&ticker);
            std::thread::sleep(EPOCH_TICK * 20);
            assert_eq!(
                ticker.ticks(),
                idle,
                "round {round}: ticked after the call ended"
            );
        }
    }

    const NO_SWAP: &str = "MemTotal:       24684132 kB\nSwapCached:            0 kB\nSwapTotal:             0 kB\nSwapFree:              0 kB\n";
    const SWAP: &str =
        "MemTotal:       24684132 kB\nSwapTotal:       2097148 kB\nSwapFree:        2097148 kB\n";

    /// Only cgroup v2's `memory.swap.max` readable.
    fn v2(swap_max: Option<&str>) -> CgroupSwap<'_> {
        CgroupSwap {
            v2_swap_max: swap_max,
            ..CgroupSwap::default()
        }
    }

    /// Only cgroup v1's memory and memory+swap limits readable.
    fn v1<'a>(memory: Option<&'a str>, memory_and_swap: Option<&'a str>) -> CgroupSwap<'a> {
        CgroupSwap {
            v1_memory_limit: memory,
            v1_memory_and_swap_limit: memory_and_swap,
            ..CgroupSwap::default()
        }
    }

    #[test]
    fn resets_in_place_only_when_nothing_can_be_swapped() {
        let swap = || SlotReset::GiveBack(GiveBackReason::Swap { total_kib: 2097148 });
        let unknown = || SlotReset::GiveBack(GiveBackReason::SwapUnknown);
        const V1_NO_LIMIT: &str = "9223372036854771712\n";
        let cases = [
            // (PAGEMAP_SCAN, /proc/meminfo, cgroup files) -> decision
            (true, Some(NO_SWAP), v2(None), SlotReset::InPlace),
            (true, Some(NO_SWAP), v2(Some("max\n")), SlotReset::InPlace),
            (true, Some(SWAP), v2(None), swap()),
            (true, Some(SWAP), v2(Some("max\n")), swap()),
            (true, Some(SWAP), v2(Some("1073741824\n")), swap()),
            // The cgroup may not swap: the host's swap does not matter.
            (true, Some(SWAP), v2(Some("0\n")), SlotReset::InPlace),
            (true, None, v2(Some("0")), SlotReset::InPlace),
            // cgroup v1: memory+swap no higher than memory forbids swap...
            (
                true,
                Some(SWAP),
                v1(Some("1073741824\n"), Some("1073741824\n")),
                SlotReset::InPlace,
            ),
            // ...but not when both are "no limit", or swap has room.
            (
                true,
                Some(SWAP),
                v1(Some(V1_NO_LIMIT), Some(V1_NO_LIMIT)),
                swap(),
            ),
            (
                true,
                Some(SWAP),
                v1(Some("1073741824\n"), Some("2147483648\n")),
                swap(),
            ),
            (true, Some(SWAP), v1(Some("1073741824\n"), None), swap()),
            (true, Some(SWAP), v1(Some("lots"), Some("lots")), swap()),
            // Unreadable or unexpected counts as "may swap".
            (true, None, v2(None), unknown()),
            (true, Some("MemTotal: 1 kB\n"), v2(None), unknown()),
            (true, Some("SwapTotal: lots\n"), v2(None), unknown()),
            (true, Some("SwapTotal: 12 MB\n"), v2(None), unknown()),
            // Without the ioctl there is nothing to decide.
            (
                false,
                Some(NO_SWAP),
                v2(Some("0")),
                SlotReset::GiveBack(GiveBackReason::NoPagemapScan),
            ),
        ];
        for (scan, meminfo, cgroup, expected) in cases {
            let (v2_swap_max, v1_memory, v1_memory_and_swap) = (
                cgroup.v2_swap_max,
                cgroup.v1_memory_limit,
                cgroup.v1_memory_and_swap_limit,
            );
            assert_eq!(
                slot_reset(scan, meminfo, cgroup),
                expected,
                "{scan} {meminfo:?} {v2_swap_max:?} {v1_memory:?} {v1_memory_and_swap:?}"
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
