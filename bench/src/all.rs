//! `hangar-bench all`: runs the load matrix against every target, the
//! start-up and memory benchmarks and the per-language measurements, then
//! writes the report. A target that cannot run (missing plugin or binary,
//! failed start) fills its rows with the reason instead of stopping the run.

use std::time::Duration;

use anyhow::{Context, Result};
use tokio::runtime::Runtime;

use crate::load::{self, LoadSpec, Rpc};
use crate::memory::{self, RssSampler};
use crate::report::{LanguageRow, LoadRow, Machine, MemoryRow, Report, SplitRow, StartupRow};
use crate::targets::{self, Cache, LANGUAGES, Paths, Target};
use crate::{AllArgs, LoadSettings, Scratch, call_split, check_concurrency, plugins, startup};

/// How long a server sits idle before its RSS is read.
const SETTLE: Duration = Duration::from_secs(1);

/// Runs everything `args` asks for and writes the report.
pub fn run(args: AllArgs) -> Result<()> {
    check_concurrency(&args.concurrency)?;
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let settings = format!(
        "{} measured + {} warm-up per point; concurrency {:?}; RPCs {:?}; connections: {}; \
         target rounds: {}; start-up plugins {:?} ({} warm starts, median); memory plugins {:?}",
        crate::report::duration(args.load.duration),
        crate::report::duration(args.load.warmup),
        args.concurrency,
        args.rpc.iter().map(ToString::to_string).collect::<Vec<_>>(),
        args.load.connections,
        args.rounds,
        args.startup_plugins,
        args.repeat,
        args.memory_plugins,
    );
    let mut report = Report {
        machine: Machine::detect(command, settings),
        ..Default::default()
    };
    let paths = args.common.paths()?;
    let _scratch = Scratch(paths.work.clone());
    let runtime = args.common.runtime()?;
    let targets: Vec<Target> = if args.targets.is_empty() {
        Target::all()
    } else {
        args.targets
            .iter()
            .map(|t| Target::parse(t))
            .collect::<Result<_>>()?
    };

    // Load matrix, one server start per target.
    let cache = Cache::Dir(paths.work.join("cache-load"));
    for target in &targets {
        load_target(&mut report, &paths, &runtime, &args, target, &cache);
    }

    if args.rounds > 0 {
        eprintln!(
            "target rounds: {} x {} targets...",
            args.rounds,
            targets.len()
        );
        report.rounds =
            crate::rounds::run(&paths, &runtime, &args.load, &targets, args.rounds, &cache);
    }

    if !args.skip_startup {
        for &n in &args.startup_plugins {
            eprintln!("start-up with {n} plugins...");
            let row = match startup::measure_n(&paths, n, args.repeat) {
                Ok(s) => StartupRow {
                    plugins: n,
                    loaded: s.loaded,
                    cold: Ok(s.cold),
                    cached: Ok(s.cached),
                },
                Err(e) => StartupRow {
                    plugins: n,
                    loaded: None,
                    cold: Err(format!("{e:#}")),
                    cached: Err(String::new()),
                },
            };
            report.startup.push(row);
        }
    }

    for lang in LANGUAGES {
        eprintln!("per-language: {}...", lang.name);
        let size = |file: &str| {
            std::fs::metadata(paths.repo.join(file))
                .ok()
                .map(|m| m.len())
        };
        let mut row = LanguageRow {
            language: lang.name.to_owned(),
            async_bytes: size(lang.async_file),
            sync_bytes: size(lang.sync_file),
            cold: Err("-".to_owned()),
            cached: Err("-".to_owned()),
        };
        if let Some(why) = Target::Hangar(lang).missing(&paths) {
            row.cold = Err(why);
        } else if !args.skip_startup {
            match one_plugin_startup(&paths, lang.async_file, lang.name, args.repeat) {
                Ok(s) => {
                    row.cold = Ok(s.cold);
                    row.cached = Ok(s.cached);
                }
                Err(e) => row.cold = Err(format!("{e:#}")),
            }
        }
        report.languages.push(row);
    }

    if !args.skip_memory {
        for &n in &args.memory_plugins {
            eprintln!("memory with {n} plugins...");
            match memory_with_plugins(&paths, &runtime, &args.load, n) {
                Ok(row) => report.memory.push(row),
                Err(e) => report.memory.push(MemoryRow {
                    what: crate::report::plugins_label(n),
                    loaded: None,
                    idle: Err(format!("{e:#}")),
                    under_load: Err(String::new()),
                }),
            }
        }
    }

    report.notes.push(
        "GetTask: each worker creates one job first (unmeasured), then polls it with the \
         resource_meta it got back. The Python flytekit agent keeps the inputs in its \
         resource_meta (protobuf, base64 in JSON); Hangar's echo agents keep them as JSON."
            .to_owned(),
    );
    report.notes.push(
        "The floor's own limit here is mostly the load generator's: both share the same cores, so \
         the floor shows what this machine and this client can do at all. It runs twice: \
         `floor` on tokio's default workers (one per CPU), `floor-1thread` on one thread \
         (tokio's current-thread scheduler, as Hangar with --worker-threads 1). On these \
         shared CPUs the first serves more calls and the second has the shorter tail; rate \
         ratios are against the faster of the two in each table."
            .to_owned(),
    );
    report.notes.push(
        "Hangar runs with its defaults (per plugin: 32 concurrent calls, queue 1 s), so at \
         concurrency 64 calls beyond 32 per plugin wait in its queue; its log level is \
         RUST_LOG=warn (stderr to a file), flytekit logs at its own default level."
            .to_owned(),
    );
    report.notes.push(
        "Why the missed targets are missed, with profiles and the commands that took them: \
         [docs/performance.md](docs/performance.md)."
            .to_owned(),
    );
    report.machine.loadavg_after = crate::report::loadavg();
    let markdown = report.render();
    std::fs::write(&args.out, &markdown)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    eprintln!("wrote {}", args.out.display());
    Ok(())
}

/// Starts `target`, runs every RPC × concurrency point against it, records
/// its RSS idle and under load (CreateTask, concurrency 16), stops it.
fn load_target(
    report: &mut Report,
    paths: &Paths,
    runtime: &Runtime,
    args: &AllArgs,
    target: &Target,
    cache: &Cache,
) {
    let name = target.name();
    let fail_all = |report: &mut Report, why: String| {
        for &rpc in &args.rpc {
            for &c in &args.concurrency {
                report.load.push(LoadRow {
                    target: name.clone(),
                    rpc,
                    concurrency: c,
                    outcome: Err(why.clone()),
                });
            }
        }
    };
    if let Some(why) = target.missing(paths) {
        eprintln!("{name}: {why}");
        fail_all(report, why);
        return;
    }
    eprintln!("{name}: starting");
    let server = match targets::start(paths, target, cache) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("{name}: {e:#}");
            fail_all(report, format!("did not start: {e:#}"));
            return;
        }
    };
    if *target == Target::Flytekit {
        report.flytekit_startup = Some(Ok(server.startup));
    }
    let idle = memory::idle_rss(server.pid(), SETTLE).map_err(|e| format!("{e:#}"));
    let mut under_load = Err("not measured (needs CreateTask at concurrency 16)".to_owned());
    for &rpc in &args.rpc {
        for &c in &args.concurrency {
            let spec = LoadSpec {
                endpoint: server.endpoint.clone(),
                rpc,
                task_type: match rpc {
                    Rpc::Sync => target.sync_type(),
                    Rpc::Create | Rpc::Get => target.async_type(),
                }
                .to_owned(),
                concurrency: c,
                connections: args.load.connections,
                warmup: args.load.warmup,
                duration: args.load.duration,
                server_pid: Some(server.pid()),
            };
            let sample = rpc == Rpc::Create && c == 16;
            let sampler = sample.then(|| RssSampler::start(server.pid()));
            // Hangar's own split of a call, at concurrency 1 (no queueing).
            let split_from = (c == 1 && target.hangar().is_some())
                .then(|| call_split::scrape_or_note(server.metrics.as_deref()))
                .flatten();
            let outcome = runtime
                .block_on(load::run(&spec))
                .map_err(|e| format!("{e:#}"));
            if let Some(before) = split_from
                && let Some(after) = call_split::scrape_or_note(server.metrics.as_deref())
                && let Some(split) = after.since(&before)
            {
                report.splits.push(SplitRow {
                    target: name.clone(),
                    rpc,
                    split,
                });
            }
            if let Some(peak) = sampler.and_then(RssSampler::finish) {
                under_load = Ok(peak);
            }
            match &outcome {
                Ok(r) => eprintln!(
                    "{name} {rpc} c={c}: {:.0} rps, p50 {} p99 {} ({})",
                    r.rps(),
                    crate::report::micros(r.latency.quantile_us(0.5) as f64),
                    crate::report::micros(r.latency.quantile_us(0.99) as f64),
                    r.codes_text()
                ),
                Err(e) => eprintln!("{name} {rpc} c={c}: {e}"),
            }
            report.load.push(LoadRow {
                target: name.clone(),
                rpc,
                concurrency: c,
                outcome,
            });
        }
    }
    let what = match target.hangar() {
        Some(_) => format!("{name} (its 2 echo plugins)"),
        None => name.clone(),
    };
    let loaded = server
        .metrics
        .as_deref()
        .and_then(|m| plugins::plugins_loaded(m).ok());
    report.memory.push(MemoryRow {
        what,
        loaded,
        idle,
        under_load,
    });
    server.stop();
}

/// Cold and cached start-up with one plugin file.
fn one_plugin_startup(
    paths: &Paths,
    file: &str,
    label: &str,
    repeat: usize,
) -> Result<startup::Startup> {
    let dir = paths.work.join(format!("plugins-one-{label}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let from = paths.repo.join(file);
    let name = from.file_name().context("plugin path has no file name")?;
    std::fs::copy(&from, dir.join(name))
        .with_context(|| format!("cannot copy {}", from.display()))?;
    startup::measure(paths, &dir, &format!("one-{label}"), repeat)
}

/// Hangar with `n` distinct Rust echo plugins (from a filled compile cache):
/// RSS idle, then its peak under CreateTask at concurrency 16 to one of them.
pub fn memory_with_plugins(
    paths: &Paths,
    runtime: &Runtime,
    load_settings: &LoadSettings,
    n: usize,
) -> Result<MemoryRow> {
    let source = paths.repo.join("plugins/echo.wasm");
    if !source.is_file() {
        anyhow::bail!("missing: build with make plugins (plugins/echo.wasm)");
    }
    let dir = plugins::write_distinct(&source, n, &paths.work.join(format!("plugins-mem{n}")))?;
    let cache = Cache::Dir(paths.work.join(format!("cache-mem{n}")));
    targets::start_hangar(paths, &dir, &cache, None, &format!("memory-{n}-fill"))?.stop();
    let server = targets::start_hangar(paths, &dir, &cache, None, &format!("memory-{n}"))?;
    let idle = memory::idle_rss(server.pid(), SETTLE)?;
    let loaded = server
        .metrics
        .as_deref()
        .and_then(|m| plugins::plugins_loaded(m).ok());
    let spec = LoadSpec {
        endpoint: server.endpoint.clone(),
        rpc: Rpc::Create,
        task_type: plugins::task_type(0),
        concurrency: 16,
        connections: load_settings.connections,
        warmup: load_settings.warmup,
        duration: load_settings.duration,
        server_pid: Some(server.pid()),
    };
    let sampler = RssSampler::start(server.pid());
    let result = runtime.block_on(load::run(&spec));
    let peak = sampler.finish();
    server.stop();
    let under_load = match result {
        Ok(r) if r.errors() == 0 => peak.context("RSS never read"),
        Ok(r) => Err(anyhow::anyhow!("load failed: {}", r.codes_text())),
        Err(e) => Err(e),
    };
    Ok(MemoryRow {
        what: crate::report::plugins_label(n),
        loaded,
        idle: Ok(idle),
        under_load: under_load.map_err(|e| format!("{e:#}")),
    })
}
