//! Resource limits for one plugin: how much memory an instance may grow to
//! and how long one call may run.
//!
//! The host config gives defaults; a plugin's manifest may lower or raise
//! them for that plugin. Enforcement lives in the runtime (store limiter and
//! epoch deadlines); this module only says what the numbers are.

use std::time::Duration;

use serde::Deserialize;

/// Memory a plugin instance may use when nothing else is configured.
pub const DEFAULT_MEMORY_MIB: u64 = 128;
/// Wall-clock time one call (create, get, delete, do...) may take by default.
pub const DEFAULT_CALL_TIMEOUT_MS: u64 = 10_000;
/// Largest memory a manifest may grant (the engine reserves address space
/// for this much per instance slot).
pub const MAX_MEMORY_MIB: u64 = 4096;

/// Effective limits of one plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub memory_bytes: u64,
    pub call_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: DEFAULT_MEMORY_MIB * 1024 * 1024,
            call_timeout: Duration::from_millis(DEFAULT_CALL_TIMEOUT_MS),
        }
    }
}

/// The `[limits]` table of a plugin manifest. Every key is optional; unset
/// keys keep the host's defaults.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct LimitsOverride {
    /// Linear memory per instance, in MiB (1 to 4096).
    pub memory_mib: Option<u64>,
    /// Wall-clock time per call, in milliseconds (at least 1).
    pub call_timeout_ms: Option<u64>,
}

impl LimitsOverride {
    /// Applies the override to `base`, or says which value is out of range.
    pub fn apply(&self, base: Limits) -> Result<Limits, String> {
        let mut limits = base;
        if let Some(mib) = self.memory_mib {
            if mib == 0 || mib > MAX_MEMORY_MIB {
                return Err(format!(
                    "limits.memory_mib = {mib} is out of range: use 1 to {MAX_MEMORY_MIB}"
                ));
            }
            limits.memory_bytes = mib * 1024 * 1024;
        }
        if let Some(ms) = self.call_timeout_ms {
            if ms == 0 {
                return Err("limits.call_timeout_ms must be at least 1".to_string());
            }
            limits.call_timeout = Duration::from_millis(ms);
        }
        Ok(limits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_apply_or_explain() {
        let base = Limits::default();
        // (memory_mib, call_timeout_ms, expected (mib, ms) or an error fragment)
        type Case = (Option<u64>, Option<u64>, Result<(u64, u64), &'static str>);
        let cases: &[Case] = &[
            (
                None,
                None,
                Ok((DEFAULT_MEMORY_MIB, DEFAULT_CALL_TIMEOUT_MS)),
            ),
            (Some(64), None, Ok((64, DEFAULT_CALL_TIMEOUT_MS))),
            (None, Some(250), Ok((DEFAULT_MEMORY_MIB, 250))),
            (Some(0), None, Err("memory_mib = 0 is out of range")),
            (Some(MAX_MEMORY_MIB + 1), None, Err("out of range")),
            (None, Some(0), Err("at least 1")),
        ];
        for (memory_mib, call_timeout_ms, expected) in cases {
            let got = LimitsOverride {
                memory_mib: *memory_mib,
                call_timeout_ms: *call_timeout_ms,
            }
            .apply(base);
            match (got, expected) {
                (Ok(l), Ok((mib, ms))) => {
                    assert_eq!(l.memory_bytes, mib * 1024 * 1024);
                    assert_eq!(l.call_timeout, Duration::from_millis(*ms));
                }
                (Err(e), Err(fragment)) => assert!(e.contains(fragment), "{e}"),
                (got, expected) => panic!("got {got:?}, expected {expected:?}"),
            }
        }
    }
}
