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
//! | `remember` | writes `secret` (input) into initialised data, the heap and freshly grown memory, then scans all of linear memory for what earlier calls wrote: `{"seen": [...], "found_own": n}` |
//! | `scan` | writes nothing itself: scans all of linear memory for marked secrets (as `remember`), so that what the host wrote (the task's inputs) is all there is to find |
//!
//! `open_file` and `connect_socket` succeed only if the sandbox let the
//! guest through; the tests treat that as a failure of the host.

use std::hint::black_box;
use std::time::{Duration, Instant};

use hangar_agent::{AgentError, AgentInfo, Map, Resource, SyncAgent, Task, Value, json};

const CATEGORIES: [&str; 12] = [
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
    "remember",
    "scan",
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
            "remember" => remember(&task),
            "scan" => scan(&task),
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

/// Initialised data, so it lives in the module's memory image (a page the
/// host maps copy-on-write from the compiled module).
static IMAGE_SLOT: std::sync::Mutex<[u8; 192]> = std::sync::Mutex::new([b'.'; 192]);

/// The marker around a remembered secret, built at run time so the bytes
/// only exist in memory where a call wrote them (the constants below are
/// stored flipped).
fn marker_parts() -> (Vec<u8>, Vec<u8>) {
    let flip = |s: &[u8]| s.iter().map(|b| b ^ 0x5A).collect::<Vec<u8>>();
    (flip(b"<remembered:"), flip(b":end-remembered>"))
}

/// Writes `secret` (wrapped in the marker) where an instance reused by the
/// host would keep it: the memory image, a heap block that is never freed,
/// and pages grown for this call. Then scans every byte of linear memory
/// for markers: any secret other than this call's came from an earlier one.
fn remember(task: &Task) -> Result<Resource, AgentError> {
    let secret: String = task.input("secret")?;
    if secret.is_empty() || secret.len() > 64 || !secret.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return Err(AgentError::non_recoverable(
            "remember: secret must be 1-64 ASCII letters or digits",
        ));
    }
    let (start, end) = marker_parts();
    let mut marked = start.clone();
    marked.extend_from_slice(secret.as_bytes());
    marked.extend_from_slice(&end);

    if let Ok(mut slot) = IMAGE_SLOT.lock() {
        slot[..marked.len()].copy_from_slice(&marked);
    }
    let heap: Vec<u8> = marked.iter().copied().cycle().take(256 * 1024).collect();
    std::mem::forget(heap);
    write_to_grown_memory(&marked);

    Ok(scan_for(&secret))
}

/// Only the scan of `remember`: the marked secrets in memory are the ones
/// the host wrote with the inputs (and the SDK's parsed copy of them).
fn scan(task: &Task) -> Result<Resource, AgentError> {
    let secret: String = task.input("secret")?;
    Ok(scan_for(&secret))
}

/// Scans every byte of linear memory for marked secrets: `secret`'s own
/// copies are counted, any other came from an earlier call.
fn scan_for(secret: &str) -> Resource {
    let (start, end) = marker_parts();
    let mut seen = std::collections::BTreeSet::new();
    let mut found_own = 0u64;
    for found in scan_linear_memory(&start, &end) {
        if found == secret.as_bytes() {
            found_own += 1;
        } else {
            seen.insert(String::from_utf8_lossy(&found).into_owned());
        }
    }
    let mut outputs = Map::new();
    outputs.insert("seen".into(), json!(seen.into_iter().collect::<Vec<_>>()));
    outputs.insert("found_own".into(), json!(found_own));
    Resource::succeeded().with_outputs(outputs)
}

#[cfg(target_arch = "wasm32")]
fn write_to_grown_memory(marked: &[u8]) {
    const PAGE: usize = 65536;
    let old_pages = core::arch::wasm32::memory_grow::<0>(2);
    if old_pages == usize::MAX {
        return;
    }
    // SAFETY: the two pages were just grown and belong to no Rust object;
    // the allocator has not seen them.
    unsafe {
        let at = (old_pages * PAGE + PAGE + 100) as *mut u8;
        core::ptr::copy_nonoverlapping(marked.as_ptr(), at, marked.len());
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn write_to_grown_memory(_marked: &[u8]) {}

/// Every `start SECRET end` in linear memory, SECRET of 1-64 bytes.
#[cfg(target_arch = "wasm32")]
fn scan_linear_memory(start: &[u8], end: &[u8]) -> Vec<Vec<u8>> {
    let size = core::arch::wasm32::memory_size::<0>() * 65536;
    let mut found = Vec::new();
    // Start above 0 (null); read bytes volatilely: most of memory belongs to
    // no Rust object, and the point is to see whatever is there.
    let byte = |i: usize| unsafe { core::ptr::read_volatile(i as *const u8) };
    let mut i = 1;
    while i + start.len() + end.len() < size {
        if byte(i) == start[0] && (1..start.len()).all(|k| byte(i + k) == start[k]) {
            let body = i + start.len();
            let mut secret = Vec::new();
            let mut j = body;
            while j < size && secret.len() <= 64 && byte(j).is_ascii_alphanumeric() {
                secret.push(byte(j));
                j += 1;
            }
            if !secret.is_empty()
                && secret.len() <= 64
                && j + end.len() <= size
                && (0..end.len()).all(|k| byte(j + k) == end[k])
            {
                found.push(secret);
            }
        }
        i += 1;
    }
    found
}

#[cfg(not(target_arch = "wasm32"))]
fn scan_linear_memory(_start: &[u8], _end: &[u8]) -> Vec<Vec<u8>> {
    Vec::new()
}

hangar_agent::export_sync_agent!(Misbehave);
