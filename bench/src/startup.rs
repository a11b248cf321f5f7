//! Start-up benchmark: time from spawning `hangar serve` to its
//! `hangar listening on` line, with N plugins, cold (`--no-cache`: every
//! component compiled) and from the compile cache (a cache a previous start
//! filled). Warm starts are repeated and the median is reported.

use std::path::Path;
use std::time::Duration;

use anyhow::{Result, bail};

use crate::plugins;
use crate::targets::{self, Cache, Paths};

/// Cold and cached time to serving of one plugin directory.
#[derive(Clone, Debug)]
pub struct Startup {
    /// Plugins Hangar reported loaded (`hangar_plugins_loaded`), if read.
    pub loaded: Option<u64>,
    pub cold: Duration,
    /// Median of the warm starts.
    pub cached: Duration,
}

/// Measures `plugin_dir`: one cold start, then one start to fill a fresh
/// cache, then `repeat` starts from it.
pub fn measure(paths: &Paths, plugin_dir: &Path, label: &str, repeat: usize) -> Result<Startup> {
    let cold_server = targets::start_hangar(
        paths,
        plugin_dir,
        &Cache::Off,
        None,
        &format!("startup-{label}-cold"),
    )?;
    let cold = cold_server.startup;
    let loaded = cold_server
        .metrics
        .as_deref()
        .and_then(|m| plugins::plugins_loaded(m).ok());
    cold_server.stop();

    let cache = paths.work.join(format!("cache-startup-{label}"));
    let _ = std::fs::remove_dir_all(&cache);
    let cache = Cache::Dir(cache);
    targets::start_hangar(
        paths,
        plugin_dir,
        &cache,
        None,
        &format!("startup-{label}-fill"),
    )?
    .stop();
    let mut warm = Vec::new();
    for i in 0..repeat.max(1) {
        let server = targets::start_hangar(
            paths,
            plugin_dir,
            &cache,
            None,
            &format!("startup-{label}-warm{i}"),
        )?;
        warm.push(server.startup);
        server.stop();
    }
    Ok(Startup {
        loaded,
        cold,
        cached: median(&mut warm)?,
    })
}

/// Measures N distinct copies of the Rust echo agent.
pub fn measure_n(paths: &Paths, n: usize, repeat: usize) -> Result<Startup> {
    let source = paths.repo.join("plugins/echo.wasm");
    if !source.is_file() {
        bail!("missing: build with make plugins (plugins/echo.wasm)");
    }
    let dir = plugins::write_distinct(&source, n, &paths.work.join(format!("plugins-n{n}")))?;
    measure(paths, &dir, &format!("n{n}"), repeat)
}

/// The median (upper middle for an even count).
pub fn median(values: &mut [Duration]) -> Result<Duration> {
    if values.is_empty() {
        bail!("no values");
    }
    values.sort();
    Ok(values[values.len() / 2])
}
