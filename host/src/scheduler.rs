//! Which tokio scheduler runs `hangar serve`, and on how many threads.
//!
//! One thread runs tokio's current-thread scheduler, not the work-stealing
//! one with a single worker. The work-stealing scheduler runs the task that
//! another task has just woken next (its "LIFO slot"). So as soon as a call's
//! task finishes, the HTTP/2 connection task runs and flushes that one answer.
//! That makes one `writev` per call, and on loopback each one also pays to
//! wake the client. The current-thread scheduler has no such slot: the
//! connection task runs after the calls that are ready, and flushes their
//! answers together.
//!
//! Measured against the work-stealing scheduler with one worker, each
//! language's reused echo agent, the load generator sharing the CPUs
//! (docs/performance.md, "Since: one thread, the current-thread scheduler"):
//! - server CPU per call fell 14-29%, round by round;
//! - calls per second rose in every round: Rust by 3-14%, the other
//!   languages by 21-40%;
//! - p99 fell.
//!
//! More than one thread runs the work-stealing scheduler, which spreads the
//! calls over the CPUs, with its LIFO slot turned off for the same reason:
//! answers then leave in batches there too. Measured against the slot on,
//! reused Rust echo, two workers: server CPU per call fell 9-15% and calls
//! per second rose 2-21%, round by round (docs/performance.md, "Since: the
//! LIFO slot off for the default workers").
//!
//! tokio offers `disable_lifo_slot` only in builds made with
//! `--cfg tokio_unstable`, which `.cargo/config.toml` passes to every native
//! build of the workspace. A build without it (a `RUSTFLAGS` of one's own
//! replaces that list) keeps the slot on, and [`lifo_slot`] says so in the
//! `serving` log line.

use std::num::NonZeroUsize;

/// The scheduler and its thread count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheduler {
    /// tokio's current-thread scheduler: everything on one thread.
    CurrentThread,
    /// tokio's multi-thread (work-stealing) scheduler with this many workers.
    MultiThread(usize),
}

impl Scheduler {
    /// `asked` is the checked `--worker-threads` (or its environment
    /// variable or config key), or `None` when it is unset. `cpus` is how
    /// many CPUs the process may use. When unset, one thread per CPU;
    /// exactly one thread means the current-thread scheduler.
    pub fn choose(asked: Option<usize>, cpus: usize) -> Scheduler {
        match asked.unwrap_or(cpus).max(1) {
            1 => Scheduler::CurrentThread,
            threads => Scheduler::MultiThread(threads),
        }
    }

    /// A runtime builder for this scheduler (I/O and timers still to enable).
    pub fn builder(self) -> tokio::runtime::Builder {
        match self {
            Scheduler::CurrentThread => tokio::runtime::Builder::new_current_thread(),
            Scheduler::MultiThread(threads) => {
                let mut builder = tokio::runtime::Builder::new_multi_thread();
                builder.worker_threads(threads);
                #[cfg(tokio_unstable)]
                builder.disable_lifo_slot();
                builder
            }
        }
    }
}

/// The CPUs this process may use. The count takes in its affinity and its
/// cgroup CPU quota, rounded down, and is at least 1. tokio's own default is
/// this number too, unless `TOKIO_WORKER_THREADS` is set; Hangar does not
/// read that variable (its setting is `HANGAR_WORKER_THREADS`).
pub fn available_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, NonZeroUsize::get)
}

/// Whether the running scheduler has a LIFO slot, for the `serving` log
/// line: `none` on the current-thread scheduler, which has none; on the
/// multi-thread one `off` when this build turns it off ([`Scheduler::builder`]
/// does whenever it can), `on` otherwise.
pub fn lifo_slot() -> &'static str {
    use tokio::runtime::RuntimeFlavor;
    match tokio::runtime::Handle::current().runtime_flavor() {
        RuntimeFlavor::CurrentThread => "none",
        RuntimeFlavor::MultiThread if cfg!(tokio_unstable) => "off",
        RuntimeFlavor::MultiThread => "on",
        _ => "unknown",
    }
}

/// The name the `serving` log line gives the running scheduler.
pub fn running() -> &'static str {
    match tokio::runtime::Handle::current().runtime_flavor() {
        tokio::runtime::RuntimeFlavor::CurrentThread => "current-thread",
        tokio::runtime::RuntimeFlavor::MultiThread => "multi-thread",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_thread_is_the_current_thread_scheduler_whoever_asked() {
        // (asked, CPUs the process may use, expected)
        let table = [
            (Some(1), 8, Scheduler::CurrentThread),
            (Some(1), 1, Scheduler::CurrentThread),
            (None, 1, Scheduler::CurrentThread),
            (None, 0, Scheduler::CurrentThread),
            (None, 2, Scheduler::MultiThread(2)),
            (None, 16, Scheduler::MultiThread(16)),
            (Some(2), 1, Scheduler::MultiThread(2)),
            (Some(4), 2, Scheduler::MultiThread(4)),
        ];
        for (asked, cpus, expected) in table {
            assert_eq!(
                Scheduler::choose(asked, cpus),
                expected,
                "asked {asked:?} with {cpus} CPUs"
            );
        }
    }

    #[test]
    fn each_builder_starts_the_scheduler_it_names() {
        for (scheduler, flavor, workers) in [
            (
                Scheduler::CurrentThread,
                tokio::runtime::RuntimeFlavor::CurrentThread,
                1,
            ),
            (
                Scheduler::MultiThread(3),
                tokio::runtime::RuntimeFlavor::MultiThread,
                3,
            ),
        ] {
            let runtime = scheduler.builder().enable_all().build().expect("runtime");
            assert_eq!(runtime.handle().runtime_flavor(), flavor);
            assert_eq!(runtime.metrics().num_workers(), workers);
            let (name, lifo) = runtime.block_on(async { (running(), lifo_slot()) });
            assert_eq!(
                (name, lifo),
                match scheduler {
                    Scheduler::CurrentThread => ("current-thread", "none"),
                    Scheduler::MultiThread(_) if cfg!(tokio_unstable) => ("multi-thread", "off"),
                    Scheduler::MultiThread(_) => ("multi-thread", "on"),
                }
            );
        }
    }

    /// The order in which three tasks spawned by one task first run, on a
    /// runtime from [`Scheduler::builder`] with one worker. tokio puts each
    /// task spawned from a worker in that worker's LIFO slot, if it has one,
    /// and moves the slot's previous task to the back of the run queue.
    fn spawn_order(scheduler: Scheduler) -> Vec<u32> {
        let runtime = scheduler.builder().enable_all().build().expect("runtime");
        runtime.block_on(async {
            let spawner = tokio::spawn(async {
                let order = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
                let tasks: Vec<_> = (1..=3)
                    .map(|n| {
                        let order = order.clone();
                        tokio::spawn(async move { order.lock().expect("order").push(n) })
                    })
                    .collect();
                for task in tasks {
                    task.await.expect("task");
                }
                order.lock().expect("order").clone()
            });
            spawner.await.expect("spawner")
        })
    }

    #[test]
    fn the_multi_thread_scheduler_runs_tasks_in_the_order_they_were_woken() {
        // With the slot on, the last task spawned would run first: [3, 1, 2].
        let expected = if cfg!(tokio_unstable) {
            vec![1, 2, 3]
        } else {
            vec![3, 1, 2]
        };
        assert_eq!(spawn_order(Scheduler::MultiThread(1)), expected);
        // The current-thread scheduler has no slot, in any build.
        assert_eq!(spawn_order(Scheduler::CurrentThread), vec![1, 2, 3]);
    }
}
