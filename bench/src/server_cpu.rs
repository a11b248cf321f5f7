//! A server process's CPU time (user + system, every thread), read from
//! `/proc/PID/stat` at the edges of a load run's measured window.
//!
//! Why it exists: the load generator shares the machine's CPUs with the
//! server under test, so a server's requests per second also say how much
//! CPU the load generator left it. CPU time per answered call depends far
//! less on that: it is what a call costs the server (contention still moves
//! it a little, through caches and wake-ups). The target rounds report it
//! next to rps.

use std::time::Duration;

/// CPU time `pid` has used so far, all threads included; `None` when the
/// process is gone or `/proc` is not there (not Linux).
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let ticks = cpu_ticks(&stat)?;
    Some(Duration::from_secs_f64(ticks as f64 / ticks_per_second()))
}

/// `utime + stime` of a `/proc/PID/stat` line. The command name (field 2)
/// is in parentheses and may itself hold spaces and parentheses, so the
/// fields are counted from the last `)`: field 3 (state) comes first after
/// it, so utime (field 14) and stime (field 15) are the 12th and 13th.
fn cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// The kernel's clock ticks per second for `/proc` times (`USER_HZ`).
fn ticks_per_second() -> f64 {
    // SAFETY: sysconf only reads a configuration value.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as f64 } else { 100.0 }
}

/// CPU time per call, in µs: `cpu` spent while `calls` were answered.
pub fn per_call_us(cpu: Duration, calls: u64) -> Option<f64> {
    (calls > 0).then(|| cpu.as_secs_f64() * 1e6 / calls as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_user_and_system_ticks_whatever_the_name() {
        let rest = "S 1 2 3 4 5 6 7 8 9 10 250 40 0 0 20 0 9 0 100 2000 300";
        let cases = [
            (format!("1234 (hangar) {rest}"), Some(290)),
            // A name with spaces and a closing parenthesis of its own.
            (format!("1234 (tokio rt) x) {rest}"), Some(290)),
            ("1234 (hangar) S 1 2".to_owned(), None),
            ("garbage".to_owned(), None),
            ("1234 (h) S 1 2 3 4 5 6 7 8 9 10 ten 40".to_owned(), None),
        ];
        for (line, expected) in cases {
            assert_eq!(cpu_ticks(&line), expected, "{line}");
        }
    }

    #[test]
    fn own_process_cpu_time_grows_while_it_computes() {
        let pid = std::process::id();
        let before = cpu_time(pid).expect("this process's /proc/PID/stat");
        // Compute until the kernel has counted at least one more tick (10 ms
        // at the usual USER_HZ), for at most two seconds of wall time.
        let started = std::time::Instant::now();
        let mut spin = 0u64;
        let mut after = before;
        while after <= before && started.elapsed() < Duration::from_secs(2) {
            for i in 0..100_000u64 {
                spin = std::hint::black_box(spin.wrapping_add(i));
            }
            after = cpu_time(pid).expect("this process's /proc/PID/stat");
        }
        assert!(after > before, "{before:?} -> {after:?} after {spin} steps");
        assert!(after - before < Duration::from_secs(60));
    }

    #[test]
    fn cpu_per_call() {
        assert_eq!(per_call_us(Duration::from_millis(46), 2000), Some(23.0));
        assert_eq!(per_call_us(Duration::from_millis(46), 0), None);
    }
}
