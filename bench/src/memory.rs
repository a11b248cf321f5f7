//! Memory benchmark: the server's RSS (`VmRSS` from /proc/PID/status) idle,
//! after it has served for a moment, and its peak while under load, sampled
//! every 50 ms on a thread of its own.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::targets;

/// Samples a process's RSS until stopped; keeps the peak.
pub struct RssSampler {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl RssSampler {
    /// Starts sampling `pid`.
    pub fn start(pid: u32) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(0));
        let thread = {
            let (stop, peak) = (stop.clone(), peak.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if let Ok(rss) = targets::rss_bytes(pid) {
                        peak.fetch_max(rss, Ordering::Relaxed);
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
            })
        };
        Self {
            stop,
            peak,
            thread: Some(thread),
        }
    }

    /// Stops and returns the peak in bytes (None if never read).
    pub fn finish(mut self) -> Option<u64> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        match self.peak.load(Ordering::Relaxed) {
            0 => None,
            peak => Some(peak),
        }
    }
}

/// Idle RSS: waits `settle` after start-up, then reads it.
pub fn idle_rss(pid: u32, settle: Duration) -> anyhow::Result<u64> {
    std::thread::sleep(settle);
    targets::rss_bytes(pid)
}
