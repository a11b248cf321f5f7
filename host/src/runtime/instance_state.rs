//! What one plugin instance owns while it runs a single call: its WASI
//! context (no files, no sockets, no environment), its memory limiter, and
//! a capture of what it writes to stderr (a Rust panic message lands there).
//!
//! A fresh state is made for every call, so nothing one task does can be
//! seen by the next: with a fresh instance, or, for an instance reused under
//! `[reuse]` (see `instance_pool`), by [`InstanceState::start_call`], which
//! replaces everything but the memory limiter's accounting of the instance.

use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::bindings::logging;
use super::capabilities::Capabilities;
use super::limiter::MemoryLimiter;
use super::stderr_capture::StderrCapture;

/// How much of a plugin's stderr is kept per call.
const STDERR_CAPTURE_BYTES: usize = 64 * 1024;

pub struct InstanceState {
    wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    /// `wasi:http` state; requests go through `egress` (see
    /// `egress::wasi_http`).
    pub(crate) http: crate::egress::wasi_http::HttpState,
    pub(super) limits: MemoryLimiter,
    stderr: StderrCapture,
    /// Plugin name and task, for the log lines the guest emits.
    log_context: LogContext,
    /// What the plugin's manifest grants (shared by all its instances).
    pub(crate) capabilities: Arc<Capabilities>,
    /// Secrets read so far in this call (see `secrets::guest_access`).
    pub(crate) secret_reads: u32,
}

/// Who is speaking when a guest logs, and for which task (also used in
/// audit events).
#[derive(Debug, Clone, Default)]
pub struct LogContext {
    pub plugin: String,
    pub task: String,
}

impl InstanceState {
    /// The task this instance is running for (empty outside a task).
    pub fn task(&self) -> &str {
        &self.log_context.task
    }

    pub fn new(
        memory_bytes: u64,
        log_context: LogContext,
        capabilities: Arc<Capabilities>,
    ) -> Self {
        let stderr = StderrCapture::new(STDERR_CAPTURE_BYTES);
        let wasi = wasi_with_stderr(&stderr);
        let limits = MemoryLimiter::new(memory_bytes, capabilities.metrics.instance());
        let http =
            crate::egress::wasi_http::HttpState::new(capabilities.clone(), &log_context.task);
        InstanceState {
            wasi,
            table: ResourceTable::new(),
            http,
            limits,
            stderr,
            log_context,
            capabilities,
            secret_reads: 0,
        }
    }

    /// Makes this state what [`InstanceState::new`] would give the next
    /// call of a reused instance: a new WASI context, an empty stderr
    /// capture, new HTTP state for the task, this call's log context, no
    /// secrets read. The memory limiter stays (it counts the instance and
    /// the memory it still holds; its note of a limit hit is cleared), and
    /// so does the resource table: it holds only the handles the instance
    /// had when it was committed (its stdio streams, opened by the WASI
    /// adapter and kept in its state), which `instance_pool` checks after
    /// every call. Those streams write into the same capture, emptied here.
    pub fn start_call(&mut self, log_context: LogContext) {
        // Every field named, so a new one cannot be forgotten here.
        let InstanceState {
            wasi,
            table: _,
            http,
            limits,
            stderr,
            log_context: context,
            capabilities,
            secret_reads,
        } = self;
        stderr.clear();
        *wasi = wasi_with_stderr(stderr);
        *http = crate::egress::wasi_http::HttpState::new(capabilities.clone(), &log_context.task);
        limits.start_call();
        *context = log_context;
        *secret_reads = 0;
    }

    /// What the guest last said on stderr that explains a failure: a Rust
    /// panic's location and message when there is one, else the last line.
    pub fn stderr_reason(&self) -> Option<String> {
        let bytes = self.stderr.contents();
        stderr_reason(&String::from_utf8_lossy(&bytes))
    }
}

/// A WASI context with no files, sockets or environment, whose stderr goes
/// to `stderr` (up to [`STDERR_CAPTURE_BYTES`] per call).
fn wasi_with_stderr(stderr: &StderrCapture) -> WasiCtx {
    WasiCtxBuilder::new()
        .stderr(stderr.clone())
        .allow_blocking_current_thread(false)
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .build()
}

/// Picks the explanatory part of a guest's stderr. Rust prints
/// `thread '<unnamed>' panicked at src/lib.rs:10:5:`, the message, then a
/// note about RUST_BACKTRACE that means nothing inside a sandbox.
fn stderr_reason(text: &str) -> Option<String> {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("note: run with `RUST_BACKTRACE"))
        .collect();
    if let Some(at) = lines.iter().rposition(|l| l.contains("panicked at")) {
        let message = lines.get(at + 1).copied().unwrap_or_default();
        return Some(truncate(
            format!("{} {message}", lines[at]).trim_end(),
            REASON_MAX,
        ));
    }
    lines.last().map(|l| truncate(l, REASON_MAX))
}

/// Longest guest-provided text kept in a one-line failure reason.
const REASON_MAX: usize = 300;
/// Longest guest log message forwarded to the host log.
const LOG_MESSAGE_MAX: usize = 4096;

fn truncate(line: &str, max: usize) -> String {
    if line.len() <= max {
        return line.to_string();
    }
    let mut end = max;
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &line[..end])
}

impl WasiView for InstanceState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// The `flyte:agent/logging` import: guest log lines become host log events
/// tagged with the plugin and task.
impl logging::Host for InstanceState {
    fn log(&mut self, level: logging::Level, message: String) {
        let plugin = self.log_context.plugin.as_str();
        let task = self.log_context.task.as_str();
        let message = truncate(&message, LOG_MESSAGE_MAX);
        match level {
            logging::Level::Debug => tracing::debug!(target: "plugin", plugin, task, "{message}"),
            logging::Level::Info => tracing::info!(target: "plugin", plugin, task, "{message}"),
            logging::Level::Warn => tracing::warn!(target: "plugin", plugin, task, "{message}"),
            logging::Level::Error => tracing::error!(target: "plugin", plugin, task, "{message}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::stderr_reason;

    #[test]
    fn explains_failures_from_stderr() {
        let cases = [
            ("", None),
            ("starting\nboom\n", Some("boom")),
            (
                "thread '<unnamed>' panicked at src/lib.rs:3:5:\nagent panicked on purpose\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n",
                Some("thread '<unnamed>' panicked at src/lib.rs:3:5: agent panicked on purpose"),
            ),
            ("panicked at x.rs:1:1:\n", Some("panicked at x.rs:1:1:")),
        ];
        for (stderr, expected) in cases {
            assert_eq!(stderr_reason(stderr).as_deref(), expected, "{stderr:?}");
        }
    }
}
