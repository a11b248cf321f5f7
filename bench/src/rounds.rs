//! Interleaved rounds for the target verdicts.
//!
//! The load matrix measures each target once, minutes after flytekit and the
//! floor, so a ratio taken from it also measures how the shared machine's load
//! drifted in between: one run put the Python agent at 2.41x flytekit where an
//! A/B a few minutes later gave 3.3-3.5x with the same code. Here every target
//! a verdict needs serves at once, each round loads them one after another
//! (CreateTask, concurrency 16), ratios are taken within a round, and a
//! verdict uses their median over the rounds.

use anyhow::Result;
use tokio::runtime::Runtime;

use crate::LoadSettings;
use crate::load::{self, LoadResult, LoadSpec, Rpc};
use crate::report::Outcome;
use crate::targets::{self, Cache, Paths, Server, Target};

/// The load point every verdict is about.
pub const RPC: Rpc = Rpc::Create;
/// Its concurrency.
pub const CONCURRENCY: usize = 16;

/// One target's load in one round.
#[derive(Clone, Debug)]
pub struct RoundSample {
    /// 1-based.
    pub round: usize,
    pub target: String,
    pub outcome: Outcome<LoadResult>,
}

/// Starts every target, then runs `rounds` rounds over them in order. A
/// target that is missing or does not start gets its reason in every round.
pub fn run(
    paths: &Paths,
    runtime: &Runtime,
    settings: &LoadSettings,
    targets: &[Target],
    rounds: usize,
    cache: &Cache,
) -> Vec<RoundSample> {
    let servers: Vec<(Target, Result<Server, String>)> = targets
        .iter()
        .map(|target| {
            let server = match target.missing(paths) {
                Some(why) => Err(why),
                None => targets::start(paths, target, cache)
                    .map_err(|e| format!("did not start: {e:#}")),
            };
            (*target, server)
        })
        .collect();
    let mut samples = Vec::new();
    for round in 1..=rounds {
        for (target, server) in &servers {
            let name = target.name();
            let outcome = match server {
                Ok(server) => {
                    let spec = LoadSpec {
                        endpoint: server.endpoint.clone(),
                        rpc: RPC,
                        task_type: target.async_type().to_owned(),
                        concurrency: CONCURRENCY,
                        connections: settings.connections,
                        warmup: settings.warmup,
                        duration: settings.duration,
                        server_pid: Some(server.pid()),
                    };
                    runtime
                        .block_on(load::run(&spec))
                        .map_err(|e| format!("{e:#}"))
                }
                Err(why) => Err(why.clone()),
            };
            match &outcome {
                Ok(r) => eprintln!("round {round}/{rounds} {name}: {:.0} rps", r.rps()),
                Err(e) => eprintln!("round {round}/{rounds} {name}: {e}"),
            }
            samples.push(RoundSample {
                round,
                target: name,
                outcome,
            });
        }
    }
    for (_, server) in servers {
        if let Ok(server) = server {
            server.stop();
        }
    }
    samples
}

/// `value(a) / value(b)` in each round where both were measured (and b is
/// above 0), in round order.
pub fn ratios(
    samples: &[RoundSample],
    a: &str,
    b: &str,
    value: impl Fn(&LoadResult) -> Option<f64>,
) -> Vec<f64> {
    let in_round = |round: usize, target: &str| {
        samples
            .iter()
            .find(|s| s.round == round && s.target == target)
            .and_then(|s| s.outcome.as_ref().ok())
            .and_then(&value)
    };
    let last = samples.iter().map(|s| s.round).max().unwrap_or(0);
    (1..=last)
        .filter_map(|round| match (in_round(round, a), in_round(round, b)) {
            (Some(x), Some(y)) if y > 0.0 && x.is_finite() => Some(x / y),
            _ => None,
        })
        .collect()
}

/// The median (the mean of the middle two for an even count); None when
/// empty.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    Some(if sorted.len().is_multiple_of(2) {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    } else {
        sorted[mid]
    })
}

/// A round sample of `ok_calls` OK answers at 1 ms over one second, for
/// tests of code that reads rounds.
#[cfg(test)]
pub fn test_sample(round: usize, target: &str, ok_calls: u64) -> RoundSample {
    let mut latency = crate::histogram::Histogram::default();
    for _ in 0..ok_calls {
        latency.record_us(1000);
    }
    RoundSample {
        round,
        target: target.to_owned(),
        outcome: Ok(LoadResult {
            latency,
            codes: [("OK".to_owned(), ok_calls)].into_iter().collect(),
            elapsed: std::time::Duration::from_secs(1),
            server_cpu: None,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use test_sample as sample;

    #[test]
    fn medians() {
        let cases: &[(&[f64], Option<f64>)] = &[
            (&[], None),
            (&[2.0], Some(2.0)),
            (&[3.0, 1.0, 2.0], Some(2.0)),
            (&[4.0, 1.0, 3.0, 2.0], Some(2.5)),
            (&[f64::NAN, 5.0], Some(5.0)),
        ];
        for (values, want) in cases {
            assert_eq!(median(values), *want, "median of {values:?}");
        }
    }

    #[test]
    fn ratios_pair_each_round_with_itself() {
        // Round 2 is slow for both: its ratio stays 3, as in round 1.
        let samples = vec![
            sample(1, "flytekit", 100),
            sample(1, "hangar", 300),
            sample(2, "flytekit", 50),
            sample(2, "hangar", 150),
            sample(3, "flytekit", 100),
            sample(3, "hangar", 400),
        ];
        assert_eq!(
            ratios(&samples, "hangar", "flytekit", LoadResult::measured_rps),
            vec![3.0, 3.0, 4.0]
        );
        assert_eq!(
            median(&ratios(
                &samples,
                "hangar",
                "flytekit",
                LoadResult::measured_rps
            )),
            Some(3.0)
        );
    }

    #[test]
    fn rounds_missing_either_side_are_left_out() {
        let mut failed = sample(2, "flytekit", 0);
        failed.outcome = Err("did not start".to_owned());
        let samples = vec![
            sample(1, "flytekit", 100),
            sample(1, "hangar", 200),
            failed,
            sample(2, "hangar", 200),
            sample(3, "flytekit", 0),
            sample(3, "hangar", 200),
        ];
        assert_eq!(
            ratios(&samples, "hangar", "flytekit", LoadResult::measured_rps),
            vec![2.0]
        );
        assert!(ratios(&samples, "hangar", "nobody", LoadResult::measured_rps).is_empty());
    }
}
