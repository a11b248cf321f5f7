//! Hangar: serve Flyte agents as sandboxed WebAssembly components.
//!
//! Layout: `grpc` translates flyteidl's services; `tasks` holds Flyte's
//! rules (routing, resource_meta, typed outputs); `runtime` runs components;
//! `registry` loads the plugin directory; `literals` converts Flyte values to
//! plain JSON and back; `limits` and `manifest` say what each plugin may use.

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
mod proto;
mod registry;
mod runtime;
mod secrets;
mod serve;
mod struct_json;
mod tasks;

use std::io::IsTerminal;

use clap::Parser;
use tracing_subscriber::EnvFilter;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    // Commands that print reports keep the log to what went wrong.
    let default_log = match cli.command {
        cli::Command::Inspect(_) | cli::Command::Check(_) => "warn",
        _ => "info",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_log)),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
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
