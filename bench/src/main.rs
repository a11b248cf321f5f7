//! `hangar-bench`: measures Hangar side by side with flytekit's
//! `pyflyte serve agent` (the anchor) and a native tonic server with
//! precomputed answers (the floor), in one run on one machine with one load
//! generator, and writes `BENCHMARKS.md`. See `hangar-bench --help`.

mod all;
mod call_split;
mod floor;
mod histogram;
mod load;
mod memory;
mod plugins;
mod proto;
mod report;
mod request;
mod rounds;
mod server_cpu;
mod startup;
mod targets;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};

use crate::load::{LoadSpec, Rpc};
use crate::targets::{Cache, Paths, Server, Target};

/// mimalloc, as in `hangar`. The load generator shares the CPUs with the
/// server under test, and on glibc's malloc it spent about a tenth of its
/// samples in the allocator and held the floor back by about a sixth
/// (docs/performance.md, "Since: the load generator on mimalloc"). The
/// floor, the same binary, gets it too: it gains nothing from it when
/// measured alone, but no allocator then separates it from Hangar.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Benchmarks Hangar against flytekit's agent server and a native floor.
///
/// Every server runs as its own process on 127.0.0.1 and gets the same
/// requests from the same closed-loop gRPC load generator: CreateTask and
/// GetTask to an async echo agent, ExecuteTaskSync to a sync echo agent, with
/// the inputs {"n": 3, "s": "hi"}.
///
/// Targets: `floor` (native tonic server, precomputed answers, tokio's
/// default workers), `floor-1thread` (the same on one thread, tokio's
/// current-thread scheduler; rate ratios are against the faster floor),
/// `flytekit` (`pyflyte serve agent` with bench/flytekit/echo_agents.py), and
/// `hangar-rust`, `hangar-python`, `hangar-js`, `hangar-go` (`hangar serve`
/// with that language's echo agents; a missing component makes its rows say
/// "missing: build with make plugins"); each of those with `-reuse`
/// (`[reuse] enabled = true` in the agents' manifests) and with
/// `-reuse-1worker` (that, and `hangar serve --worker-threads 1`: one thread,
/// tokio's current-thread scheduler).
///
/// Examples:
///
///   hangar-bench all --duration 5s --out BENCHMARKS.md    # everything
///
///   hangar-bench all --duration 1s --warmup 200ms --skip-startup --skip-memory
///
///   hangar-bench all --targets floor,flytekit,hangar-go-reuse --rounds 5 --rpc create \
///       --concurrency 16 --skip-startup --skip-memory --out /tmp/go.md  # one verdict
///
///   hangar-bench load --target hangar-rust --rpc create --concurrency 16
///
///   hangar-bench startup --plugins 20
///
///   hangar-bench memory --plugins 10
#[derive(Parser, Debug)]
#[command(name = "hangar-bench", verbatim_doc_comment)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run everything (load matrix, start-up, memory, per-language table)
    /// and write the report.
    All(AllArgs),
    /// One load run against one target (started for the run, or an
    /// --endpoint already serving); prints rps, p50, p90, p99, p99.9, mean
    /// and max latency, answers by gRPC code, and (with --server-pid, or for
    /// a target it started) the server's CPU per call.
    Load(LoadArgs),
    /// Time to serving with N distinct plugins, cold and from the cache.
    Startup(StartupArgs),
    /// Hangar's RSS with N distinct plugins, idle and under load.
    Memory(MemoryArgs),
    /// Serve the floor (used by the other commands; prints
    /// `floor listening on ADDR`).
    Floor {
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: std::net::SocketAddr,
        /// Runtime threads; 1 runs tokio's current-thread scheduler
        /// [default: tokio's multi-thread default, one per CPU].
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
        worker_threads: Option<u16>,
    },
}

/// Where things are; defaults are relative to the repository this binary
/// was built from.
#[derive(Args, Debug, Clone)]
struct Common {
    /// Repository root (plugins/, target/test-plugins/, bench/flytekit/).
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/.."))]
    repo: PathBuf,
    /// The hangar binary [default: REPO/target/release/hangar].
    #[arg(long)]
    hangar_bin: Option<PathBuf>,
    /// pyflyte with flytekit 1.16.31 [default: REPO/.venv/bin/pyflyte].
    #[arg(long)]
    pyflyte: Option<PathBuf>,
    /// Client runtime threads of the load generator [default: cores].
    #[arg(long)]
    client_threads: Option<usize>,
}

/// Load-run settings shared by `all` and `load`.
#[derive(Args, Debug, Clone)]
struct LoadSettings {
    /// Measured time per point (e.g. 5s, 500ms).
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    duration: Duration,
    /// Unmeasured warm-up before each point.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    warmup: Duration,
    /// HTTP/2 connections per point; the workers' calls are multiplexed
    /// over them round-robin. Propeller multiplexes every call to an agent
    /// endpoint over one gRPC connection; the default of 2 lets a server on
    /// 2 cores use both (one connection is served by one task). Pass the
    /// concurrency for one connection per worker.
    #[arg(long, default_value_t = 2)]
    connections: usize,
}

#[derive(Args, Debug)]
struct AllArgs {
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    load: LoadSettings,
    /// Concurrencies of the load matrix.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
    concurrency: Vec<usize>,
    /// RPCs of the load matrix.
    #[arg(long, value_delimiter = ',', default_value = "create,get,sync")]
    rpc: Vec<Rpc>,
    /// Targets [default: every target].
    #[arg(long, value_delimiter = ',')]
    targets: Vec<String>,
    /// Plugin counts of the start-up benchmark.
    #[arg(long, value_delimiter = ',', default_value = "1,20,100")]
    startup_plugins: Vec<usize>,
    /// Plugin counts of the memory benchmark.
    #[arg(long, value_delimiter = ',', default_value = "1,10,100")]
    memory_plugins: Vec<usize>,
    /// Warm starts per start-up measurement (the median is reported).
    #[arg(long, default_value_t = 3)]
    repeat: usize,
    /// Interleaved rounds for the target verdicts: every target serves at
    /// once and each round loads them in turn (CreateTask, concurrency 16,
    /// --duration each); the verdicts use the median of the per-round ratios.
    /// 0 skips them and judges from the load matrix.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Skip the start-up benchmark (and the per-language cold starts).
    #[arg(long)]
    skip_startup: bool,
    /// Skip the memory benchmark with N plugins.
    #[arg(long)]
    skip_memory: bool,
    /// Where to write the report.
    #[arg(long, default_value = "BENCHMARKS.md")]
    out: PathBuf,
}

#[derive(Args, Debug)]
struct LoadArgs {
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    load: LoadSettings,
    /// Target to start (the list is in `hangar-bench --help`).
    #[arg(long, default_value = "hangar-rust")]
    target: String,
    #[arg(long, value_enum, default_value = "create")]
    rpc: Rpc,
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Load a server already serving at this URL (http://HOST:PORT) instead
    /// of starting --target; needs --task-type.
    #[arg(long, requires = "task_type")]
    endpoint: Option<String>,
    /// Task type to send with --endpoint.
    #[arg(long)]
    task_type: Option<String>,
    /// With --endpoint: the server's process id, to report its CPU time per
    /// call over the measured window (a started --target is measured
    /// without it).
    #[arg(long, requires = "endpoint")]
    server_pid: Option<u32>,
}

#[derive(Args, Debug)]
struct StartupArgs {
    #[command(flatten)]
    common: Common,
    /// Number of distinct plugins (copies of the Rust echo agent).
    #[arg(long, value_delimiter = ',', default_value = "20")]
    plugins: Vec<usize>,
    /// Warm starts (the median is reported).
    #[arg(long, default_value_t = 3)]
    repeat: usize,
}

#[derive(Args, Debug)]
struct MemoryArgs {
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    load: LoadSettings,
    /// Number of distinct plugins (copies of the Rust echo agent).
    #[arg(long, value_delimiter = ',', default_value = "10")]
    plugins: Vec<usize>,
}

/// Parses `5s`, `500ms`, `1.5s`, `2m`.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .map_or((text, "s"), |i| (&text[..i], &text[i..]));
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (e.g. 5s, 500ms, 2m)"))?;
    let secs = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        _ => {
            return Err(format!(
                "unknown unit {unit:?} in {text:?} (use ms, s or m)"
            ));
        }
    };
    Duration::try_from_secs_f64(secs).map_err(|e| format!("{text:?}: {e}"))
}

impl Common {
    /// Resolves the paths and creates a fresh scratch directory.
    fn paths(&self) -> Result<Paths> {
        let repo = self
            .repo
            .canonicalize()
            .with_context(|| format!("repository {} not found", self.repo.display()))?;
        let work = std::env::temp_dir().join(format!("hangar-bench-{}", std::process::id()));
        std::fs::create_dir_all(&work)
            .with_context(|| format!("cannot create {}", work.display()))?;
        Ok(Paths {
            hangar: self
                .hangar_bin
                .clone()
                .unwrap_or_else(|| repo.join("target/release/hangar")),
            pyflyte: self
                .pyflyte
                .clone()
                .unwrap_or_else(|| repo.join(".venv/bin/pyflyte")),
            repo,
            work,
        })
    }

    /// The load generator's runtime.
    fn runtime(&self) -> Result<tokio::runtime::Runtime> {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        if let Some(n) = self.client_threads {
            builder.worker_threads(n.max(1));
        }
        builder
            .enable_all()
            .build()
            .context("cannot start the tokio runtime")
    }
}

/// Deletes the scratch directory (ours alone) when dropped.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn print_result(label: &str, result: &load::LoadResult) {
    println!(
        "{label}: {:.0} rps, p50 {}, p90 {}, p99 {}, p99.9 {}, mean {}, max {} ({})",
        result.rps(),
        report::micros(result.latency.quantile_us(0.5) as f64),
        report::micros(result.latency.quantile_us(0.9) as f64),
        report::micros(result.latency.quantile_us(0.99) as f64),
        report::micros(result.latency.quantile_us(0.999) as f64),
        report::micros(result.latency.mean_us()),
        report::micros(result.latency.max_us() as f64),
        result.codes_text()
    );
    if let Some(cpu) = result.server_cpu_per_call_us() {
        println!("  server CPU: {} per call", report::cpu_cell(cpu));
    }
}

fn cmd_load(args: LoadArgs) -> Result<()> {
    let paths = args.common.paths()?;
    let _scratch = Scratch(paths.work.clone());
    let runtime = args.common.runtime()?;
    let (server, endpoint, task_type) = match &args.endpoint {
        Some(endpoint) => (
            None,
            endpoint.clone(),
            args.task_type.clone().unwrap_or_default(),
        ),
        None => {
            let target = Target::parse(&args.target)?;
            let server = targets::start(&paths, &target, &Cache::Dir(paths.work.join("cache")))?;
            println!(
                "{} serving after {}",
                target.name(),
                report::duration(server.startup)
            );
            let task_type = match args.rpc {
                Rpc::Sync => target.sync_type(),
                Rpc::Create | Rpc::Get => target.async_type(),
            };
            let endpoint = server.endpoint.clone();
            (Some(server), endpoint, task_type.to_owned())
        }
    };
    let spec = LoadSpec {
        endpoint,
        rpc: args.rpc,
        task_type,
        concurrency: args.concurrency,
        connections: args.load.connections,
        warmup: args.load.warmup,
        duration: args.load.duration,
        server_pid: server.as_ref().map(Server::pid).or(args.server_pid),
    };
    let metrics = server.as_ref().and_then(|s| s.metrics.clone());
    let split_from = call_split::scrape_or_note(metrics.as_deref());
    let sampler = server.as_ref().map(|s| memory::RssSampler::start(s.pid()));
    let result = runtime.block_on(load::run(&spec))?;
    let peak = sampler.and_then(memory::RssSampler::finish);
    print_result(&format!("{} c={}", spec.rpc, spec.concurrency), &result);
    if let Some(peak) = peak {
        println!("server RSS peak under load: {}", report::bytes(peak));
    }
    if let Some(before) = split_from
        && let Some(after) = call_split::scrape_or_note(metrics.as_deref())
        && let Some(split) = after.since(&before)
    {
        println!(
            "hangar's split of a call (means): server {}, host {} (instantiate {}), guest {}",
            report::micros(split.request * 1e6),
            report::micros(split.host() * 1e6),
            report::micros(split.instantiate * 1e6),
            report::micros(split.guest * 1e6),
        );
    }
    drop(server);
    Ok(())
}

fn cmd_startup(args: StartupArgs) -> Result<()> {
    let paths = args.common.paths()?;
    let _scratch = Scratch(paths.work.clone());
    for n in args.plugins {
        let s = startup::measure_n(&paths, n, args.repeat)?;
        println!(
            "{n} plugins (loaded: {}): cold {}, from the cache {}",
            s.loaded.map_or("?".to_owned(), |n| n.to_string()),
            report::duration(s.cold),
            report::duration(s.cached)
        );
    }
    Ok(())
}

fn cmd_memory(args: MemoryArgs) -> Result<()> {
    let paths = args.common.paths()?;
    let _scratch = Scratch(paths.work.clone());
    let runtime = args.common.runtime()?;
    for n in args.plugins {
        let row = all::memory_with_plugins(&paths, &runtime, &args.load, n)?;
        println!(
            "{}: loaded {}, idle {}, under load {}",
            row.what,
            row.loaded.map_or("?".to_owned(), |n| n.to_string()),
            row.idle.map_or_else(|e| e, report::bytes),
            row.under_load.map_or_else(|e| e, report::bytes),
        );
    }
    Ok(())
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::All(args) => all::run(args),
        Command::Load(args) => cmd_load(args),
        Command::Startup(args) => cmd_startup(args),
        Command::Memory(args) => cmd_memory(args),
        Command::Floor {
            listen,
            worker_threads,
        } => {
            let mut builder = match worker_threads {
                None => tokio::runtime::Builder::new_multi_thread(),
                Some(1) => tokio::runtime::Builder::new_current_thread(),
                Some(n) => {
                    let mut builder = tokio::runtime::Builder::new_multi_thread();
                    builder.worker_threads(usize::from(n));
                    builder
                }
            };
            let runtime = builder
                .enable_all()
                .build()
                .context("cannot start the tokio runtime")?;
            runtime.block_on(floor::serve(listen))
        }
    }
}

/// Fails unless every requested concurrency is at least 1.
fn check_concurrency(values: &[usize]) -> Result<()> {
    if values.contains(&0) {
        bail!("--concurrency values must be at least 1");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("5h").is_err());
    }

    #[test]
    fn cli_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
