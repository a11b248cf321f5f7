//! The store limiter of one instance: wasmtime's [`StoreLimits`] (linear
//! memory capped at the plugin's `memory_mib`, a denied growth traps), plus
//! a note of whether that cap is what stopped the guest, so the failure
//! can say "memory limit" instead of a bare trap. Each growth it grants is
//! also reported to the instance's metrics (memory in use, peak).

use wasmtime::{ResourceLimiter, StoreLimits, StoreLimitsBuilder};

use crate::metrics::InstanceTracker;

pub struct MemoryLimiter {
    inner: StoreLimits,
    max_bytes: usize,
    /// Set when the guest asked for more memory than the limit.
    exceeded: bool,
    /// Counts the instance and its memory until dropped with the store.
    tracker: InstanceTracker,
}

impl MemoryLimiter {
    pub fn new(memory_bytes: u64, tracker: InstanceTracker) -> Self {
        let max_bytes = usize::try_from(memory_bytes).unwrap_or(usize::MAX);
        MemoryLimiter {
            inner: StoreLimitsBuilder::new()
                .memory_size(max_bytes)
                .trap_on_grow_failure(true)
                .build(),
            max_bytes,
            exceeded: false,
            tracker,
        }
    }

    /// Whether the guest hit the memory limit during this call.
    pub fn exceeded(&self) -> bool {
        self.exceeded
    }

    /// A reused instance starts another call: forget that an earlier call
    /// hit the limit, keep counting the instance and its memory.
    pub fn start_call(&mut self) {
        self.exceeded = false;
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_bytes {
            self.exceeded = true;
        }
        let granted = self.inner.memory_growing(current, desired, maximum)?;
        if granted {
            self.tracker.memory_grew(current, desired);
        }
        Ok(granted)
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.inner.memory_grow_failed(error)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.inner.table_growing(current, desired, maximum)
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.inner.table_grow_failed(error)
    }

    fn instances(&self) -> usize {
        self.inner.instances()
    }

    fn tables(&self) -> usize {
        self.inner.tables()
    }

    fn memories(&self) -> usize {
        self.inner.memories()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_when_the_limit_stops_a_growth() {
        let mut limiter = MemoryLimiter::new(1 << 20, InstanceTracker::detached());
        assert!(limiter.memory_growing(0, 1 << 16, None).unwrap());
        assert!(!limiter.exceeded());
        assert_eq!(limiter.tracker.in_use(), 1 << 16);
        // Over the module's own maximum but within the limit: not ours.
        assert!(limiter.memory_growing(0, 1 << 17, Some(1 << 16)).is_err());
        assert!(!limiter.exceeded());
        let error = limiter.memory_growing(1 << 16, 2 << 20, None).unwrap_err();
        assert!(limiter.exceeded(), "{error}");
        // Refused growths hold no memory.
        assert_eq!(limiter.tracker.in_use(), 1 << 16);
        // The next call on a reused instance starts clean, its memory kept.
        limiter.start_call();
        assert!(!limiter.exceeded());
        assert_eq!(limiter.tracker.in_use(), 1 << 16);
    }
}
