//! The servers under test and how to start them: the floor (this binary's
//! `floor` subcommand, in its own process), flytekit's `pyflyte serve agent`
//! with `bench/flytekit/echo_agents.py`, and `hangar serve` with one
//! language's echo agents. Every server runs as a child process, so its RSS
//! is its own and the load generator never shares its runtime.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// Where the repository and its build outputs are.
#[derive(Clone, Debug)]
pub struct Paths {
    /// The repository root.
    pub repo: PathBuf,
    /// `hangar` binary.
    pub hangar: PathBuf,
    /// `pyflyte` with flytekit 1.16.31.
    pub pyflyte: PathBuf,
    /// Scratch space (plugin directories, compile caches); ours to delete.
    pub work: PathBuf,
}

/// Hangar's echo agents in one language.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Language {
    /// `rust`, `python`, `js`, `go`, `js-quickjs`.
    pub name: &'static str,
    /// Async echo component, relative to the repository.
    pub async_file: &'static str,
    /// Its task type.
    pub async_type: &'static str,
    /// Sync echo component, relative to the repository.
    pub sync_file: &'static str,
    /// Its task type.
    pub sync_type: &'static str,
}

/// Every language, in report order. `js` is built for SpiderMonkey
/// (componentize-js, the JS SDK's default engine), `js-quickjs` is the same
/// agents built with `hangar-js-build --engine quickjs`.
pub const LANGUAGES: [Language; 5] = [
    Language {
        name: "rust",
        async_file: "plugins/echo.wasm",
        async_type: "echo",
        sync_file: "plugins/echo-sync.wasm",
        sync_type: "echo_sync",
    },
    Language {
        name: "python",
        async_file: "target/test-plugins/echo-python.wasm",
        async_type: "echo_python",
        sync_file: "target/test-plugins/echo-sync-python.wasm",
        sync_type: "echo_sync_python",
    },
    Language {
        name: "js",
        async_file: "target/test-plugins/echo-js.wasm",
        async_type: "echo_js",
        sync_file: "target/test-plugins/echo-sync-js.wasm",
        sync_type: "echo_sync_js",
    },
    Language {
        name: "go",
        async_file: "target/test-plugins/echo-go.wasm",
        async_type: "echo_go",
        sync_file: "target/test-plugins/echo-sync-go.wasm",
        sync_type: "echo_sync_go",
    },
    Language {
        name: "js-quickjs",
        async_file: "target/test-plugins/echo-qjs.wasm",
        async_type: "echo_js",
        sync_file: "target/test-plugins/echo-sync-qjs.wasm",
        sync_type: "echo_sync_js",
    },
];

/// A server to measure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// Native tonic server with precomputed answers, on tokio's default
    /// runtime (a worker per CPU).
    Floor,
    /// The same server on one thread (tokio's current-thread scheduler), as
    /// Hangar runs with `--worker-threads 1`. On these shared CPUs it served
    /// fewer calls than the default floor in most rounds, with a shorter
    /// tail, so the report measures Hangar's rate against the faster floor
    /// and shows this one's p99 beside Hangar's (docs/performance.md,
    /// "Since: the floor on one thread").
    FloorOneThread,
    /// `pyflyte serve agent` with the Python echo agents.
    Flytekit,
    /// `hangar serve` with one language's echo agents.
    Hangar(Language),
    /// The same, with `[reuse] enabled = true` in each agent's manifest
    /// (instances kept and reset between calls).
    HangarReuse(Language),
    /// The same as `HangarReuse`, served by one thread (`--worker-threads 1`,
    /// which is tokio's current-thread scheduler): the setting an operator
    /// would pick on a machine whose other CPUs run the load generator
    /// (docs/performance.md, "Since: worker threads" and "Since: one
    /// thread").
    HangarReuseOneWorker(Language),
}

impl Target {
    /// Every target, in report order.
    pub fn all() -> Vec<Target> {
        let mut all = vec![Target::Floor, Target::FloorOneThread, Target::Flytekit];
        all.extend(LANGUAGES.iter().copied().map(Target::Hangar));
        all.extend(LANGUAGES.iter().copied().map(Target::HangarReuse));
        all.extend(LANGUAGES.iter().copied().map(Target::HangarReuseOneWorker));
        all
    }

    /// `floor`, `flytekit`, `hangar-rust`, ...
    pub fn name(&self) -> String {
        match self {
            Target::Floor => "floor".to_owned(),
            Target::FloorOneThread => "floor-1thread".to_owned(),
            Target::Flytekit => "flytekit".to_owned(),
            Target::Hangar(lang) => format!("hangar-{}", lang.name),
            Target::HangarReuse(lang) => format!("hangar-{}-reuse", lang.name),
            Target::HangarReuseOneWorker(lang) => format!("hangar-{}-reuse-1worker", lang.name),
        }
    }

    /// The language and whether instances are reused, for Hangar targets.
    pub fn hangar(&self) -> Option<(&Language, bool)> {
        match self {
            Target::Hangar(lang) => Some((lang, false)),
            Target::HangarReuse(lang) | Target::HangarReuseOneWorker(lang) => Some((lang, true)),
            Target::Floor | Target::FloorOneThread | Target::Flytekit => None,
        }
    }

    /// Parses a name printed by [`Target::name`].
    pub fn parse(name: &str) -> Result<Target> {
        Target::all()
            .into_iter()
            .find(|t| t.name() == name)
            .with_context(|| {
                let known: Vec<String> = Target::all().iter().map(Target::name).collect();
                format!("unknown target {name:?}; known: {}", known.join(", "))
            })
    }

    /// Task type of the async echo agent.
    pub fn async_type(&self) -> &'static str {
        self.hangar().map_or("echo", |(lang, _)| lang.async_type)
    }

    /// Task type of the sync echo agent.
    pub fn sync_type(&self) -> &'static str {
        self.hangar()
            .map_or("echo_sync", |(lang, _)| lang.sync_type)
    }

    /// Why this target cannot run here, if it cannot (a missing plugin or
    /// binary); the report prints it in the target's rows.
    pub fn missing(&self, paths: &Paths) -> Option<String> {
        match self {
            Target::Floor | Target::FloorOneThread => None,
            Target::Flytekit => (!paths.pyflyte.is_file()).then(|| {
                format!(
                    "missing: {} (flytekit 1.16.31 in .venv)",
                    paths.pyflyte.display()
                )
            }),
            Target::Hangar(lang)
            | Target::HangarReuse(lang)
            | Target::HangarReuseOneWorker(lang) => {
                if !paths.hangar.is_file() {
                    return Some(format!(
                        "missing: {} (cargo build --release -p hangar)",
                        paths.hangar.display()
                    ));
                }
                let absent: Vec<&str> = [lang.async_file, lang.sync_file]
                    .into_iter()
                    .filter(|f| !paths.repo.join(f).is_file())
                    .collect();
                (!absent.is_empty())
                    .then(|| format!("missing: build with make plugins ({})", absent.join(", ")))
            }
        }
    }
}

/// A running server; killed when dropped.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// The metrics address (`127.0.0.1:PORT`), for Hangar.
    pub metrics: Option<String>,
    /// From spawning the process to accepting gRPC.
    pub startup: Duration,
}

impl Server {
    /// The process id, to read its RSS.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops the server.
    pub fn stop(mut self) {
        self.kill();
    }

    fn kill(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A free TCP port on 127.0.0.1 (for servers that cannot take port 0).
pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("cannot find a free port")?;
    Ok(listener.local_addr()?.port())
}

/// How long a server may take to start (Hangar compiles cold plugins).
const START_TIMEOUT: Duration = Duration::from_secs(300);

/// Spawns `command`, then waits until its stdout prints a line starting with
/// `ready_prefix` followed by the address (Hangar, the floor). Other lines
/// starting with `metrics_prefix` give the metrics address.
fn spawn_announcing(
    mut command: Command,
    what: &str,
    ready_prefix: &'static str,
    metrics_prefix: Option<&'static str>,
    log: &Path,
) -> Result<Server> {
    let stderr =
        std::fs::File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
    let started = Instant::now();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .with_context(|| format!("cannot start {what}"))?;
    let stdout = child.stdout.take().context("no stdout")?;
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                // Keep draining so the child never blocks on a full pipe.
                continue;
            }
        }
    });
    let mut metrics = None;
    loop {
        let left = START_TIMEOUT.saturating_sub(started.elapsed());
        match rx.recv_timeout(left.min(Duration::from_millis(200))) {
            Ok(line) => {
                if let Some(m) = metrics_prefix.and_then(|p| line.strip_prefix(p)) {
                    metrics = Some(m.trim().to_owned());
                }
                if let Some(address) = line.strip_prefix(ready_prefix) {
                    return Ok(Server {
                        startup: started.elapsed(),
                        child,
                        endpoint: format!("http://{}", address.trim()),
                        metrics,
                    });
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {}
        }
        if let Ok(Some(status)) = child.try_wait() {
            bail!(
                "{what} exited with {status} before serving; log: {}\n{}",
                log.display(),
                tail(log)
            );
        }
        if started.elapsed() >= START_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "{what} not serving after {START_TIMEOUT:?}; log: {}",
                log.display()
            );
        }
    }
}

/// The last lines of a log file, for error messages.
fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

/// Starts the floor: this binary's `floor` subcommand, on `worker_threads`
/// when given (1 is the current-thread scheduler).
pub fn start_floor(paths: &Paths, worker_threads: Option<usize>) -> Result<Server> {
    let exe = std::env::current_exe().context("cannot find this binary")?;
    let mut command = Command::new(exe);
    command.args(["floor", "--listen", "127.0.0.1:0"]);
    let log = match worker_threads {
        Some(threads) => {
            command.args(["--worker-threads", &threads.to_string()]);
            format!("floor-{threads}thread.log")
        }
        None => "floor.log".to_owned(),
    };
    spawn_announcing(
        command,
        "the floor server",
        "floor listening on ",
        None,
        &paths.work.join(log),
    )
}

/// How Hangar finds compiled plugins.
#[derive(Clone, Debug)]
pub enum Cache {
    /// `--no-cache`: compile everything.
    Off,
    /// `--cache-dir DIR`.
    Dir(PathBuf),
}

/// Starts `hangar serve` on `plugins`, with `worker_threads` when given and
/// its defaults otherwise.
pub fn start_hangar(
    paths: &Paths,
    plugins: &Path,
    cache: &Cache,
    worker_threads: Option<usize>,
    log_name: &str,
) -> Result<Server> {
    let mut command = Command::new(&paths.hangar);
    command
        .arg("serve")
        .arg("--plugins")
        .arg(plugins)
        .args(["--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"])
        .env("RUST_LOG", "warn")
        // Only the flag decides, never a variable left in the shell.
        .env_remove("HANGAR_WORKER_THREADS");
    if let Some(threads) = worker_threads {
        command.arg("--worker-threads").arg(threads.to_string());
    }
    match cache {
        Cache::Off => {
            command.arg("--no-cache");
        }
        Cache::Dir(dir) => {
            command.arg("--cache-dir").arg(dir);
        }
    }
    spawn_announcing(
        command,
        "hangar serve",
        "hangar listening on ",
        Some("hangar metrics on "),
        &paths.work.join(format!("{log_name}.log")),
    )
}

/// Copies one language's echo agents into a fresh plugin directory; with
/// `reuse`, each gets a manifest that turns instance reuse on.
pub fn hangar_plugin_dir(paths: &Paths, lang: &Language, reuse: bool) -> Result<PathBuf> {
    let suffix = if reuse { "-reuse" } else { "" };
    let dir = paths.work.join(format!("plugins-{}{suffix}", lang.name));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for file in [lang.async_file, lang.sync_file] {
        let from = paths.repo.join(file);
        let name = from.file_name().context("plugin path has no file name")?;
        std::fs::copy(&from, dir.join(name))
            .with_context(|| format!("cannot copy {}", from.display()))?;
        if reuse {
            let manifest = dir.join(name).with_extension("toml");
            std::fs::write(&manifest, "[reuse]\nenabled = true\n")
                .with_context(|| format!("cannot write {}", manifest.display()))?;
        }
    }
    Ok(dir)
}

/// Starts `pyflyte serve agent` with `bench/flytekit/echo_agents.py`, then
/// waits until its port accepts connections.
pub fn start_flytekit(paths: &Paths) -> Result<Server> {
    let port = free_port()?;
    let prometheus_port = free_port()?;
    let log = paths.work.join("flytekit.log");
    let out =
        std::fs::File::create(&log).with_context(|| format!("cannot create {}", log.display()))?;
    let err = out.try_clone()?;
    let started = Instant::now();
    let mut child = Command::new(&paths.pyflyte)
        .args(["serve", "agent", "--port"])
        .arg(port.to_string())
        .arg("--prometheus_port")
        .arg(prometheus_port.to_string())
        .args(["--modules", "echo_agents"])
        .current_dir(paths.repo.join("bench/flytekit"))
        .env("PYTHONWARNINGS", "ignore")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .with_context(|| format!("cannot start {}", paths.pyflyte.display()))?;
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    loop {
        if TcpStream::connect_timeout(&address, Duration::from_millis(100)).is_ok() {
            return Ok(Server {
                startup: started.elapsed(),
                child,
                endpoint: format!("http://{address}"),
                metrics: None,
            });
        }
        if let Ok(Some(status)) = child.try_wait() {
            bail!(
                "pyflyte serve agent exited with {status}; log: {}\n{}",
                log.display(),
                tail(&log)
            );
        }
        if started.elapsed() >= START_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            bail!("pyflyte serve agent not listening after {START_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Starts `target` with its echo agents and the compile cache `cache`.
/// With a cache directory, a Hangar target is started once and stopped
/// before the server that is measured, so that one loads its plugins from
/// the cache: a server that compiled keeps the compiler's freed heap in its
/// RSS (hundreds of MiB for Python or JavaScript components), which would
/// otherwise be counted as the cost of serving.
pub fn start(paths: &Paths, target: &Target, cache: &Cache) -> Result<Server> {
    if let Some(why) = target.missing(paths) {
        bail!("{}: {why}", target.name());
    }
    let hangar = |lang, reuse, workers| -> Result<Server> {
        let dir = hangar_plugin_dir(paths, lang, reuse)?;
        if let Cache::Dir(_) = cache {
            start_hangar(
                paths,
                &dir,
                cache,
                workers,
                &format!("{}-compile", target.name()),
            )?
            .stop();
        }
        start_hangar(paths, &dir, cache, workers, &target.name())
    };
    match target {
        Target::Floor => start_floor(paths, None),
        Target::FloorOneThread => start_floor(paths, Some(1)),
        Target::Flytekit => start_flytekit(paths),
        Target::Hangar(lang) => hangar(lang, false, None),
        Target::HangarReuse(lang) => hangar(lang, true, None),
        Target::HangarReuseOneWorker(lang) => hangar(lang, true, Some(1)),
    }
}

/// Resident set size of `pid` in bytes (`VmRSS` in /proc/PID/status).
pub fn rss_bytes(pid: u32) -> Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .with_context(|| format!("no VmRSS in {path}"))?;
    let kib: u64 = line
        .trim_start_matches("VmRSS:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .with_context(|| format!("unreadable {line:?} in {path}"))?;
    Ok(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_target_name_parses_back_to_it() {
        let all = Target::all();
        for target in &all {
            assert_eq!(Target::parse(&target.name()).ok(), Some(*target));
        }
        let mut names: Vec<String> = all.iter().map(Target::name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), all.len(), "two targets share a name");
        let one = Target::parse("hangar-go-reuse-1worker").ok();
        assert_eq!(one, Some(Target::HangarReuseOneWorker(LANGUAGES[3])));
        assert_eq!(
            one.as_ref().and_then(Target::hangar),
            Some((&LANGUAGES[3], true))
        );
        let unknown = Target::parse("hangar-go-1worker")
            .err()
            .map(|e| e.to_string());
        assert!(
            unknown.is_some_and(|e| e.contains("known: floor, floor-1thread, flytekit")),
            "an unknown name lists the known ones"
        );
    }
}
