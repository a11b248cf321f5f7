//! Where a Hangar call's time goes, from Hangar's own metrics: the time it
//! spends creating the fresh instance, the time inside the guest's export
//! (`hangar_guest_call_duration_seconds`), and the whole request as the
//! server saw it. Request minus guest is the host overhead the issue asks
//! for separately: everything Hangar adds that is not the agent's own work.
//! Totals are scraped from `/metrics` before and after a load run; the
//! difference covers exactly the calls of that run (warm-up included).

use anyhow::{Context, Result};

use crate::plugins::http_get;

/// Sums and counts of the three histograms, over every label set.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Totals {
    request: (f64, f64),
    instantiate: (f64, f64),
    guest: (f64, f64),
}

/// Mean seconds per call of one load run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CallSplit {
    /// Calls in the run (as Hangar counted its requests).
    pub calls: f64,
    /// The whole request, as the server timed it.
    pub request: f64,
    /// Creating the fresh instance.
    pub instantiate: f64,
    /// Inside the guest's exported function.
    pub guest: f64,
}

impl CallSplit {
    /// Everything Hangar adds to a call but the guest's own work.
    pub fn host(&self) -> f64 {
        (self.request - self.guest).max(0.0)
    }
}

const REQUEST: &str = "hangar_request_duration_seconds";
const INSTANTIATE: &str = "hangar_instantiate_duration_seconds";
const GUEST: &str = "hangar_guest_call_duration_seconds";

/// Reads the totals from Hangar's metrics endpoint (`HOST:PORT`).
pub fn scrape(metrics: &str) -> Result<Totals> {
    let body = http_get(metrics, "/metrics")?;
    if !body.contains(GUEST) {
        anyhow::bail!("no {GUEST} in /metrics (a hangar older than this bench?)");
    }
    Ok(parse(&body))
}

/// Sums `NAME_sum` and `NAME_count` samples of the three histograms.
pub fn parse(body: &str) -> Totals {
    let mut totals = Totals::default();
    for line in body.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(value) = value.trim().parse::<f64>() else {
            continue;
        };
        let name = series.split('{').next().unwrap_or_default();
        let slot = match name.rsplit_once('_') {
            Some((REQUEST, suffix)) => (&mut totals.request, suffix),
            Some((INSTANTIATE, suffix)) => (&mut totals.instantiate, suffix),
            Some((GUEST, suffix)) => (&mut totals.guest, suffix),
            _ => continue,
        };
        match slot {
            (pair, "sum") => pair.0 += value,
            (pair, "count") => pair.1 += value,
            _ => {}
        }
    }
    totals
}

impl Totals {
    /// Means over the calls made between `before` and `self`; None when
    /// no call was counted.
    pub fn since(&self, before: &Totals) -> Option<CallSplit> {
        let delta = |now: (f64, f64), then: (f64, f64)| (now.0 - then.0, now.1 - then.1);
        let mean = |(sum, count): (f64, f64)| if count > 0.0 { sum / count } else { 0.0 };
        let request = delta(self.request, before.request);
        if request.1 <= 0.0 {
            return None;
        }
        Some(CallSplit {
            calls: request.1,
            request: mean(request),
            instantiate: mean(delta(self.instantiate, before.instantiate)),
            guest: mean(delta(self.guest, before.guest)),
        })
    }
}

/// Scrapes `metrics` now; errors are reported, not fatal to a load run.
pub fn scrape_or_note(metrics: Option<&str>) -> Option<Totals> {
    let metrics = metrics?;
    match scrape(metrics).context("cannot read the call split from hangar's metrics") {
        Ok(totals) => Some(totals),
        Err(e) => {
            eprintln!("{e:#}");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = "\
# HELP hangar_guest_call_duration_seconds Time inside.
# TYPE hangar_guest_call_duration_seconds histogram
hangar_guest_call_duration_seconds_sum{plugin=\"echo\"} 0.5
hangar_guest_call_duration_seconds_count{plugin=\"echo\"} 10
hangar_guest_call_duration_seconds_bucket{le=\"0.001\",plugin=\"echo\"} 10
hangar_guest_call_duration_seconds_sum{plugin=\"echo-sync\"} 0.5
hangar_guest_call_duration_seconds_count{plugin=\"echo-sync\"} 10
hangar_instantiate_duration_seconds_sum{plugin=\"echo\"} 0.2
hangar_instantiate_duration_seconds_count{plugin=\"echo\"} 20
hangar_request_duration_seconds_sum{service=\"s\",method=\"CreateTask\",task_type=\"echo\",plugin=\"echo\"} 3.0
hangar_request_duration_seconds_count{service=\"s\",method=\"CreateTask\",task_type=\"echo\",plugin=\"echo\"} 20
flyte_connector_request_latency_seconds_sum{task_type=\"echo\",operation=\"create\"} 99
";

    #[test]
    fn sums_every_label_set_and_ignores_buckets_and_other_metrics() {
        let t = parse(BODY);
        assert_eq!(t.guest, (1.0, 20.0));
        assert_eq!(t.instantiate, (0.2, 20.0));
        assert_eq!(t.request, (3.0, 20.0));
    }

    #[test]
    fn split_is_the_mean_of_the_difference() {
        let before = parse(BODY);
        let after = Totals {
            request: (before.request.0 + 1.0, before.request.1 + 100.0),
            instantiate: (before.instantiate.0 + 0.2, before.instantiate.1 + 100.0),
            guest: (before.guest.0 + 0.3, before.guest.1 + 100.0),
        };
        let split = after.since(&before).expect("calls were made");
        assert_eq!(split.calls, 100.0);
        assert!((split.request - 0.01).abs() < 1e-12);
        assert!((split.instantiate - 0.002).abs() < 1e-12);
        assert!((split.guest - 0.003).abs() < 1e-12);
        assert!((split.host() - 0.007).abs() < 1e-12);
        assert_eq!(before.since(&before), None);
    }
}
