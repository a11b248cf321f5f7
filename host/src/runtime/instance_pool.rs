//! Instance reuse for plugins whose manifest opts in (`[reuse]`): a
//! per-plugin pool of idle instances, and the rules that decide whether an
//! instance may serve another call.
//!
//! Why it exists: a fresh instance per call is what makes one task's data
//! unreachable from the next, but for languages with a large runtime
//! (Python, JavaScript) instantiating costs far more than the call itself
//! (docs/performance.md). A component rewritten at load time
//! (`runtime::reuse::rewrite`) can put its own memory, globals and tables
//! back to the state they had right after instantiation: it exports
//! `hangar-commit-N` (take that state as the one to return to; called once
//! per instance, in order) and `hangar-reset-N` (return to it; 0 means
//! done). With those, an instance can serve call after call.
//!
//! Safety rules, all enforced here or in the one call path of `plugin.rs`:
//!
//! - Only a plugin whose manifest enables `[reuse]` is rewritten and pooled;
//!   every other plugin keeps a fresh instance per call.
//! - An instance is committed after one `describe` call, so that what a
//!   runtime opens on its first call (the WASI adapter's stdio streams) is
//!   part of the state every call starts from.
//! - An instance goes back to the pool only if its call returned normally
//!   (an agent error is a normal return; a trap, a timeout, running out of
//!   fuel or any other failure is not), the store's resource table holds
//!   exactly the handles it held at the commit (none of the call's is left
//!   open), and every reset returned 0 (see [`may_reuse`]). Otherwise it is
//!   dropped, as without reuse.
//! - The pool keeps at most `max_idle` instances; one more is dropped.
//! - An instance idle for `idle_timeout_seconds` is dropped by a sweep, so a
//!   burst's extra instances do not hold their memory for ever.
//! - A reused instance starts each call with a fresh per-call context (WASI,
//!   stderr capture, HTTP state, log context, secret counter: see
//!   `InstanceState::start_call`), a new deadline and a full fuel budget,
//!   exactly as a fresh instance would.
//!
//! An idle instance keeps its instance slot and its memory, at its peak
//! size: that is the price of each `max_idle` slot, until it times out.

use std::fmt;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use wasmtime::Store;
use wasmtime::component::{Component, ComponentExportIndex, Instance, ResourceTable, TypedFunc};

use super::export_cache::ExportCache;
use super::instance_state::InstanceState;
use crate::limits::Limits;
use crate::manifest::ReuseTable;

/// Largest `reuse.max_idle`.
pub const MAX_IDLE: u32 = 1024;
/// `reuse.max_idle` when unset: the plugin's `max_concurrent_calls`, at
/// most this many.
pub const DEFAULT_MAX_IDLE: u32 = 16;

/// Largest `reuse.idle_timeout_seconds`: a day.
pub const MAX_IDLE_TIMEOUT_SECONDS: u32 = 86_400;
/// `reuse.idle_timeout_seconds` when unset.
pub const DEFAULT_IDLE_TIMEOUT_SECONDS: u32 = 60;

/// A plugin's `[reuse]` setting, checked: present only when reuse is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReusePolicy {
    /// Idle instances kept for the next calls.
    pub max_idle: u32,
    /// How long an instance may stay idle before it is dropped.
    pub idle_timeout: Duration,
}

impl ReusePolicy {
    /// The policy `[reuse]` asks for (`None`: a fresh instance per call),
    /// or what is wrong with it, naming the key.
    pub fn from_manifest(table: &ReuseTable, limits: &Limits) -> Result<Option<Self>, String> {
        if let Some(max_idle) = table.max_idle
            && !(1..=MAX_IDLE).contains(&max_idle)
        {
            return Err(format!(
                "reuse.max_idle = {max_idle} is out of range: use 1 to {MAX_IDLE} (idle \
                 instances kept between calls, each holding its memory)"
            ));
        }
        if let Some(seconds) = table.idle_timeout_seconds
            && !(1..=MAX_IDLE_TIMEOUT_SECONDS).contains(&seconds)
        {
            return Err(format!(
                "reuse.idle_timeout_seconds = {seconds} is out of range: use 1 to \
                 {MAX_IDLE_TIMEOUT_SECONDS} (how long an idle instance is kept before it is \
                 dropped)"
            ));
        }
        let tuning = [
            table.max_idle.map(|n| format!("reuse.max_idle = {n}")),
            table
                .idle_timeout_seconds
                .map(|n| format!("reuse.idle_timeout_seconds = {n}")),
        ];
        match (table.enabled, tuning.iter().flatten().next()) {
            (None, Some(key)) => Err(format!(
                "{key} is set but reuse.enabled is not: add `enabled = true` to keep instances \
                 between calls (or `enabled = false` to keep a fresh instance per call)"
            )),
            (Some(true), _) => Ok(Some(ReusePolicy {
                max_idle: table
                    .max_idle
                    .unwrap_or_else(|| limits.max_concurrent_calls.min(DEFAULT_MAX_IDLE)),
                idle_timeout: Duration::from_secs(u64::from(
                    table
                        .idle_timeout_seconds
                        .unwrap_or(DEFAULT_IDLE_TIMEOUT_SECONDS),
                )),
            })),
            _ => Ok(None),
        }
    }
}

/// An instance ready for a call: its store (which owns it) and, for a
/// reusable one, its reset functions.
pub struct ReadyInstance {
    pub store: Store<InstanceState>,
    pub instance: Instance,
    /// Its typed exports, once a call has looked them up.
    pub exports: ExportCache,
    /// `hangar-reset-N`, in order; empty when the plugin does not reuse.
    resets: Vec<TypedFunc<(), (u32,)>>,
    /// The resource handles the instance held when it was committed.
    committed_handles: Vec<u32>,
}

impl ReadyInstance {
    /// A fresh instance, not reusable until [`InstancePool::commit`].
    pub fn new(store: Store<InstanceState>, instance: Instance) -> Self {
        ReadyInstance {
            store,
            instance,
            exports: ExportCache::default(),
            resets: Vec::new(),
            committed_handles: Vec::new(),
        }
    }
}

/// The idle instances of one plugin, and where its rewritten component
/// keeps its commit and reset exports.
pub struct InstancePool {
    max_idle: usize,
    commits: Vec<ComponentExportIndex>,
    resets: Vec<ComponentExportIndex>,
    /// Most recently returned last, so `take` reuses the warmest instance
    /// and the ones a burst left behind age out at the front.
    idle: Arc<Mutex<Vec<Idle>>>,
}

/// An idle instance and when it was given back.
struct Idle {
    ready: ReadyInstance,
    since: Instant,
}

/// Removes from `idle` (oldest first, as `give_back` pushes them) the
/// entries idle for `timeout` or longer at `now`, and returns them.
fn split_expired<T>(
    idle: &mut Vec<T>,
    since: impl Fn(&T) -> Instant,
    now: Instant,
    timeout: Duration,
) -> Vec<T> {
    let expired = idle
        .iter()
        .take_while(|entry| now.saturating_duration_since(since(entry)) >= timeout)
        .count();
    idle.drain(..expired).collect()
}

/// Drops the instances of `idle` that timed out, every `timeout / 2`
/// (at least 100 ms, at most 30 s), until the pool itself is dropped.
/// The instances are dropped outside the lock.
async fn sweep_idle(idle: Weak<Mutex<Vec<Idle>>>, timeout: Duration) {
    let period = (timeout / 2).clamp(Duration::from_millis(100), Duration::from_secs(30));
    loop {
        tokio::time::sleep(period).await;
        let Some(idle) = idle.upgrade() else { return };
        let expired = split_expired(
            &mut idle.lock().unwrap_or_else(|e| e.into_inner()),
            |entry| entry.since,
            Instant::now(),
            timeout,
        );
        if !expired.is_empty() {
            tracing::debug!(dropped = expired.len(), "idle instances timed out");
        }
        drop(expired);
    }
}

/// `hangar-commit-0`, `hangar-commit-1`, ... as far as the component has them.
fn numbered_exports(component: &Component, prefix: &str) -> Vec<ComponentExportIndex> {
    (0..)
        .map_while(|n| component.get_export_index(None, format!("{prefix}{n}")))
        .collect()
}

impl InstancePool {
    /// A pool for `component` (already rewritten), which must export at
    /// least one commit and one reset.
    pub fn new(component: &Component, policy: ReusePolicy) -> anyhow::Result<Self> {
        let commits = numbered_exports(component, super::reuse::COMMIT_PREFIX);
        let resets = numbered_exports(component, super::reuse::RESET_PREFIX);
        if commits.is_empty() || resets.is_empty() {
            anyhow::bail!(
                "[reuse] is enabled but the rewritten component exports no hangar-commit-0 or no \
                 hangar-reset-0, so its instances cannot be reset; remove [reuse] to run it \
                 with a fresh instance per call"
            );
        }
        let idle = Arc::new(Mutex::new(Vec::new()));
        // Outside a runtime (a plain test) nothing sweeps: instances then
        // live until the pool is dropped, as with an endless timeout.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(sweep_idle(Arc::downgrade(&idle), policy.idle_timeout));
        }
        Ok(InstancePool {
            max_idle: policy.max_idle as usize,
            commits,
            resets,
            idle,
        })
    }

    /// The most recently used idle instance, if there is one.
    pub fn take(&self) -> Option<ReadyInstance> {
        self.idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop()
            .map(|idle| idle.ready)
    }

    fn idle_count(&self) -> usize {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Makes a freshly instantiated instance reusable: calls every commit
    /// once, in order, and looks up its resets. An error is an
    /// instantiation failure (the instance must be dropped).
    pub async fn commit(&self, ready: &mut ReadyInstance) -> wasmtime::Result<()> {
        let store = &mut ready.store;
        for index in &self.commits {
            let commit = ready
                .instance
                .get_typed_func::<(), ()>(&mut *store, index)?;
            commit.call_async(&mut *store, ()).await?;
        }
        ready.resets = self
            .resets
            .iter()
            .map(|index| {
                ready
                    .instance
                    .get_typed_func::<(), (u32,)>(&mut *store, index)
            })
            .collect::<wasmtime::Result<_>>()?;
        ready.committed_handles = occupied_handles(&mut store.data_mut().table)
            .ok_or_else(|| wasmtime::Error::msg("cannot list the instance's resource handles"))?;
        Ok(())
    }

    /// After a call: resets `ready` and keeps it for the next call when
    /// [`may_reuse`] allows, else drops it and says why. `returned` is
    /// whether the call returned normally; `fuel` refills the store before
    /// the resets when the engine meters fuel (the resets are the host's
    /// housekeeping, not the call's work). The resets run under the call's
    /// epoch deadline, so a reset past it is interrupted and the instance
    /// dropped.
    pub async fn give_back(
        &self,
        mut ready: ReadyInstance,
        returned: bool,
        fuel: Option<u64>,
    ) -> Result<(), WhyNotReused> {
        let mut after = AfterCall {
            returned,
            handles_left: occupied_handles(&mut ready.store.data_mut().table).as_ref()
                != Some(&ready.committed_handles),
            reset: None,
            idle: self.idle_count(),
            max_idle: self.max_idle,
        };
        // Everything but the resets first, so that an instance that is
        // dropped anyway is not reset for nothing.
        match may_reuse(&after) {
            Ok(()) | Err(WhyNotReused::NotReset) => {}
            Err(why) => return Err(why),
        }
        after.reset = Some(reset(&mut ready, fuel).await);
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        after.idle = idle.len();
        may_reuse(&after)?;
        idle.push(Idle {
            ready,
            since: Instant::now(),
        });
        Ok(())
    }
}

/// Indices of the handles in `table`, in order (`None` if they cannot all
/// be found, which never happens with tables of the size a call makes).
/// A handle a call opens and leaves open changes this list; one it opens
/// and closes does not.
fn occupied_handles(table: &mut ResourceTable) -> Option<Vec<u32>> {
    const LOOK_AT_MOST: u32 = 1 << 16;
    let count = table.iter_mut().count();
    let mut found = Vec::with_capacity(count);
    let mut index = 0;
    while found.len() < count {
        if index >= LOOK_AT_MOST {
            return None;
        }
        if table.get_any_mut(index).is_ok() {
            found.push(index);
        }
        index += 1;
    }
    Some(found)
}

/// Calls every reset of `ready` in order; the first that fails or answers
/// nonzero ends it.
async fn reset(ready: &mut ReadyInstance, fuel: Option<u64>) -> ResetOutcome {
    // An instance that was never committed has no state to return to.
    if ready.resets.is_empty() {
        return ResetOutcome::Failed {
            export: 0,
            reason: "the instance was never committed".into(),
        };
    }
    if let Some(fuel) = fuel
        && let Err(e) = ready.store.set_fuel(fuel)
    {
        return ResetOutcome::Failed {
            export: 0,
            reason: super::one_line(&format!("{e:#}")),
        };
    }
    for (export, reset) in ready.resets.iter().enumerate() {
        match reset.call_async(&mut ready.store, ()).await {
            Ok((0,)) => {}
            Ok((code,)) => return ResetOutcome::Refused { export, code },
            // The call used up its time; not the reset's fault.
            Err(e) if e.downcast_ref::<wasmtime::Trap>() == Some(&wasmtime::Trap::Interrupt) => {
                return ResetOutcome::Interrupted;
            }
            Err(e) => {
                return ResetOutcome::Failed {
                    export,
                    reason: super::one_line(&format!("{e:#}")),
                };
            }
        }
    }
    ResetOutcome::Clean
}

/// What the resets of an instance did after a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResetOutcome {
    /// Every reset returned 0: the instance is as it was after its commits.
    Clean,
    /// `hangar-reset-{export}` returned `code` (not 0).
    Refused { export: usize, code: u32 },
    /// The call's deadline passed during a reset.
    Interrupted,
    /// `hangar-reset-{export}` trapped.
    Failed { export: usize, reason: String },
}

/// What is known about an instance once its call is over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AfterCall {
    /// The call returned normally (an agent error counts; a trap, timeout
    /// or other failure does not).
    pub returned: bool,
    /// The store's resource table holds other handles than at the commit.
    pub handles_left: bool,
    /// What the resets did; `None` while they have not run.
    pub reset: Option<ResetOutcome>,
    /// Instances idle in the pool now.
    pub idle: usize,
    pub max_idle: usize,
}

/// Why an instance was dropped instead of going back to the pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WhyNotReused {
    /// The call did not return normally.
    CallFailed,
    /// A resource handle of the call survived it.
    HandlesLeft,
    /// The pool already holds `max_idle` instances.
    PoolFull { max_idle: usize },
    /// The resets have not run (yet); the only reason left when asked
    /// before resetting.
    NotReset,
    /// A reset returned nonzero.
    ResetRefused { export: usize, code: u32 },
    /// The call's deadline passed before the resets were done.
    ResetInterrupted,
    /// A reset trapped (a fault of the rewrite, not of the call).
    ResetFailed { export: usize, reason: String },
}

impl fmt::Display for WhyNotReused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WhyNotReused::CallFailed => write!(f, "the call did not return normally"),
            WhyNotReused::HandlesLeft => {
                write!(
                    f,
                    "a resource handle of the call is still open (or one of the commit's was closed)"
                )
            }
            WhyNotReused::PoolFull { max_idle } => {
                write!(f, "{max_idle} instances are idle already (reuse.max_idle)")
            }
            WhyNotReused::NotReset => write!(f, "the instance was not reset"),
            WhyNotReused::ResetRefused { export, code } => {
                write!(f, "hangar-reset-{export} returned {code}")
            }
            WhyNotReused::ResetInterrupted => {
                write!(f, "the call's time limit passed during the reset")
            }
            WhyNotReused::ResetFailed { export, reason } => {
                write!(f, "hangar-reset-{export} failed: {reason}")
            }
        }
    }
}

/// The rule: an instance serves another call only if its call returned
/// normally, left no resource handle open, the pool has room, and every
/// reset returned 0. The first rule broken is the answer.
pub fn may_reuse(after: &AfterCall) -> Result<(), WhyNotReused> {
    if !after.returned {
        return Err(WhyNotReused::CallFailed);
    }
    if after.handles_left {
        return Err(WhyNotReused::HandlesLeft);
    }
    if after.idle >= after.max_idle {
        return Err(WhyNotReused::PoolFull {
            max_idle: after.max_idle,
        });
    }
    match &after.reset {
        None => Err(WhyNotReused::NotReset),
        Some(ResetOutcome::Clean) => Ok(()),
        Some(ResetOutcome::Refused { export, code }) => Err(WhyNotReused::ResetRefused {
            export: *export,
            code: *code,
        }),
        Some(ResetOutcome::Interrupted) => Err(WhyNotReused::ResetInterrupted),
        Some(ResetOutcome::Failed { export, reason }) => Err(WhyNotReused::ResetFailed {
            export: *export,
            reason: reason.clone(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_clean_normal_call_with_room_is_reused() {
        let ok = AfterCall {
            returned: true,
            handles_left: false,
            reset: Some(ResetOutcome::Clean),
            idle: 0,
            max_idle: 2,
        };
        let refused = ResetOutcome::Refused { export: 1, code: 3 };
        let failed = ResetOutcome::Failed {
            export: 0,
            reason: "unreachable".into(),
        };
        let cases: Vec<(&str, AfterCall, Result<(), WhyNotReused>)> = vec![
            ("clean", ok.clone(), Ok(())),
            (
                "one slot left",
                AfterCall {
                    idle: 1,
                    ..ok.clone()
                },
                Ok(()),
            ),
            (
                "trap or timeout",
                AfterCall {
                    returned: false,
                    ..ok.clone()
                },
                Err(WhyNotReused::CallFailed),
            ),
            (
                "a handle survived",
                AfterCall {
                    handles_left: true,
                    ..ok.clone()
                },
                Err(WhyNotReused::HandlesLeft),
            ),
            (
                "pool full",
                AfterCall {
                    idle: 2,
                    ..ok.clone()
                },
                Err(WhyNotReused::PoolFull { max_idle: 2 }),
            ),
            (
                "not reset yet",
                AfterCall {
                    reset: None,
                    ..ok.clone()
                },
                Err(WhyNotReused::NotReset),
            ),
            (
                "reset said no",
                AfterCall {
                    reset: Some(refused),
                    ..ok.clone()
                },
                Err(WhyNotReused::ResetRefused { export: 1, code: 3 }),
            ),
            (
                "deadline during the reset",
                AfterCall {
                    reset: Some(ResetOutcome::Interrupted),
                    ..ok.clone()
                },
                Err(WhyNotReused::ResetInterrupted),
            ),
            (
                "reset trapped",
                AfterCall {
                    reset: Some(failed),
                    ..ok.clone()
                },
                Err(WhyNotReused::ResetFailed {
                    export: 0,
                    reason: "unreachable".into(),
                }),
            ),
            // Before the resets, the rules that drop anyway come first, so
            // a doomed instance is not reset.
            (
                "failed call, not reset",
                AfterCall {
                    returned: false,
                    reset: None,
                    ..ok.clone()
                },
                Err(WhyNotReused::CallFailed),
            ),
            (
                "full pool, not reset",
                AfterCall {
                    idle: 5,
                    reset: None,
                    ..ok.clone()
                },
                Err(WhyNotReused::PoolFull { max_idle: 2 }),
            ),
        ];
        for (name, after, expected) in cases {
            assert_eq!(may_reuse(&after), expected, "{name}");
        }
    }

    #[test]
    fn only_instances_idle_for_the_timeout_are_dropped() {
        let start = Instant::now();
        let at = |ms| start + Duration::from_millis(ms);
        let second = Duration::from_secs(1);
        /// Given back at (ms, in push order), now, expected dropped, kept.
        type Case = (&'static [u64], u64, &'static [u64], &'static [u64]);
        let cases: [Case; 6] = [
            (&[], 5_000, &[], &[]),
            (&[0, 100, 200], 500, &[], &[0, 100, 200]),
            (&[0, 100, 200], 1_000, &[0], &[100, 200]),
            (&[0, 100, 200], 1_150, &[0, 100], &[200]),
            (&[0, 100, 200], 9_000, &[0, 100, 200], &[]),
            // Exactly the timeout counts as timed out.
            (&[200], 1_200, &[200], &[]),
        ];
        for (given_back, now, dropped, kept) in cases {
            let mut idle: Vec<u64> = given_back.to_vec();
            let got = split_expired(&mut idle, |&ms| at(ms), at(now), second);
            assert_eq!(
                (got.as_slice(), idle.as_slice()),
                (dropped, kept),
                "now {now}"
            );
        }
    }

    #[test]
    fn reuse_settings_resolve_or_explain() {
        let limits = |calls| Limits {
            max_concurrent_calls: calls,
            ..Limits::default()
        };
        let table = |enabled, max_idle| ReuseTable {
            enabled,
            max_idle,
            idle_timeout_seconds: None,
        };
        let timing_out = |enabled, seconds| ReuseTable {
            enabled,
            max_idle: None,
            idle_timeout_seconds: Some(seconds),
        };
        let minute = Duration::from_secs(60);
        let on = |max_idle| {
            Ok(Some(ReusePolicy {
                max_idle,
                idle_timeout: minute,
            }))
        };
        let on_for = |max_idle, seconds| {
            Ok(Some(ReusePolicy {
                max_idle,
                idle_timeout: Duration::from_secs(seconds),
            }))
        };
        /// A policy, or a fragment of the error.
        type Expected = Result<Option<ReusePolicy>, &'static str>;
        // (table, max_concurrent_calls, expected)
        let cases: Vec<(ReuseTable, u32, Expected)> = vec![
            (table(None, None), 32, Ok(None)),
            (table(Some(false), None), 32, Ok(None)),
            (table(Some(false), Some(4)), 32, Ok(None)),
            (table(Some(true), None), 32, on(16)),
            (table(Some(true), None), 4, on(4)),
            (table(Some(true), Some(1)), 32, on(1)),
            (table(Some(true), Some(1024)), 2, on(1024)),
            (
                table(Some(true), Some(0)),
                32,
                Err("reuse.max_idle = 0 is out of range: use 1 to 1024"),
            ),
            (
                table(Some(true), Some(1025)),
                32,
                Err("reuse.max_idle = 1025 is out of range"),
            ),
            (
                table(Some(false), Some(0)),
                32,
                Err("reuse.max_idle = 0 is out of range"),
            ),
            (
                table(None, Some(4)),
                32,
                Err("reuse.max_idle = 4 is set but reuse.enabled is not: add `enabled = true`"),
            ),
            (timing_out(Some(true), 1), 32, on_for(16, 1)),
            (timing_out(Some(true), 86_400), 4, on_for(4, 86_400)),
            (timing_out(Some(false), 5), 32, Ok(None)),
            (
                timing_out(Some(true), 0),
                32,
                Err("reuse.idle_timeout_seconds = 0 is out of range: use 1 to 86400"),
            ),
            (
                timing_out(Some(true), 86_401),
                32,
                Err("reuse.idle_timeout_seconds = 86401 is out of range"),
            ),
            (
                timing_out(None, 5),
                32,
                Err("reuse.idle_timeout_seconds = 5 is set but reuse.enabled is not"),
            ),
        ];
        for (table, calls, expected) in cases {
            let got = ReusePolicy::from_manifest(&table, &limits(calls));
            match (&got, &expected) {
                (Ok(policy), Ok(want)) => assert_eq!(policy, want, "{table:?}"),
                (Err(e), Err(fragment)) => assert!(e.contains(fragment), "{table:?}: {e}"),
                _ => panic!("{table:?}: got {got:?}, expected {expected:?}"),
            }
        }
    }
}
