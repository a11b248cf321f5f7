//! Resource limits for one plugin: how much memory an instance may grow to,
//! how long and (optionally) how much CPU work one call may take, how many
//! calls may run at once, and how many bytes may cross the boundary each way.
//!
//! The host config gives defaults (`[limits]` in hangar.toml, then flags); a
//! plugin's manifest may lower or raise them for that plugin. Enforcement
//! lives in the runtime (store limiter, epoch deadlines, fuel, a semaphore
//! per plugin, size checks around each call); this module only says what
//! the numbers are and which ones make sense.
//!
//! | key | default | range | when exceeded |
//! |---|---|---|---|
//! | `memory_mib` | 128 | 1 to 4096 | the guest traps: INTERNAL "memory limit" |
//! | `call_timeout_ms` | 10000 | 1 to 3600000 | DEADLINE_EXCEEDED, instance dropped |
//! | `fuel` | off | 1 to 2^63-1 | RESOURCE_EXHAUSTED "fuel" |
//! | `max_concurrent_calls` | 32 | 1 to 10000 | extra calls wait `queue_timeout_ms` |
//! | `queue_timeout_ms` | 1000 | 0 to 600000 | then RESOURCE_EXHAUSTED |
//! | `max_input_bytes` | 8 MiB | 1 to 4 GiB | RESOURCE_EXHAUSTED, before instantiating |
//! | `max_output_bytes` | 8 MiB | 1 to 4 GiB | the task fails (a failed Resource), or RESOURCE_EXHAUSTED where there is no Resource |

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// Memory a plugin instance may use when nothing else is configured.
pub const DEFAULT_MEMORY_MIB: u64 = 128;
/// Wall-clock time one call (create, get, delete, do...) may take by default.
pub const DEFAULT_CALL_TIMEOUT_MS: u64 = 10_000;
/// Largest memory a manifest may grant (the engine reserves address space
/// for this much per instance slot).
pub const MAX_MEMORY_MIB: u64 = 4096;
/// Longest call timeout (an hour: longer work belongs in an async job).
pub const MAX_CALL_TIMEOUT_MS: u64 = 3_600_000;
/// Calls of one plugin that run at once by default.
pub const DEFAULT_MAX_CONCURRENT_CALLS: u32 = 32;
pub const MAX_CONCURRENT_CALLS: u32 = 10_000;
/// How long a call waits for a free slot of its plugin by default.
pub const DEFAULT_QUEUE_TIMEOUT_MS: u64 = 1_000;
/// Longest queue wait (propeller gives a call 10 s by default).
pub const MAX_QUEUE_TIMEOUT_MS: u64 = 600_000;
/// Bytes of the task or handle passed into one call, by default.
pub const DEFAULT_MAX_INPUT_BYTES: u64 = 8 * 1024 * 1024;
/// Bytes of what one call returns, by default.
pub const DEFAULT_MAX_OUTPUT_BYTES: u64 = 8 * 1024 * 1024;
/// Largest boundary limit: everything crossing lives in linear memory,
/// which is at most 4 GiB.
pub const MAX_BOUNDARY_BYTES: u64 = MAX_MEMORY_MIB * 1024 * 1024;
/// Largest fuel a TOML integer can say.
pub const MAX_FUEL: u64 = i64::MAX as u64;

/// Effective limits of one plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub memory_bytes: u64,
    pub call_timeout: Duration,
    /// Fuel per call (about one unit per WebAssembly instruction); `None`:
    /// not metered.
    pub fuel: Option<u64>,
    pub max_concurrent_calls: u32,
    pub queue_timeout: Duration,
    pub max_input_bytes: u64,
    pub max_output_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: DEFAULT_MEMORY_MIB * 1024 * 1024,
            call_timeout: Duration::from_millis(DEFAULT_CALL_TIMEOUT_MS),
            fuel: None,
            max_concurrent_calls: DEFAULT_MAX_CONCURRENT_CALLS,
            queue_timeout: Duration::from_millis(DEFAULT_QUEUE_TIMEOUT_MS),
            max_input_bytes: DEFAULT_MAX_INPUT_BYTES,
            max_output_bytes: DEFAULT_MAX_OUTPUT_BYTES,
        }
    }
}

/// The `[limits]` table of a plugin manifest or of hangar.toml. Every key is
/// optional; unset keys keep the defaults below them.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct LimitsOverride {
    /// Linear memory per instance, in MiB (1 to 4096; default 128).
    pub memory_mib: Option<u64>,
    /// Wall-clock time per call, in milliseconds (1 to 3600000; default
    /// 10000).
    pub call_timeout_ms: Option<u64>,
    /// Fuel per call, about one unit per WebAssembly instruction executed
    /// (at least 1; default: not metered). A deterministic CPU budget, where
    /// `call_timeout_ms` is a wall-clock one.
    pub fuel: Option<u64>,
    /// Calls of this plugin that run at once (1 to 10000; default 32).
    pub max_concurrent_calls: Option<u32>,
    /// How long an extra call waits for a free slot before it gets
    /// RESOURCE_EXHAUSTED, in milliseconds (0 to 600000; default 1000).
    pub queue_timeout_ms: Option<u64>,
    /// Bytes of the task (inputs JSON and raw, template, custom...) or
    /// handle passed into one call (1 to 4 GiB; default 8 MiB).
    pub max_input_bytes: Option<u64>,
    /// Bytes of what one call returns (resource_meta, outputs, message,
    /// custom info, log links, log lines...) (1 to 4 GiB; default 8 MiB).
    pub max_output_bytes: Option<u64>,
}

/// The keys of `[limits]`, for messages that rename them (`--memory-mib`).
pub const KEYS: [&str; 7] = [
    "memory_mib",
    "call_timeout_ms",
    "fuel",
    "max_concurrent_calls",
    "queue_timeout_ms",
    "max_input_bytes",
    "max_output_bytes",
];

/// `value` if it lies in `min..=max`, else an error naming the key, the
/// range and what the key is for.
fn in_range(key: &str, value: u64, min: u64, max: u64, what: &str) -> Result<u64, String> {
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(format!(
            "limits.{key} = {value} is out of range: use {min} to {max} ({what})"
        ))
    }
}

impl LimitsOverride {
    /// Applies the override to `base`, or says which value is out of range
    /// and what range to use.
    pub fn apply(&self, base: Limits) -> Result<Limits, String> {
        let mut limits = base;
        if let Some(mib) = self.memory_mib {
            let mib = in_range(
                "memory_mib",
                mib,
                1,
                MAX_MEMORY_MIB,
                "MiB of linear memory per instance",
            )?;
            limits.memory_bytes = mib * 1024 * 1024;
        }
        if let Some(ms) = self.call_timeout_ms {
            let ms = in_range(
                "call_timeout_ms",
                ms,
                1,
                MAX_CALL_TIMEOUT_MS,
                "milliseconds of wall-clock time per call",
            )?;
            limits.call_timeout = Duration::from_millis(ms);
        }
        if let Some(fuel) = self.fuel {
            let fuel = in_range(
                "fuel",
                fuel,
                1,
                MAX_FUEL,
                "units of fuel per call, about one per instruction; remove the key to stop metering",
            )?;
            limits.fuel = Some(fuel);
        }
        if let Some(calls) = self.max_concurrent_calls {
            let calls = in_range(
                "max_concurrent_calls",
                u64::from(calls),
                1,
                u64::from(MAX_CONCURRENT_CALLS),
                "calls of this plugin running at once; extra calls wait queue_timeout_ms",
            )?;
            limits.max_concurrent_calls = calls as u32;
        }
        if let Some(ms) = self.queue_timeout_ms {
            let ms = in_range(
                "queue_timeout_ms",
                ms,
                0,
                MAX_QUEUE_TIMEOUT_MS,
                "milliseconds an extra call waits for a free slot; 0 refuses at once",
            )?;
            limits.queue_timeout = Duration::from_millis(ms);
        }
        if let Some(bytes) = self.max_input_bytes {
            limits.max_input_bytes = in_range(
                "max_input_bytes",
                bytes,
                1,
                MAX_BOUNDARY_BYTES,
                "bytes of the task passed into one call",
            )?;
        }
        if let Some(bytes) = self.max_output_bytes {
            limits.max_output_bytes = in_range(
                "max_output_bytes",
                bytes,
                1,
                MAX_BOUNDARY_BYTES,
                "bytes one call may return",
            )?;
        }
        Ok(limits)
    }
}

/// Whether the engine must meter fuel: when the defaults set `fuel`, or the
/// manifest of any of `components` does.
///
/// Fuel metering is compiled into the code (a counter update per basic
/// block, checked at loop headers and calls), so it is an engine-wide switch
/// whose cost every plugin pays, not only the metered ones. Measured with
/// `hangar run` on a 2-core machine, best of 3, metering off vs on: a tight
/// arithmetic loop (misbehave `compute`, 3e9 iterations) 5.0 s vs 4.9 s, no
/// measurable cost; call-heavy code (recursive fib(42)) 1.6 s vs 1.95 s,
/// about +20%; an echo call (dominated by instantiation) no measurable
/// cost. So Hangar turns metering on only when some plugin has a fuel
/// limit, and then gives unmetered plugins `u64::MAX` fuel. Wall-clock
/// deadlines use epoch interruption, which is nearly free, either way.
/// Manifests that do not parse are skipped here; loading them reports the
/// error.
pub fn fuel_metering_needed(defaults: &Limits, components: &[PathBuf]) -> bool {
    defaults.fuel.is_some()
        || components.iter().any(|file| {
            crate::manifest::load_for(file).is_ok_and(|manifest| manifest.limits.fuel.is_some())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One override key set to a value, and what must come of it.
    struct Case {
        set: fn(&mut LimitsOverride),
        expect: Result<fn(&Limits) -> bool, &'static str>,
    }

    #[test]
    fn overrides_apply_or_explain() {
        const MIB: u64 = 1024 * 1024;
        let cases: &[(&str, Case)] = &[
            (
                "nothing set keeps the defaults",
                Case {
                    set: |_| {},
                    expect: Ok(|l| *l == Limits::default()),
                },
            ),
            (
                "memory_mib",
                Case {
                    set: |o| o.memory_mib = Some(64),
                    expect: Ok(|l| l.memory_bytes == 64 * MIB),
                },
            ),
            (
                "memory_mib 0",
                Case {
                    set: |o| o.memory_mib = Some(0),
                    expect: Err("limits.memory_mib = 0 is out of range: use 1 to 4096"),
                },
            ),
            (
                "memory_mib too big",
                Case {
                    set: |o| o.memory_mib = Some(MAX_MEMORY_MIB + 1),
                    expect: Err("limits.memory_mib = 4097 is out of range"),
                },
            ),
            (
                "call_timeout_ms",
                Case {
                    set: |o| o.call_timeout_ms = Some(250),
                    expect: Ok(|l| l.call_timeout == Duration::from_millis(250)),
                },
            ),
            (
                "call_timeout_ms 0",
                Case {
                    set: |o| o.call_timeout_ms = Some(0),
                    expect: Err("limits.call_timeout_ms = 0 is out of range: use 1 to"),
                },
            ),
            (
                "call_timeout_ms over an hour",
                Case {
                    set: |o| o.call_timeout_ms = Some(MAX_CALL_TIMEOUT_MS + 1),
                    expect: Err("limits.call_timeout_ms = 3600001 is out of range"),
                },
            ),
            (
                "fuel",
                Case {
                    set: |o| o.fuel = Some(1_000_000),
                    expect: Ok(|l| l.fuel == Some(1_000_000)),
                },
            ),
            (
                "fuel 0",
                Case {
                    set: |o| o.fuel = Some(0),
                    expect: Err("limits.fuel = 0 is out of range: use 1 to"),
                },
            ),
            (
                "max_concurrent_calls",
                Case {
                    set: |o| o.max_concurrent_calls = Some(2),
                    expect: Ok(|l| l.max_concurrent_calls == 2),
                },
            ),
            (
                "max_concurrent_calls 0",
                Case {
                    set: |o| o.max_concurrent_calls = Some(0),
                    expect: Err("limits.max_concurrent_calls = 0 is out of range: use 1 to 10000"),
                },
            ),
            (
                "queue_timeout_ms 0 refuses at once",
                Case {
                    set: |o| o.queue_timeout_ms = Some(0),
                    expect: Ok(|l| l.queue_timeout == Duration::ZERO),
                },
            ),
            (
                "queue_timeout_ms too long",
                Case {
                    set: |o| o.queue_timeout_ms = Some(MAX_QUEUE_TIMEOUT_MS + 1),
                    expect: Err(
                        "limits.queue_timeout_ms = 600001 is out of range: use 0 to 600000",
                    ),
                },
            ),
            (
                "max_input_bytes",
                Case {
                    set: |o| o.max_input_bytes = Some(1024),
                    expect: Ok(|l| l.max_input_bytes == 1024),
                },
            ),
            (
                "max_input_bytes 0",
                Case {
                    set: |o| o.max_input_bytes = Some(0),
                    expect: Err("limits.max_input_bytes = 0 is out of range: use 1 to 4294967296"),
                },
            ),
            (
                "max_output_bytes",
                Case {
                    set: |o| o.max_output_bytes = Some(MAX_BOUNDARY_BYTES),
                    expect: Ok(|l| l.max_output_bytes == MAX_BOUNDARY_BYTES),
                },
            ),
            (
                "max_output_bytes over 4 GiB",
                Case {
                    set: |o| o.max_output_bytes = Some(MAX_BOUNDARY_BYTES + 1),
                    expect: Err("limits.max_output_bytes = 4294967297 is out of range"),
                },
            ),
        ];
        for (name, case) in cases {
            let mut o = LimitsOverride::default();
            (case.set)(&mut o);
            match (o.apply(Limits::default()), &case.expect) {
                (Ok(limits), Ok(check)) => assert!(check(&limits), "{name}: {limits:?}"),
                (Err(e), Err(fragment)) => assert!(e.contains(fragment), "{name}: {e}"),
                (got, _) => panic!("{name}: unexpected {got:?}"),
            }
        }
    }

    #[test]
    fn overrides_layer_over_their_base() {
        let host = LimitsOverride {
            memory_mib: Some(64),
            max_concurrent_calls: Some(4),
            ..LimitsOverride::default()
        }
        .apply(Limits::default())
        .unwrap();
        let plugin = LimitsOverride {
            max_concurrent_calls: Some(2),
            fuel: Some(10),
            ..LimitsOverride::default()
        }
        .apply(host)
        .unwrap();
        assert_eq!(plugin.memory_bytes, 64 * 1024 * 1024);
        assert_eq!(plugin.max_concurrent_calls, 2);
        assert_eq!(plugin.fuel, Some(10));
        assert_eq!(plugin.max_input_bytes, DEFAULT_MAX_INPUT_BYTES);
    }

    #[test]
    fn every_key_is_listed_and_parsed() {
        let text = KEYS
            .iter()
            .map(|k| format!("{k} = 1\n"))
            .collect::<String>();
        let o: LimitsOverride = toml::from_str(&text).unwrap();
        assert_eq!(o.memory_mib, Some(1));
        assert_eq!(o.call_timeout_ms, Some(1));
        assert_eq!(o.fuel, Some(1));
        assert_eq!(o.max_concurrent_calls, Some(1));
        assert_eq!(o.queue_timeout_ms, Some(1));
        assert_eq!(o.max_input_bytes, Some(1));
        assert_eq!(o.max_output_bytes, Some(1));
    }

    #[test]
    fn fuel_metering_follows_the_defaults_and_the_manifests() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain.wasm");
        let metered = dir.path().join("metered.wasm");
        std::fs::write(dir.path().join("metered.toml"), "[limits]\nfuel = 5\n").unwrap();
        std::fs::write(dir.path().join("broken.toml"), "[limits\n").unwrap();
        let broken = dir.path().join("broken.wasm");
        let defaults = Limits::default();
        assert!(!fuel_metering_needed(&defaults, &[]));
        assert!(!fuel_metering_needed(&defaults, &[plain.clone(), broken]));
        assert!(fuel_metering_needed(&defaults, &[plain.clone(), metered]));
        let with_fuel = Limits {
            fuel: Some(1),
            ..defaults
        };
        assert!(fuel_metering_needed(&with_fuel, &[plain]));
    }
}
