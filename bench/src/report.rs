//! `BENCHMARKS.md`: what was measured, rendered as Markdown tables with the
//! ratios that count (Hangar ÷ flytekit, Hangar ÷ floor), the issue's
//! targets checked against them, the per-language table for the README, and
//! the machine and command that produced it. Rendering is pure (unit-tested);
//! [`Machine::detect`] reads /proc.

use std::fmt::Write as _;
use std::time::Duration;

use crate::load::{LoadResult, Rpc};
use crate::rounds;

/// The two native floors (`Target::Floor`, `Target::FloorOneThread`). Rate
/// ratios are against the faster of the two in the same run; host overhead
/// subtracts the quicker one's latency.
const FLOORS: [&str; 2] = ["floor", "floor-1thread"];

/// A measurement, or why there is none (e.g. "missing: build with make plugins").
pub type Outcome<T> = Result<T, String>;

/// Where and how the numbers were taken.
#[derive(Clone, Debug, Default)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub mem_total: String,
    /// Linux release and swap: both decide how Hangar resets instance
    /// slots (in place needs Linux 6.7+ and no swap), which moves its
    /// numbers by about 2x.
    pub kernel: String,
    pub swap: String,
    pub date: String,
    pub commit: String,
    pub command: String,
    pub loadavg_before: String,
    pub loadavg_after: String,
    /// Durations, concurrencies and the like, one line.
    pub settings: String,
}

impl Machine {
    /// Reads the CPU, cores, RAM and load average from /proc.
    pub fn detect(command: String, settings: String) -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map_or_else(|| "unknown".to_owned(), |(_, v)| v.trim().to_owned());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let mem_total =
            meminfo_kib(&meminfo, "MemTotal:").map_or_else(|| "unknown".to_owned(), gib);
        let swap = match meminfo_kib(&meminfo, "SwapTotal:") {
            None => "unknown".to_owned(),
            Some(0) => "none".to_owned(),
            Some(kib) => gib(kib),
        };
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map_or_else(|_| "unknown".to_owned(), |r| r.trim().to_owned());
        Machine {
            cpu,
            cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
            mem_total,
            kernel,
            swap,
            date: run_text("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
            commit: run_text("git", &["rev-parse", "--short", "HEAD"]),
            command,
            loadavg_before: loadavg(),
            loadavg_after: String::new(),
            settings,
        }
    }
}

/// A `/proc/meminfo` value in KiB (`key` with its colon, e.g. `MemTotal:`).
fn meminfo_kib(meminfo: &str, key: &str) -> Option<u64> {
    meminfo
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kib| kib.parse::<u64>().ok())
}

fn gib(kib: u64) -> String {
    format!("{:.1} GiB", kib as f64 / 1048576.0)
}

/// The 1, 5 and 15 minute load averages.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// A command's trimmed stdout, or "unknown".
fn run_text(program: &str, args: &[&str]) -> String {
    std::process::Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// One load point.
#[derive(Clone, Debug)]
pub struct LoadRow {
    pub target: String,
    pub rpc: Rpc,
    pub concurrency: usize,
    pub outcome: Outcome<LoadResult>,
}

/// Hangar's own split of the calls of one load run at concurrency 1.
#[derive(Clone, Debug)]
pub struct SplitRow {
    pub target: String,
    pub rpc: Rpc,
    pub split: crate::call_split::CallSplit,
}

/// Time to serving with a number of plugins.
#[derive(Clone, Debug)]
pub struct StartupRow {
    pub plugins: usize,
    pub loaded: Option<u64>,
    pub cold: Outcome<Duration>,
    pub cached: Outcome<Duration>,
}

/// RSS of one server.
#[derive(Clone, Debug)]
pub struct MemoryRow {
    pub what: String,
    pub loaded: Option<u64>,
    pub idle: Outcome<u64>,
    pub under_load: Outcome<u64>,
}

/// One language's echo agents.
#[derive(Clone, Debug)]
pub struct LanguageRow {
    pub language: String,
    pub async_bytes: Option<u64>,
    pub sync_bytes: Option<u64>,
    /// One plugin (the async echo), no cache / from the cache.
    pub cold: Outcome<Duration>,
    pub cached: Outcome<Duration>,
}

/// Everything `hangar-bench all` measured.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub machine: Machine,
    pub load: Vec<LoadRow>,
    pub startup: Vec<StartupRow>,
    pub flytekit_startup: Option<Outcome<Duration>>,
    pub memory: Vec<MemoryRow>,
    pub languages: Vec<LanguageRow>,
    pub splits: Vec<SplitRow>,
    /// The interleaved rounds the verdicts use (empty: judge from `load`).
    pub rounds: Vec<crate::rounds::RoundSample>,
    pub notes: Vec<String>,
}

/// `hangar, 1 plugin` / `hangar, 10 plugins`: the memory row of N plugins.
pub fn plugins_label(n: usize) -> String {
    if n == 1 {
        "hangar, 1 plugin".to_owned()
    } else {
        format!("hangar, {n} plugins")
    }
}

/// `a / b` as `12.3x`, or `-` when either is missing or b is 0.
pub fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 && a.is_finite() => {
            let r = a / b;
            if r >= 10.0 {
                format!("{r:.1}x")
            } else {
                format!("{r:.2}x")
            }
        }
        _ => "-".to_owned(),
    }
}

/// A ratio in a verdict, with four decimals below 1x, so that a value just
/// over a goal of 0.1x (0.1004x) does not print as `0.10x` beside "no".
fn verdict_ratio_text(r: f64) -> String {
    if r >= 10.0 {
        format!("{r:.1}x")
    } else if r >= 1.0 {
        format!("{r:.2}x")
    } else {
        format!("{r:.4}x")
    }
}

/// Microseconds as `850 µs` or `12.3 ms`.
pub fn micros(us: f64) -> String {
    if us.abs() >= 10_000.0 {
        format!("{:.1} ms", us / 1000.0)
    } else if us.abs() >= 1000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else {
        format!("{us:.0} µs")
    }
}

/// CPU time per call: one decimal below 100 µs, where calls differ by a
/// few µs.
pub fn cpu_cell(us: f64) -> String {
    if us < 100.0 {
        format!("{us:.1} µs")
    } else {
        micros(us)
    }
}

/// A duration as `123 ms` or `1.23 s`.
pub fn duration(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms >= 1000.0 {
        format!("{:.2} s", ms / 1000.0)
    } else {
        format!("{ms:.0} ms")
    }
}

/// Bytes as `12.3 MiB` (or KiB below 1 MiB).
pub fn bytes(b: u64) -> String {
    if b >= 1 << 20 {
        format!("{:.1} MiB", b as f64 / 1048576.0)
    } else {
        format!("{:.0} KiB", b as f64 / 1024.0)
    }
}

fn outcome_text<T>(o: &Outcome<T>, show: impl Fn(&T) -> String) -> String {
    match o {
        Ok(v) => show(v),
        Err(e) => e.clone(),
    }
}

impl Report {
    /// The row for `target`, `rpc`, `concurrency`, if measured.
    pub fn find(&self, target: &str, rpc: Rpc, concurrency: usize) -> Option<&LoadResult> {
        self.load
            .iter()
            .find(|r| r.target == target && r.rpc == rpc && r.concurrency == concurrency)
            .and_then(|r| r.outcome.as_ref().ok())
    }

    fn rps(&self, target: &str, rpc: Rpc, c: usize) -> Option<f64> {
        self.find(target, rpc, c).and_then(LoadResult::measured_rps)
    }

    /// The faster floor's rps at (rpc, c): no agent host beats either.
    fn floor_rps(&self, rpc: Rpc, c: usize) -> Option<f64> {
        FLOORS
            .iter()
            .filter_map(|floor| self.rps(floor, rpc, c))
            .reduce(f64::max)
    }

    /// The floor with the lower p50 at (rpc, c), for subtracting its
    /// latency.
    fn quickest_floor(&self, rpc: Rpc, c: usize) -> Option<&LoadResult> {
        FLOORS
            .iter()
            .filter_map(|floor| self.find(floor, rpc, c))
            .filter(|r| r.latency.count() > 0)
            .min_by_key(|r| r.latency.quantile_us(0.5))
    }

    fn p99(&self, target: &str, rpc: Rpc, c: usize) -> Option<f64> {
        self.find(target, rpc, c)
            .and_then(LoadResult::measured_p99_us)
    }

    /// The whole Markdown document.
    pub fn render(&self) -> String {
        let mut md = String::new();
        let m = &self.machine;
        md.push_str("# Benchmarks\n\n");
        md.push_str(
            "Generated by `hangar-bench all` (crate `bench/`); do not edit by hand. Every server \
             ran on the same machine in the same run, driven by the same closed-loop gRPC load \
             generator with the same request (a task template and the `LiteralMap` \
             `{\"n\": 3, \"s\": \"hi\"}`). **Ratios are what count**: absolute numbers depend on \
             the machine and on what else it was doing.\n\n",
        );
        let _ = writeln!(
            md,
            "- Machine: {}, {} cores, {} RAM, Linux {}, swap: {}",
            m.cpu, m.cores, m.mem_total, m.kernel, m.swap
        );
        let _ = writeln!(md, "- Date: {}; commit {}", m.date, m.commit);
        let _ = writeln!(
            md,
            "- Load average (1/5/15 min) before: {}; after: {}",
            m.loadavg_before, m.loadavg_after
        );
        let _ = writeln!(md, "- Settings: {}", m.settings);
        let _ = writeln!(md, "- Command: `{}`", m.command);
        md.push_str(
            "- The load generator runs on the same cores as the server under test; on a shared \
             machine (other builds running) numbers are noisy: compare ratios from one run, and \
             rerun when the load average above is high. It and the floor are built with Hangar's \
             allocator (mimalloc): on glibc's, the load generator held the floor back by about \
             a sixth (docs/performance.md, \"Since: the load generator on mimalloc\").\n\n",
        );
        md.push_str(
            "Targets: **floor** = a native tonic server in `bench/` answering with precomputed \
             responses (what no agent host can beat here), on tokio's default workers (one per \
             CPU); **floor-1thread** = the same on one thread (tokio's current-thread \
             scheduler); **flytekit** = flytekit 1.16.31 \
             `pyflyte serve agent` with `bench/flytekit/echo_agents.py`; **hangar-LANG** = \
             `hangar serve` with that language's echo agents (async and sync), default \
             settings (a fresh instance per call); **hangar-LANG-reuse** = the same with \
             `[reuse] enabled = true` in each agent's manifest (instances kept and reset between \
             calls, docs/manifest.md); **hangar-LANG-reuse-1worker** = that, served by one \
             thread (`--worker-threads 1`, where the default is one per CPU), which is tokio's \
             current-thread scheduler: Hangar's calls on one thread, the other CPU left to the \
             load generator (docs/performance.md, \"Since: worker threads\" and \"Since: one \
             thread\").\n\n",
        );

        self.render_targets(&mut md);
        self.render_rounds(&mut md);
        self.render_load(&mut md);
        self.render_overhead(&mut md);
        self.render_startup(&mut md);
        self.render_memory(&mut md);
        self.render_languages(&mut md);
        if !self.notes.is_empty() {
            md.push_str("## Notes\n\n");
            for note in &self.notes {
                let _ = writeln!(md, "- {note}");
            }
            md.push('\n');
        }
        md
    }

    /// `a` over `b` at CreateTask, concurrency 16, for a verdict, with the
    /// text to show: the median of the interleaved rounds' ratios when there
    /// are rounds, else the load matrix's one ratio.
    fn verdict_ratio(
        &self,
        a: &str,
        b: &str,
        value: fn(&LoadResult) -> Option<f64>,
    ) -> (Option<f64>, String) {
        if self.rounds.is_empty() {
            let at = |t: &str| {
                self.find(t, rounds::RPC, rounds::CONCURRENCY)
                    .and_then(value)
            };
            let (x, y) = (at(a), at(b));
            let r = x.zip(y).filter(|(_, y)| *y > 0.0).map(|(x, y)| x / y);
            return (r, r.map_or("-".to_owned(), verdict_ratio_text));
        }
        let each = rounds::ratios(&self.rounds, a, b, value);
        let Some(median) = rounds::median(&each) else {
            return (None, "-".to_owned());
        };
        let lowest = each.iter().copied().fold(f64::INFINITY, f64::min);
        let highest = each.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let shown = format!(
            "{} (median of {} rounds; {} to {})",
            verdict_ratio_text(median),
            each.len(),
            verdict_ratio_text(lowest),
            verdict_ratio_text(highest),
        );
        (Some(median), shown)
    }

    /// The targets, each with its measured value and a verdict.
    fn render_targets(&self, md: &mut String) {
        md.push_str("## Targets (issue 6)\n\n");
        if self.rounds.is_empty() {
            md.push_str(
                "Ratios from the load matrix below (one measurement per target; no interleaved \
                 rounds in this run).\n\n",
            );
        } else {
            md.push_str(
                "Ratios at CreateTask, concurrency 16, from the interleaved rounds (\"Target \
                 rounds\" below): every target served at once and each round loaded them in \
                 turn, so a ratio compares measurements seconds apart; shown is the median of \
                 the rounds' ratios and their range.\n\n",
            );
        }
        md.push_str("| target | measured | goal | met |\n|---|---|---|---|\n");
        let mut check = |what: &str,
                         value: Option<f64>,
                         goal: f64,
                         shown: String,
                         goal_text: &str,
                         at_least: bool| {
            let met = match value {
                Some(v) if at_least => {
                    if v >= goal {
                        "yes"
                    } else {
                        "**no**"
                    }
                }
                Some(v) => {
                    if v < goal {
                        "yes"
                    } else {
                        "**no**"
                    }
                }
                None => "not measured",
            };
            let _ = writeln!(md, "| {what} | {shown} | {goal_text} | {met} |");
        };
        // Each goal for a fresh instance per call (the default) and for
        // `[reuse] enabled = true` (instances kept and reset between calls).
        // And with reuse on one thread (`--worker-threads 1`, the
        // current-thread scheduler).
        for (suffix, how) in [
            ("", "fresh instance per call"),
            ("-reuse", "instances reused"),
            ("-reuse-1worker", "instances reused, one thread"),
        ] {
            let rust = format!("hangar-rust{suffix}");
            let (r, shown) = self.verdict_ratio(&rust, "flytekit", LoadResult::measured_rps);
            check(
                &format!("Rust echo ({how}), CreateTask c=16, rps vs flytekit"),
                r,
                12.0,
                shown,
                ">= 12x",
                true,
            );
            // Against the faster floor: the lower of the two ratios.
            let (r, shown) = FLOORS
                .iter()
                .filter_map(|floor| {
                    let (r, shown) = self.verdict_ratio(&rust, floor, LoadResult::measured_rps);
                    r.map(|r| (r, format!("{shown} against {floor}")))
                })
                .min_by(|(a, _), (b, _)| a.total_cmp(b))
                .map_or((None, "-".to_owned()), |(r, shown)| (Some(r), shown));
            check(
                &format!("Rust echo ({how}), CreateTask c=16, rps vs the faster floor"),
                r,
                0.6,
                shown,
                ">= 0.6x",
                true,
            );
            let (r, shown) = self.verdict_ratio(&rust, "flytekit", LoadResult::measured_p99_us);
            check(
                &format!("Rust echo ({how}), CreateTask c=16, p99 vs flytekit"),
                r,
                0.1 + 1e-12,
                shown,
                "<= 0.1x",
                false,
            );
            for (lang, goal) in [
                ("python", 3.0),
                ("js", 5.0),
                ("js-quickjs", 5.0),
                ("go", 5.0),
            ] {
                let target = format!("hangar-{lang}{suffix}");
                let (r, shown) = self.verdict_ratio(&target, "flytekit", LoadResult::measured_rps);
                check(
                    &format!("{lang} echo ({how}), CreateTask c=16, rps vs flytekit"),
                    r,
                    goal,
                    shown,
                    &format!(">= {goal}x"),
                    true,
                );
            }
        }
        let twenty = self.startup.iter().find(|s| s.plugins == 20);
        let cached = twenty
            .and_then(|s| s.cached.as_ref().ok())
            .map(|d| d.as_secs_f64());
        check(
            "start-up, 20 plugins, from the compile cache",
            cached,
            1.0,
            cached.map_or("-".to_owned(), |s| duration(Duration::from_secs_f64(s))),
            "< 1 s",
            false,
        );
        let ten = self.memory.iter().find(|m| m.what == plugins_label(10));
        let idle = ten.and_then(|m| m.idle.as_ref().ok()).map(|b| *b as f64);
        check(
            "idle RSS, 10 small plugins",
            idle,
            64.0 * 1048576.0,
            idle.map_or("-".to_owned(), |b| bytes(b as u64)),
            "< 64 MiB",
            false,
        );
        // Not a goal: what a native server on one thread reaches, for the
        // p99 goal above.
        let (r, shown) =
            self.verdict_ratio("floor-1thread", "flytekit", LoadResult::measured_p99_us);
        if r.is_some() {
            let _ = writeln!(
                md,
                "| (reference, not a goal) the floor on one thread, CreateTask c=16, p99 vs \
                 flytekit | {shown} | - | - |"
            );
        }
        md.push('\n');
    }

    /// Each target's rps in each interleaved round.
    fn render_rounds(&self, md: &mut String) {
        let Some(last) = self.rounds.iter().map(|s| s.round).max() else {
            return;
        };
        md.push_str("## Target rounds\n\n");
        md.push_str(
            "CreateTask at concurrency 16, rps of OK answers; every target served at once and \
             each round loaded them one after another, in this order. Server CPU per call is \
             the server process's user and system time (all threads) during a round's \
             measured window over its answers, median of the rounds: it depends far less than \
             rps on how much of the shared CPUs the load generator took.\n\n| target |",
        );
        for round in 1..=last {
            let _ = write!(md, " round {round} |");
        }
        md.push_str(" median | server CPU per call |\n|---|");
        for _ in 0..=last + 1 {
            md.push_str("---:|");
        }
        md.push('\n');
        let mut names: Vec<&str> = Vec::new();
        for s in &self.rounds {
            if !names.contains(&s.target.as_str()) {
                names.push(&s.target);
            }
        }
        for name in names {
            let _ = write!(md, "| {name} |");
            let mut measured = Vec::new();
            let mut cpu_per_call = Vec::new();
            for round in 1..=last {
                let cell = self
                    .rounds
                    .iter()
                    .find(|s| s.round == round && s.target == name)
                    .map_or("-".to_owned(), |s| match &s.outcome {
                        Ok(r) => {
                            measured.push(r.rps());
                            cpu_per_call.extend(r.server_cpu_per_call_us());
                            if r.errors() == 0 {
                                format!("{:.0}", r.rps())
                            } else {
                                format!("{:.0} ({})", r.rps(), r.codes_text())
                            }
                        }
                        Err(e) => e.clone(),
                    });
                let _ = write!(md, " {cell} |");
            }
            let median = rounds::median(&measured).map_or("-".to_owned(), |m| format!("{m:.0}"));
            let cpu = rounds::median(&cpu_per_call).map_or("-".to_owned(), cpu_cell);
            let _ = writeln!(md, " {median} | {cpu} |");
        }
        md.push('\n');
    }

    /// One table per RPC: every target at every concurrency.
    fn render_load(&self, md: &mut String) {
        md.push_str("## Throughput and latency\n\n");
        md.push_str(
            "rps = OK answers per second; p50/p99 of OK answers; `x flytekit` and `x floor` are \
             this row's rps divided by theirs at the same RPC and concurrency (`x floor` by the \
             faster of `floor`, on tokio's default workers, and `floor-1thread`, on one \
             thread); `p99 / flytekit` \
             is this row's p99 over flytekit's (lower is better). Errors counts non-OK answers by \
             gRPC code.\n\n",
        );
        for rpc in [Rpc::Create, Rpc::Get, Rpc::Sync] {
            let rows: Vec<&LoadRow> = self.load.iter().filter(|r| r.rpc == rpc).collect();
            if rows.is_empty() {
                continue;
            }
            let _ = writeln!(md, "### {rpc}\n");
            md.push_str("| conc. | target | rps | p50 | p99 | x flytekit | x floor | p99 / flytekit | errors |\n");
            md.push_str("|---:|---|---:|---:|---:|---:|---:|---:|---|\n");
            for row in rows {
                let c = row.concurrency;
                match &row.outcome {
                    Ok(r) => {
                        let rps = r.measured_rps();
                        let p99 = r.measured_p99_us();
                        let errors = if r.errors() == 0 {
                            "0".to_owned()
                        } else {
                            r.codes_text()
                        };
                        let _ = writeln!(
                            md,
                            "| {c} | {} | {:.0} | {} | {} | {} | {} | {} | {errors} |",
                            row.target,
                            r.rps(),
                            micros(r.latency.quantile_us(0.5) as f64),
                            micros(r.latency.quantile_us(0.99) as f64),
                            ratio(rps, self.rps("flytekit", rpc, c)),
                            ratio(rps, self.floor_rps(rpc, c)),
                            ratio(p99, self.p99("flytekit", rpc, c)),
                        );
                    }
                    Err(e) => {
                        let _ = writeln!(md, "| {c} | {} | {e} | | | | | | |", row.target);
                    }
                }
            }
            md.push('\n');
        }
    }

    /// Host overhead: Hangar's mean latency minus the floor's, concurrency 1.
    fn render_overhead(&self, md: &mut String) {
        md.push_str("## Host overhead per call\n\n");
        md.push_str(
            "Latency at concurrency 1 minus the floor's for the same RPC (of the two floors, the \
             one with the lower p50; mean / p50; the p50 \
             difference is the steadier one on a busy machine): everything \
             Hangar adds to a call (routing, literal conversion, a fresh instance, the call into \
             the guest and back) beyond the gRPC work the floor also does, as the client sees it. \
             The guests are echo agents, so their own work is a JSON round trip; the table \
             after this one separates it.\n\n",
        );
        md.push_str("| target | CreateTask | GetTask | ExecuteTaskSync |\n|---|---:|---:|---:|\n");
        let targets: Vec<&str> = {
            let mut seen: Vec<&str> = Vec::new();
            for r in &self.load {
                if r.target.starts_with("hangar-") && !seen.contains(&r.target.as_str()) {
                    seen.push(&r.target);
                }
            }
            seen
        };
        for target in targets {
            let cell = |rpc| {
                let mine = self.find(target, rpc, 1).filter(|r| r.latency.count() > 0);
                let floor = self.quickest_floor(rpc, 1);
                match (mine, floor) {
                    (Some(m), Some(f)) => format!(
                        "{} / {}",
                        micros(m.latency.mean_us() - f.latency.mean_us()),
                        micros(
                            m.latency.quantile_us(0.5) as f64 - f.latency.quantile_us(0.5) as f64
                        )
                    ),
                    _ => "-".to_owned(),
                }
            };
            let _ = writeln!(
                md,
                "| {target} | {} | {} | {} |",
                cell(Rpc::Create),
                cell(Rpc::Get),
                cell(Rpc::Sync)
            );
        }
        md.push('\n');
        self.render_splits(md);
    }

    /// The same calls split by Hangar's own metrics: the host's share and
    /// the guest's.
    fn render_splits(&self, md: &mut String) {
        if self.splits.is_empty() {
            return;
        }
        md.push_str(
            "Split by Hangar's own metrics (means over the concurrency-1 runs, warm-up included): \
             **host** = the request as the server timed it minus the time inside the guest's \
             exported function, i.e. everything but the agent's own work (routing, literal \
             conversion, creating the fresh instance, which is also shown alone, and dropping \
             it); **guest** = inside the export (the agent's code, the host functions it calls \
             and the page faults its writes take). The client also sees the gRPC transport, as \
             the floor does.\n\n",
        );
        md.push_str(
            "| target | RPC | calls | server time | host (of which instantiate) | guest |\n\
             |---|---|---:|---:|---:|---:|\n",
        );
        for row in &self.splits {
            let s = &row.split;
            let _ = writeln!(
                md,
                "| {} | {} | {:.0} | {} | {} ({}) | {} |",
                row.target,
                row.rpc,
                s.calls,
                micros(s.request * 1e6),
                micros(s.host() * 1e6),
                micros(s.instantiate * 1e6),
                micros(s.guest * 1e6),
            );
        }
        md.push('\n');
    }

    fn render_startup(&self, md: &mut String) {
        md.push_str("## Start-up\n\n");
        md.push_str(
            "Time from spawning `hangar serve` to its `hangar listening on` line. N plugins = N \
             distinct copies of the Rust echo agent (its task type rewritten to `e000`, `e001`, \
             ...; `loaded` is Hangar's `hangar_plugins_loaded` gauge, to prove none was refused). \
             Cold = `--no-cache` (every component compiled); cached = from a compile cache a \
             previous start filled (median of the warm starts).\n\n",
        );
        md.push_str("| plugins | loaded | cold | cached |\n|---:|---:|---:|---:|\n");
        for s in &self.startup {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} |",
                s.plugins,
                s.loaded.map_or("-".to_owned(), |n| n.to_string()),
                outcome_text(&s.cold, |d| duration(*d)),
                outcome_text(&s.cached, |d| duration(*d)),
            );
        }
        if let Some(fk) = &self.flytekit_startup {
            let _ = writeln!(
                md,
                "\nFor reference, `pyflyte serve agent` with the two echo agents takes {} until its \
                 port accepts connections.",
                outcome_text(fk, |d| duration(*d))
            );
        }
        md.push('\n');
    }

    fn render_memory(&self, md: &mut String) {
        md.push_str("## Memory\n\n");
        md.push_str(
            "RSS (`VmRSS` of the server process). Idle: after start-up and a short settle; every \
             Hangar server here loads its plugins from a compile cache filled by an earlier start \
             (a server that compiled keeps the compiler's freed heap in its RSS). Under load: \
             peak while serving CreateTask at concurrency 16.\n\n",
        );
        md.push_str("| server | loaded | idle RSS | RSS under load |\n|---|---:|---:|---:|\n");
        for m in &self.memory {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} |",
                m.what,
                m.loaded.map_or("-".to_owned(), |n| n.to_string()),
                outcome_text(&m.idle, |b| bytes(*b)),
                outcome_text(&m.under_load, |b| bytes(*b)),
            );
        }
        md.push('\n');
    }

    /// The table for the README (issue 4).
    fn render_languages(&self, md: &mut String) {
        md.push_str("## Per language (for the README)\n\n");
        md.push_str(
            "Component size of the echo agents (async / sync); cold start = time to serving with \
             that one plugin (the async echo), without and with the compile cache; per-call cost \
             = mean / p50 latency at concurrency 1 through `hangar serve` (the floor's is the \
             gRPC cost alone).\n\n",
        );
        md.push_str(
            "| language | size (async / sync) | cold start, no cache | cold start, cached | CreateTask mean / p50 | ExecuteTaskSync mean / p50 |\n",
        );
        md.push_str("|---|---:|---:|---:|---:|---:|\n");
        let cost = |target: &str, rpc| {
            self.find(target, rpc, 1)
                .filter(|r| r.latency.count() > 0)
                .map_or("-".to_owned(), |r| {
                    format!(
                        "{} / {}",
                        micros(r.latency.mean_us()),
                        micros(r.latency.quantile_us(0.5) as f64)
                    )
                })
        };
        for l in &self.languages {
            let size = |b: Option<u64>| b.map_or("missing".to_owned(), bytes);
            let target = format!("hangar-{}", l.language);
            let _ = writeln!(
                md,
                "| {} | {} / {} | {} | {} | {} | {} |",
                l.language,
                size(l.async_bytes),
                size(l.sync_bytes),
                outcome_text(&l.cold, |d| duration(*d)),
                outcome_text(&l.cached, |d| duration(*d)),
                cost(&target, Rpc::Create),
                cost(&target, Rpc::Sync),
            );
        }
        for floor in FLOORS {
            if self.find(floor, Rpc::Create, 1).is_some() {
                let _ = writeln!(
                    md,
                    "| ({floor}) | - | - | - | {} | {} |",
                    cost(floor, Rpc::Create),
                    cost(floor, Rpc::Sync)
                );
            }
        }
        md.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::histogram::Histogram;

    #[test]
    fn reads_meminfo_values() {
        let meminfo = "MemTotal:       24684132 kB\nSwapCached:            0 kB\nSwapTotal:             0 kB\n";
        let cases = [
            ("MemTotal:", Some(24684132)),
            ("SwapTotal:", Some(0)),
            ("SwapFree:", None),
        ];
        for (key, expected) in cases {
            assert_eq!(meminfo_kib(meminfo, key), expected, "{key}");
        }
        assert_eq!(meminfo_kib("SwapTotal: lots kB\n", "SwapTotal:"), None);
        assert_eq!(gib(24684132), "23.5 GiB");
    }

    fn result(latency_us: u64, n: u64, secs: u64) -> LoadResult {
        let mut latency = Histogram::default();
        for _ in 0..n {
            latency.record_us(latency_us);
        }
        let mut codes = std::collections::BTreeMap::new();
        codes.insert("OK".to_owned(), n);
        LoadResult {
            latency,
            codes,
            elapsed: Duration::from_secs(secs),
            server_cpu: None,
        }
    }

    fn row(target: &str, rpc: Rpc, c: usize, outcome: Outcome<LoadResult>) -> LoadRow {
        LoadRow {
            target: target.to_owned(),
            rpc,
            concurrency: c,
            outcome,
        }
    }

    #[test]
    fn ratio_formats() {
        assert_eq!(ratio(Some(1200.0), Some(100.0)), "12.0x");
        assert_eq!(ratio(Some(60.0), Some(100.0)), "0.60x");
        assert_eq!(ratio(Some(1.0), Some(0.0)), "-");
        assert_eq!(ratio(None, Some(1.0)), "-");
        // Verdicts show which side of a goal a value is on.
        for (r, shown) in [
            (12.84, "12.8x"),
            (4.123, "4.12x"),
            (0.10041, "0.1004x"),
            (0.09962, "0.0996x"),
            (0.6, "0.6000x"),
        ] {
            assert_eq!(verdict_ratio_text(r), shown, "{r}");
        }
    }

    #[test]
    fn units() {
        assert_eq!(micros(850.0), "850 µs");
        assert_eq!(micros(1234.0), "1.23 ms");
        assert_eq!(micros(12_345.0), "12.3 ms");
        assert_eq!(micros(-2_500.0), "-2.50 ms");
        assert_eq!(duration(Duration::from_millis(250)), "250 ms");
        assert_eq!(duration(Duration::from_millis(1500)), "1.50 s");
        assert_eq!(bytes(3 << 20), "3.0 MiB");
        assert_eq!(bytes(2048), "2 KiB");
    }

    #[test]
    fn ratios_and_missing_rows_render() {
        let report = Report {
            load: vec![
                row("floor", Rpc::Create, 16, Ok(result(100, 20_000, 1))),
                row("flytekit", Rpc::Create, 16, Ok(result(10_000, 1_000, 1))),
                row("hangar-rust", Rpc::Create, 16, Ok(result(200, 15_000, 1))),
                row(
                    "hangar-go",
                    Rpc::Create,
                    16,
                    Err("missing: build with make plugins".to_owned()),
                ),
                row("floor", Rpc::Create, 1, Ok(result(50, 100, 1))),
                row("hangar-rust", Rpc::Create, 1, Ok(result(80, 100, 1))),
            ],
            ..Default::default()
        };
        let md = report.render();
        // 15000 / 1000 and 15000 / 20000; p99 200 µs / 10 ms.
        assert!(
            md.contains(
                "| 16 | hangar-rust | 15000 | 200 µs | 200 µs | 15.0x | 0.75x | 0.02x | 0 |"
            ),
            "{md}"
        );
        assert!(
            md.contains("| 16 | hangar-go | missing: build with make plugins |"),
            "{md}"
        );
        assert!(
            md.contains("| Rust echo (fresh instance per call), CreateTask c=16, rps vs flytekit | 15.0x | >= 12x | yes |"),
            "{md}"
        );
        assert!(
            md.contains("| Rust echo (fresh instance per call), CreateTask c=16, rps vs the faster floor | 0.7500x against floor | >= 0.6x | yes |"),
            "{md}"
        );
        assert!(
            md.contains("| Rust echo (fresh instance per call), CreateTask c=16, p99 vs flytekit | 0.0200x | <= 0.1x | yes |"),
            "{md}"
        );
        assert!(
            md.contains("| go echo (fresh instance per call), CreateTask c=16, rps vs flytekit | - | >= 5x | not measured |"),
            "{md}"
        );
        // Overhead: 80 - 50 µs, mean and p50 alike.
        assert!(
            md.contains("| hangar-rust | 30 µs / 30 µs | - | - |"),
            "{md}"
        );
    }

    #[test]
    fn a_missed_target_says_no() {
        let report = Report {
            load: vec![
                row("flytekit", Rpc::Create, 16, Ok(result(1_000, 1_000, 1))),
                row(
                    "hangar-python",
                    Rpc::Create,
                    16,
                    Ok(result(1_000, 2_000, 1)),
                ),
            ],
            ..Default::default()
        };
        let md = report.render();
        assert!(
            md.contains(
                "| python echo (fresh instance per call), CreateTask c=16, rps vs flytekit | 2.00x | >= 3x | **no** |"
            ),
            "{md}"
        );
    }

    #[test]
    fn rounds_decide_the_verdict_by_median_ratio() {
        use crate::rounds::test_sample as sample;
        // The matrix alone says 2x; the rounds say 3.5x, 3.2x, 2.8x: median 3.2x.
        let report = Report {
            load: vec![
                row("flytekit", Rpc::Create, 16, Ok(result(1_000, 1_000, 1))),
                row(
                    "hangar-python-reuse",
                    Rpc::Create,
                    16,
                    Ok(result(1_000, 2_000, 1)),
                ),
            ],
            rounds: vec![
                sample(1, "flytekit", 1_000),
                sample(1, "hangar-python-reuse", 3_500),
                sample(2, "flytekit", 500),
                sample(2, "hangar-python-reuse", 1_600),
                sample(3, "flytekit", 1_000),
                sample(3, "hangar-python-reuse", 2_800),
            ],
            ..Default::default()
        };
        let md = report.render();
        assert!(
            md.contains(
                "| python echo (instances reused), CreateTask c=16, rps vs flytekit | 3.20x (median of 3 rounds; 2.80x to 3.50x) | >= 3x | yes |"
            ),
            "{md}"
        );
        assert!(
            md.contains("| hangar-python-reuse | 3500 | 1600 | 2800 | 2800 | - |"),
            "{md}"
        );
        // A target never measured stays "not measured", not a made-up ratio.
        assert!(
            md.contains("| js echo (instances reused), CreateTask c=16, rps vs flytekit | - | >= 5x | not measured |"),
            "{md}"
        );
    }

    #[test]
    fn rounds_show_the_median_server_cpu_per_call() {
        use crate::rounds::test_sample as sample;
        // CPU over every answer, OK or not: 2,000 answers in 46 ms is 23 µs.
        let with_cpu = |round, target, ok, cpu_ms, failed: u64| {
            let mut s = sample(round, target, ok);
            if let Ok(r) = &mut s.outcome {
                r.server_cpu = Some(Duration::from_millis(cpu_ms));
                if failed > 0 {
                    r.codes.insert("UNAVAILABLE".to_owned(), failed);
                }
            }
            s
        };
        let report = Report {
            rounds: vec![
                with_cpu(1, "floor", 1_000, 15, 0),
                with_cpu(1, "hangar-rust-reuse", 2_000, 50, 0),
                with_cpu(2, "floor", 1_000, 14, 0),
                with_cpu(2, "hangar-rust-reuse", 1_900, 46, 100),
                with_cpu(3, "floor", 1_000, 16, 0),
                with_cpu(3, "hangar-rust-reuse", 2_000, 40, 0),
                sample(1, "flytekit", 100),
            ],
            ..Default::default()
        };
        let md = report.render();
        assert!(
            md.contains("| round 1 | round 2 | round 3 | median | server CPU per call |"),
            "{md}"
        );
        assert!(
            md.contains("| floor | 1000 | 1000 | 1000 | 1000 | 15.0 µs |"),
            "{md}"
        );
        // 25, 23 (46 ms over 1,900 OK and 100 failed) and 20 µs: median 23.
        assert!(md.contains("| 2000 | 23.0 µs |"), "{md}");
        // No CPU reading: no made-up number.
        assert!(md.contains("| flytekit | 100 | - | - | 100 | - |"), "{md}");
    }

    #[test]
    fn rates_are_against_the_faster_floor_and_latency_against_the_quicker() {
        use crate::rounds::test_sample as sample;
        let report = Report {
            load: vec![
                // At c=16 the default floor serves more; at c=1 the
                // one-thread floor answers sooner.
                row("floor", Rpc::Create, 16, Ok(result(300, 20_000, 1))),
                row("floor-1thread", Rpc::Create, 16, Ok(result(150, 16_000, 1))),
                row("flytekit", Rpc::Create, 16, Ok(result(10_000, 1_000, 1))),
                row(
                    "hangar-rust-reuse",
                    Rpc::Create,
                    16,
                    Ok(result(200, 12_000, 1)),
                ),
                row("floor", Rpc::Create, 1, Ok(result(60, 100, 1))),
                row("floor-1thread", Rpc::Create, 1, Ok(result(50, 100, 1))),
                row("hangar-rust-reuse", Rpc::Create, 1, Ok(result(80, 100, 1))),
            ],
            rounds: vec![
                sample(1, "floor", 20_000),
                sample(1, "floor-1thread", 24_000),
                sample(1, "flytekit", 1_000),
                sample(1, "hangar-rust-reuse", 12_000),
                sample(2, "floor", 20_000),
                sample(2, "floor-1thread", 15_000),
                sample(2, "flytekit", 1_000),
                sample(2, "hangar-rust-reuse", 12_000),
                sample(3, "floor", 20_000),
                sample(3, "floor-1thread", 24_000),
                sample(3, "flytekit", 1_000),
                sample(3, "hangar-rust-reuse", 12_000),
            ],
            ..Default::default()
        };
        let md = report.render();
        // Matrix: 12000 / max(20000, 16000).
        assert!(
            md.contains(
                "| 16 | hangar-rust-reuse | 12000 | 200 µs | 200 µs | 12.0x | 0.60x | 0.02x | 0 |"
            ),
            "{md}"
        );
        // Rounds: median 0.60x against floor, 0.50x against floor-1thread;
        // the verdict takes the faster floor, so the lower ratio.
        assert!(
            md.contains("| Rust echo (instances reused), CreateTask c=16, rps vs the faster floor | 0.5000x (median of 3 rounds; 0.5000x to 0.8000x) against floor-1thread | >= 0.6x | **no** |"),
            "{md}"
        );
        // Overhead: 80 - 50 µs, the one-thread floor's latency at c=1.
        assert!(
            md.contains("| hangar-rust-reuse | 30 µs / 30 µs | - | - |"),
            "{md}"
        );
        assert!(
            md.contains("| (reference, not a goal) the floor on one thread, CreateTask c=16, p99 vs flytekit |"),
            "{md}"
        );
    }
}
