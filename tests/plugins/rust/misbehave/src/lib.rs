//! Test fixture for the host's per-plugin limits (not an example): each task
//! type pushes against one limit of the sandbox, so the host's tests can
//! check that it is enforced, reported clearly, and contained.
//!
//! | task type | `do` |
//! |---|---|
//! | `spin` | loops forever (wall-clock limit, or fuel when metered) |
//! | `memory_bomb` | grows a Vec 1 MiB at a time, touching every page (memory limit) |
//! | `deep_recursion` | recurses without end (stack overflow trap) |
//! | `huge_output` | returns `bytes` bytes (input, default 1 MiB) in `field`: `outputs` (default), `message` or `custom_info` |
//! | `open_file` | tries `std::fs::read(path)` (input, default `/etc/passwd`); fails with what happened |
//! | `connect_socket` | tries a TCP connect to 127.0.0.1:`port` (input, default 1) through wasi:sockets; fails with what happened |
//! | `sleep_then_ok` | busy-waits `ms` milliseconds (input), then succeeds with `{"slept_ms": ms}` |
//! | `sleep` | waits inside the host (a wasi:clocks timer) `ms` milliseconds (input, default: for ever), then succeeds |
//! | `compute` | `iterations` rounds of integer arithmetic (input), then succeeds with `{"result": ...}` |
//! | `ok` | succeeds at once with no outputs |
//!
//! `open_file` and `connect_socket` succeed only if the sandbox let the
//! guest through; the tests treat that as a failure of the host.

use std::hint::black_box;
use std::time::{Duration, Instant};

use hangar_agent::{AgentError, AgentInfo, Map, Resource, SyncAgent, Task, Value, json};

const CATEGORIES: [&str; 10] = [
    "spin",
    "memory_bomb",
    "deep_recursion",
    "huge_output",
    "open_file",
    "connect_socket",
    "sleep_then_ok",
    "sleep",
    "compute",
    "ok",
];

struct Misbehave;

impl SyncAgent for Misbehave {
    fn info() -> AgentInfo {
        CATEGORIES
            .iter()
            .fold(AgentInfo::new("misbehave"), |info, c| info.category(*c, 0))
    }

    fn do_task(task: Task) -> Result<Resource, AgentError> {
        match task.category.name.as_str() {
            "spin" => spin(),
            "memory_bomb" => memory_bomb(),
            "deep_recursion" => Ok(succeeded("depth", json!(recurse(black_box(0))))),
            "huge_output" => huge_output(&task),
            "open_file" => open_file(&task),
            "connect_socket" => connect_socket(&task),
            "sleep_then_ok" => sleep_then_ok(&task),
            "sleep" => host_sleep(&task),
            "compute" => compute(&task),
            "ok" => Ok(Resource::succeeded()),
            other => Err(AgentError::non_recoverable(format!(
                "misbehave agent has no task type `{other}`"
            ))
            .with_code("UnknownTaskType")),
        }
    }
}

fn succeeded(name: &str, value: Value) -> Resource {
    let mut outputs = Map::new();
    outputs.insert(name.to_string(), value);
    Resource::succeeded_with(outputs)
}

fn spin() -> ! {
    let mut x = 0u64;
    loop {
        x = black_box(x.wrapping_add(1));
    }
}

/// Keeps every chunk alive and writes to each, so the pages are really
/// committed: only the host's memory limit stops it.
fn memory_bomb() -> Result<Resource, AgentError> {
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    loop {
        chunks.push(vec![0xA5; 1 << 20]);
        black_box(&chunks);
    }
}

/// Not a tail call, and rotating by a varying amount is not an operation
/// the optimiser can accumulate into a loop; no locals live in linear
/// memory, so it is WebAssembly's own call stack that overflows.
#[allow(unconditional_recursion)]
fn recurse(depth: u64) -> u64 {
    recurse(depth + 1).rotate_left((depth % 63) as u32)
}

fn huge_output(task: &Task) -> Result<Resource, AgentError> {
    let bytes: usize = task.optional_input("bytes")?.unwrap_or(1 << 20);
    let field: String = task
        .optional_input("field")?
        .unwrap_or_else(|| "outputs".into());
    let data = "x".repeat(bytes);
    match field.as_str() {
        "outputs" => Ok(succeeded("data", Value::String(data))),
        "message" => Ok(Resource::succeeded().with_message(data)),
        "custom_info" => {
            let mut info = Map::new();
            info.insert("data".into(), Value::String(data));
            Ok(Resource::succeeded().with_custom_info(info))
        }
        other => Err(AgentError::non_recoverable(format!(
            "`field` must be outputs, message or custom_info, got {other:?}"
        ))),
    }
}

fn open_file(task: &Task) -> Result<Resource, AgentError> {
    let path: String = task
        .optional_input("path")?
        .unwrap_or_else(|| "/etc/passwd".into());
    match std::fs::read(&path) {
        Ok(bytes) => Ok(succeeded(
            "escaped",
            json!(format!("read {} bytes from {path}", bytes.len())),
        )),
        Err(e) => Err(AgentError::non_recoverable(format!(
            "open_file: reading {path} failed: {e}"
        ))
        .with_code("FileDenied")),
    }
}

fn connect_socket(task: &Task) -> Result<Resource, AgentError> {
    let port: u16 = task.optional_input("port")?.unwrap_or(1);
    let address = format!("127.0.0.1:{port}");
    match tcp_connect(port) {
        Ok(()) => Ok(succeeded(
            "escaped",
            json!(format!("connected to {address}")),
        )),
        Err(e) => Err(AgentError::non_recoverable(format!(
            "connect_socket: connecting to {address} failed: {e}"
        ))
        .with_code("SocketDenied")),
    }
}

/// Connects to 127.0.0.1:`port` through wasi:sockets, the way std::net
/// does on wasip2: create a socket, start the connect, wait, finish it.
#[cfg(target_arch = "wasm32")]
fn tcp_connect(port: u16) -> Result<(), String> {
    use wasi::sockets::network::{IpAddressFamily, IpSocketAddress, Ipv4SocketAddress};
    use wasi::sockets::{instance_network, tcp_create_socket};

    let network = instance_network::instance_network();
    let socket = tcp_create_socket::create_tcp_socket(IpAddressFamily::Ipv4)
        .map_err(|e| format!("create-tcp-socket: {e}"))?;
    let remote = IpSocketAddress::Ipv4(Ipv4SocketAddress {
        port,
        address: (127, 0, 0, 1),
    });
    socket
        .start_connect(&network, remote)
        .map_err(|e| format!("start-connect: {e}"))?;
    loop {
        match socket.finish_connect() {
            Ok(_streams) => return Ok(()),
            Err(wasi::sockets::network::ErrorCode::WouldBlock) => socket.subscribe().block(),
            Err(e) => return Err(format!("finish-connect: {e}")),
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn tcp_connect(_port: u16) -> Result<(), String> {
    Err("connect_socket runs only in WebAssembly".into())
}

fn sleep_then_ok(task: &Task) -> Result<Resource, AgentError> {
    let ms: u64 = task.input("ms")?;
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(ms) {
        black_box(());
    }
    Ok(succeeded("slept_ms", json!(ms)))
}

/// Blocks on a wasi:clocks timer: no guest code runs while it waits, so
/// only a host-side deadline can stop it.
fn host_sleep(task: &Task) -> Result<Resource, AgentError> {
    let ms: u64 = task.optional_input("ms")?.unwrap_or(u64::MAX / 1_000_000);
    wait_in_host(ms.saturating_mul(1_000_000));
    Ok(succeeded("slept_ms", json!(ms)))
}

#[cfg(target_arch = "wasm32")]
fn wait_in_host(nanos: u64) {
    wasi::clocks::monotonic_clock::subscribe_duration(nanos).block();
}

#[cfg(not(target_arch = "wasm32"))]
fn wait_in_host(nanos: u64) {
    std::thread::sleep(Duration::from_nanos(nanos));
}

/// A xorshift walk: deterministic CPU work the optimiser cannot skip.
fn compute(task: &Task) -> Result<Resource, AgentError> {
    let iterations: u64 = task.input("iterations")?;
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    for _ in 0..iterations {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x = black_box(x);
    }
    // JSON integers above 2^53 lose precision in some readers: keep 32 bits.
    Ok(succeeded("result", json!(x & 0xFFFF_FFFF)))
}

hangar_agent::export_sync_agent!(Misbehave);
