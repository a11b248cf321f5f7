//! Hangar: serve Flyte agents as sandboxed WebAssembly components.
//!
//! Layout: `grpc` translates flyteidl's services; `tasks` holds Flyte's
//! rules (routing, resource_meta, typed outputs); `runtime` runs components;
//! `registry` loads the plugin directory; `literals` converts Flyte values to
//! plain JSON and back; `limits` and `manifest` say what each plugin may use;
//! `metrics` counts calls, instances and denials and serves `/metrics`.

mod audit;
mod cli;
mod config;
mod egress;
mod grpc;
mod inspect;
mod limits;
mod literals;
mod local_run;
mod manifest;
mod metrics;
mod plugin_config;
mod proto;
mod registry;
mod runtime;
mod scaffold;
mod scheduler;
mod secrets;
mod serve;
mod struct_json;
mod tasks;
mod watch;

use std::io::IsTerminal;

use clap::Parser;
use tracing_subscriber::EnvFilter;

/// mimalloc instead of glibc's malloc, which was about a tenth of a busy
/// host's CPU samples. Measured with the reused Rust echo at c=16 (the same
/// load generator for both): 14% less server CPU per call, 13% more calls
/// per second; idle RSS with 10 plugins 21.0 MiB against 19.9
/// (docs/performance.md, "Since: mimalloc"). Built with `no_thp`: mimalloc
/// otherwise asks for transparent huge pages for its arenas, which doubled
/// the idle RSS for no measured gain.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    // Commands that print reports keep the log to what went wrong.
    let default_log = match cli.command {
        cli::Command::Inspect(_) | cli::Command::Check(_) => "warn",
        _ => "info",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_log));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // Flag or env first; else the config file's [logging] format (an
    // unreadable file is reported later, by the command that loads it).
    let log_format = cli
        .log_format
        .or_else(|| {
            let config = config::load(cli.config_path()?).ok()?;
            config.logging.format
        })
        .unwrap_or(cli::LogFormat::Text);
    match log_format {
        cli::LogFormat::Text => logs.with_ansi(std::io::stderr().is_terminal()).init(),
        // One object per line; a call's span fields (service, method,
        // task_type, plugin, task) are under "span".
        cli::LogFormat::Json => logs
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init(),
    }
    // `serve` picks its scheduler (see `scheduler`); the other commands keep
    // tokio's default.
    let mut builder = match &cli.command {
        cli::Command::Serve(args) => match args
            .runtime
            .host_config()
            .and_then(|c| args.worker_threads(&c))
        {
            Ok(asked) => scheduler::Scheduler::choose(asked, scheduler::available_cpus()).builder(),
            Err(e) => {
                eprintln!("error: {e:#}");
                return std::process::ExitCode::FAILURE;
            }
        },
        _ => tokio::runtime::Builder::new_multi_thread(),
    };
    let runtime = match builder.enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            cli::Command::Serve(args) => serve::serve(args).await.map(|()| 0),
            cli::Command::Run(args) => local_run::run(args).await,
            cli::Command::Inspect(args) => inspect::inspect(args).await,
            cli::Command::Check(args) => inspect::check(args).await,
            cli::Command::Config(args) => config::command(args),
            cli::Command::New(args) => scaffold::command(args),
        }
    });
    match result {
        Ok(code) => std::process::ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
