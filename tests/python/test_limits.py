"""Per-plugin limits, each pushed past by the `misbehave` fixture (or
`faulty`), through the official flyteidl client.

Every fault runs while other plugins (echo, echo_sync) keep being called
from other threads: a plugin over its limit fails alone, with a one-line
reason naming the limit, and the server carries on. Limits are set per test
in a ``misbehave.toml`` manifest beside the component (or in the host
config, for the defaults).

| limit | when exceeded |
|---|---|
| call_timeout_ms | DEADLINE_EXCEEDED, within the limit plus a tick |
| memory_mib | INTERNAL "memory limit of N MiB reached", host memory returned |
| fuel | RESOURCE_EXHAUSTED "ran out of fuel" |
| max_concurrent_calls / queue_timeout_ms | RESOURCE_EXHAUSTED after the queue timeout |
| max_input_bytes | RESOURCE_EXHAUSTED before the plugin runs |
| max_output_bytes | the task FAILS (code OutputTooLarge), not a gRPC error |
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest
from flyteidl.admin import agent_pb2
from flyteidl.core import execution_pb2

from conftest import ServerStartError
from flyte_tasks import create_request, execute_sync, get_request, literal_map, plain_template

Phase = execution_pb2.TaskExecution
MIB = 1024 * 1024
# Plugins that must keep working while another one misbehaves.
BYSTANDERS = ["echo", "echo-sync"]


# --------------------------------------------------------------------------
# Helpers


def plugin_dir(tmp_path: Path, plugin_files, names, manifests: dict[str, dict[str, int]]) -> Path:
    """A fresh plugin directory with `names` and a ``NAME.toml`` holding
    ``[limits]`` for each entry of `manifests`."""
    directory = tmp_path / f"plugins-{time.monotonic_ns()}"
    directory.mkdir()
    for name in names:
        shutil.copy(plugin_files[name], directory / plugin_files[name].name)
    for name, limits in manifests.items():
        lines = "".join(f"{key} = {value}\n" for key, value in limits.items())
        (directory / f"{name}.toml").write_text(f"[limits]\n{lines}")
    return directory


@pytest.fixture
def limited(start_server, plugin_files, tmp_path):
    """``limited(misbehave_limits, *extra_args, also=(), manifests={})``: a
    server with misbehave (under those limits), the bystanders, and any
    other plugins named in `also`."""

    def start(misbehave_limits: dict[str, int], *extra_args: str, also=(), manifests=None):
        manifests = dict(manifests or {})
        manifests["misbehave"] = misbehave_limits
        names = ["misbehave", *BYSTANDERS, *also]
        return start_server(plugin_dir(tmp_path, plugin_files, names, manifests), *extra_args)

    return start


def run(server, task_type: str, inputs: dict | None = None, timeout: float = 30.0) -> agent_pb2.Resource:
    """One ExecuteTaskSync on misbehave; returns the Resource (raises RpcError)."""
    response = execute_sync(server.sync_stub, plain_template(task_type), literal_map(inputs or {}), timeout=timeout)
    return response.header.resource


def rpc_error(call) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        call()
    return info.value


def assert_one_line(details: str) -> None:
    assert "\n" not in details and "\r" not in details, f"multi-line message: {details!r}"
    assert len(details) < 500, details


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


class Bystanders:
    """Calls echo (create + get) and echo_sync in a loop on other threads
    while the block runs; on exit, asserts every call succeeded, with the
    right outputs, and that calls completed while the block ran."""

    def __init__(self, server, threads_each: int = 1):
        self.server = server
        self.threads_each = threads_each
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.errors: list[str] = []
        self.done: dict[str, list[float]] = {"echo": [], "echo_sync": []}
        self.threads: list[threading.Thread] = []

    def _echo(self, i: int) -> None:
        inputs = literal_map({"i": i, "s": f"bystander {i}"})
        stub = self.server.async_stub
        created = stub.CreateTask(create_request(plain_template("echo"), inputs), timeout=30)
        resource = stub.GetTask(get_request("echo", created.resource_meta), timeout=30).resource
        if resource.phase != Phase.SUCCEEDED or resource.outputs != inputs:
            raise AssertionError(f"echo answered {resource}")

    def _echo_sync(self, i: int) -> None:
        inputs = literal_map({"i": i})
        resource = execute_sync(self.server.sync_stub, plain_template("echo_sync"), inputs).header.resource
        if resource.phase != Phase.SUCCEEDED or resource.outputs != inputs:
            raise AssertionError(f"echo_sync answered {resource}")

    def _loop(self, kind: str, call) -> None:
        i = 0
        while not self.stop.is_set():
            i += 1
            try:
                call(i)
            except Exception as e:  # noqa: BLE001 - every failure is reported
                with self.lock:
                    self.errors.append(f"{kind} call {i}: {e!r}")
            else:
                with self.lock:
                    self.done[kind].append(time.monotonic())
            time.sleep(0.01)

    def __enter__(self) -> "Bystanders":
        self.started = time.monotonic()
        for _ in range(self.threads_each):
            for kind, call in (("echo", self._echo), ("echo_sync", self._echo_sync)):
                thread = threading.Thread(target=self._loop, args=(kind, call), daemon=True)
                thread.start()
                self.threads.append(thread)
        return self

    def completed_between(self, start: float, end: float) -> int:
        with self.lock:
            return sum(start <= t <= end for times in self.done.values() for t in times)

    def __exit__(self, exc_type, exc, tb) -> None:
        # Let every loop finish at least one call after the fault.
        time.sleep(0.2)
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)
        if exc_type is not None:
            return
        assert not self.errors, f"bystander calls failed: {self.errors[:5]}\n{self.server.diagnostics()}"
        for kind, times in self.done.items():
            assert times, f"no {kind} call completed\n{self.server.diagnostics()}"
        self.server.assert_alive()


# --------------------------------------------------------------------------
# Wall-clock time


def test_infinite_loop_is_deadline_exceeded_within_the_limit(limited):
    server = limited({"call_timeout_ms": 500})
    with Bystanders(server) as others:
        started = time.monotonic()
        error = rpc_error(lambda: run(server, "spin"))
        elapsed = time.monotonic() - started
        assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED, error
        assert 0.45 <= elapsed < 1.5, f"spin stopped after {elapsed:.2f}s; the limit is 0.5s"
        assert error.details() == "plugin misbehave did not finish within 500ms", error.details()
        # The spinning guest yields at every epoch tick, so other calls ran
        # on the same worker threads meanwhile.
        assert others.completed_between(started, started + elapsed) > 0, server.diagnostics()
    assert run(server, "ok").phase == Phase.SUCCEEDED


def test_waiting_in_the_host_is_deadline_exceeded_too(limited):
    """A guest blocked on a host timer runs no WebAssembly, so epoch
    interruption never sees it: the call's own timer stops it, and frees
    its slot (max_concurrent_calls = 1 here)."""
    server = limited({"call_timeout_ms": 500, "max_concurrent_calls": 1, "queue_timeout_ms": 0})
    with Bystanders(server):
        for _ in range(2):
            started = time.monotonic()
            error = rpc_error(lambda: run(server, "sleep"))
            elapsed = time.monotonic() - started
            assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED, error
            assert 0.45 <= elapsed < 1.5, f"sleep stopped after {elapsed:.2f}s; the limit is 0.5s"
            assert error.details() == "plugin misbehave did not finish within 500ms", error.details()
    assert run(server, "sleep", {"ms": 10}).phase == Phase.SUCCEEDED


def test_many_spinning_calls_do_not_starve_other_plugins(limited):
    """More spinning guests than the host has cores: bystanders still
    answer, and every spin is stopped at its deadline."""
    server = limited({"call_timeout_ms": 1000})
    with Bystanders(server) as others:
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=6) as pool:
            futures = [pool.submit(lambda: rpc_error(lambda: run(server, "spin"))) for _ in range(6)]
            codes = [f.result(timeout=30).code() for f in futures]
        elapsed = time.monotonic() - started
        assert codes == [grpc.StatusCode.DEADLINE_EXCEEDED] * 6, codes
        assert elapsed < 3.0, f"6 spins of 1s took {elapsed:.2f}s"
        assert others.completed_between(started, started + elapsed) > 0, server.diagnostics()


# --------------------------------------------------------------------------
# Memory and stack


def test_memory_bomb_fails_cleanly_and_gives_the_memory_back(limited):
    server = limited({"memory_mib": 64})
    for _ in range(3):  # warm up: pool slots, gRPC buffers, allocator arenas
        assert run(server, "ok").phase == Phase.SUCCEEDED
    before = rss_kib(server.proc.pid)
    with Bystanders(server):
        for _ in range(5):
            error = rpc_error(lambda: run(server, "memory_bomb"))
            assert error.code() == grpc.StatusCode.INTERNAL, error
            assert_one_line(error.details())
            assert error.details() == "plugin misbehave trapped: memory limit of 64 MiB reached (limits.memory_mib)"
    after = rss_kib(server.proc.pid)
    # Each bomb touched 64 MiB; five of them leave (almost) nothing behind:
    # at most the 8 MiB per slot kept resident for the next call.
    assert after - before < 32 * 1024, f"RSS grew from {before} KiB to {after} KiB"
    assert run(server, "ok").phase == Phase.SUCCEEDED


def test_concurrent_memory_bombs_stay_within_their_limits(limited):
    """Four bombs at once under a 32 MiB limit: the server's peak RSS grows
    by about 4 x 32 MiB, not by what the guests asked for (unbounded)."""
    server = limited({"memory_mib": 32})
    assert run(server, "ok").phase == Phase.SUCCEEDED
    before = rss_kib(server.proc.pid)
    with ThreadPoolExecutor(max_workers=4) as pool:
        errors = list(pool.map(lambda _: rpc_error(lambda: run(server, "memory_bomb")), range(4)))
    assert [e.code() for e in errors] == [grpc.StatusCode.INTERNAL] * 4, errors
    peak = rss_kib(server.proc.pid, "VmHWM")
    assert peak - before < (4 * 32 + 64) * 1024, f"peak RSS {peak} KiB, {before} KiB before"
    # What stays: at most the 8 MiB per instance slot Hangar keeps resident
    # (reset in place) for the next call (runtime/engine.rs), not 4 x 32 MiB.
    assert rss_kib(server.proc.pid) - before < (4 * 8 + 16) * 1024
    server.assert_alive()


def test_deep_recursion_is_internal(limited):
    server = limited({})
    with Bystanders(server):
        error = rpc_error(lambda: run(server, "deep_recursion"))
    assert error.code() == grpc.StatusCode.INTERNAL, error
    assert_one_line(error.details())
    assert error.details().startswith("plugin misbehave trapped: "), error.details()
    assert "stack" in error.details() or "out of bounds" in error.details(), error.details()
    assert run(server, "ok").phase == Phase.SUCCEEDED


def test_trap_of_another_plugin_is_internal_and_contained(limited):
    server = limited({}, also=["faulty"])
    with Bystanders(server):
        for _ in range(3):
            error = rpc_error(
                lambda: server.async_stub.CreateTask(create_request(plain_template("trap_unreachable")), timeout=30)
            )
            assert error.code() == grpc.StatusCode.INTERNAL, error
            assert_one_line(error.details())
            assert error.details().startswith("plugin faulty trapped: "), error.details()
    assert run(server, "ok").phase == Phase.SUCCEEDED


# --------------------------------------------------------------------------
# Fuel


def test_fuel_stops_an_infinite_loop(limited):
    server = limited({"fuel": 5_000_000, "call_timeout_ms": 10_000})
    with Bystanders(server):
        started = time.monotonic()
        error = rpc_error(lambda: run(server, "spin"))
        elapsed = time.monotonic() - started
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, error
    assert_one_line(error.details())
    assert error.details().startswith(
        "plugin misbehave ran out of fuel: the call used all 5000000 units (limits.fuel)"
    ), error.details()
    assert elapsed < 5.0, f"fuel ran out after {elapsed:.2f}s; the wall-clock limit is 10s"
    # Small work fits in the same budget; large work does not.
    small = run(server, "compute", {"iterations": 1000})
    assert small.phase == Phase.SUCCEEDED, small
    large = rpc_error(lambda: run(server, "compute", {"iterations": 100_000_000}))
    assert large.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and "fuel" in large.details(), large


def test_fuel_limit_from_the_host_config_applies_to_every_plugin(start_server, plugin_files, tmp_path):
    config = tmp_path / "hangar.toml"
    config.write_text("[limits]\nfuel = 2000000\n")
    directory = plugin_dir(tmp_path, plugin_files, ["misbehave", *BYSTANDERS], {})
    server = start_server(directory, "--config", str(config))
    error = rpc_error(lambda: run(server, "spin"))
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, error
    assert "2000000 units (limits.fuel)" in error.details(), error.details()
    with Bystanders(server):  # echo fits easily in 2M units
        time.sleep(0.3)


# --------------------------------------------------------------------------
# Concurrent calls


def test_calls_over_max_concurrent_calls_wait_then_are_resource_exhausted(limited):
    server = limited({"max_concurrent_calls": 2, "queue_timeout_ms": 200})
    results: list[tuple[str, float, str]] = []
    lock = threading.Lock()

    def call() -> None:
        started = time.monotonic()
        try:
            resource = run(server, "sleep_then_ok", {"ms": 1000})
        except grpc.RpcError as e:
            outcome = (e.code().name, time.monotonic() - started, e.details())
        else:
            assert resource.phase == Phase.SUCCEEDED, resource
            outcome = ("OK", time.monotonic() - started, "")
        with lock:
            results.append(outcome)

    with Bystanders(server):
        barrier_start = time.monotonic()
        threads = [threading.Thread(target=call) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    assert time.monotonic() - barrier_start < 10
    ok = [r for r in results if r[0] == "OK"]
    rejected = [r for r in results if r[0] == "RESOURCE_EXHAUSTED"]
    assert len(ok) == 2 and len(rejected) == 4, results
    for _, elapsed, details in rejected:
        # Refused after the queue timeout, not after a running call ended.
        assert 0.15 <= elapsed < 0.9, results
        assert_one_line(details)
        assert details == (
            "no capacity to run plugin misbehave: all 2 of its concurrent calls "
            "(limits.max_concurrent_calls) are in use and none freed up within 200ms "
            "(limits.queue_timeout_ms); retry later, or raise the limits in its manifest"
        ), details
    # Slots are given back: the next calls run.
    assert run(server, "ok").phase == Phase.SUCCEEDED


def test_a_queued_call_runs_when_a_slot_frees_in_time(limited):
    server = limited({"max_concurrent_calls": 1, "queue_timeout_ms": 5000})
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(run, server, "sleep_then_ok", {"ms": 300}) for _ in range(2)]
        phases = [f.result(timeout=30).phase for f in futures]
    assert phases == [Phase.SUCCEEDED] * 2


# --------------------------------------------------------------------------
# Sizes crossing the boundary


@pytest.mark.parametrize("field", ["outputs", "message", "custom_info"])
def test_answer_over_max_output_bytes_fails_the_task(limited, field):
    server = limited({"max_output_bytes": MIB})
    with Bystanders(server):
        resource = run(server, "huge_output", {"bytes": 2 * MIB, "field": field})
    assert resource.phase == Phase.FAILED and resource.state == agent_pb2.PERMANENT_FAILURE, resource.message
    assert resource.agent_error.code == "OutputTooLarge", resource.agent_error
    assert resource.agent_error.kind == agent_pb2.AgentError.NON_RECOVERABLE
    assert len(resource.outputs.literals) == 0
    assert_one_line(resource.message)
    assert resource.message.startswith("plugin misbehave answered 20971"), resource.message
    assert "over its limit of 1048576 bytes (limits.max_output_bytes)" in resource.message, resource.message
    # Under the limit, the same answer goes through.
    fine = run(server, "huge_output", {"bytes": MIB // 2, "field": field})
    assert fine.phase == Phase.SUCCEEDED, fine.message[:200]


def test_resource_meta_over_max_output_bytes_fails_at_the_first_get(limited):
    """create has no Resource to fail: the failure rides in resource_meta
    (as an agent's own create error does) and GetTask reports it."""
    server = limited({}, also=["faulty"], manifests={"faulty": {"max_output_bytes": 4096}})
    stub = server.async_stub
    created = stub.CreateTask(create_request(plain_template("huge_meta"), literal_map({"bytes": 100_000})), timeout=30)
    assert len(created.resource_meta) < 4096, len(created.resource_meta)
    resource = stub.GetTask(get_request("huge_meta", created.resource_meta), timeout=30).resource
    assert resource.phase == Phase.FAILED, resource
    assert resource.agent_error.code == "OutputTooLarge", resource
    assert "plugin faulty answered" in resource.message and "limits.max_output_bytes" in resource.message
    small = stub.CreateTask(create_request(plain_template("huge_meta"), literal_map({"bytes": 100})), timeout=30)
    ok = stub.GetTask(get_request("huge_meta", small.resource_meta), timeout=30).resource
    assert ok.phase == Phase.SUCCEEDED, ok


def test_input_over_max_input_bytes_is_resource_exhausted(limited):
    server = limited({"max_input_bytes": 64 * 1024})
    with Bystanders(server):
        error = rpc_error(lambda: run(server, "ok", {"blob": "x" * 100_000}))
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, error
    assert_one_line(error.details())
    assert error.details().startswith("the request for plugin misbehave is "), error.details()
    assert "over its limit of 65536 bytes (limits.max_input_bytes)" in error.details(), error.details()
    assert run(server, "ok", {"blob": "x" * 10_000}).phase == Phase.SUCCEEDED


def test_host_config_defaults_apply_and_manifests_override_them(start_server, plugin_files, tmp_path):
    """hangar.toml sets a small max_input_bytes for every plugin; misbehave's
    manifest raises it for itself only."""
    config = tmp_path / "hangar.toml"
    config.write_text("[limits]\nmax_input_bytes = 20000\n")
    directory = plugin_dir(tmp_path, plugin_files, ["misbehave", *BYSTANDERS], {"misbehave": {"max_input_bytes": MIB}})
    server = start_server(directory, "--config", str(config))
    big = {"blob": "x" * 30_000}
    error = rpc_error(lambda: execute_sync(server.sync_stub, plain_template("echo_sync"), literal_map(big)))
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, error
    assert "plugin echo_sync" in error.details() and "20000 bytes" in error.details(), error.details()
    assert run(server, "ok", big).phase == Phase.SUCCEEDED


def test_flags_override_the_host_config(start_server, plugin_files, tmp_path):
    config = tmp_path / "hangar.toml"
    config.write_text("[limits]\nmax_input_bytes = 20000\n")
    directory = plugin_dir(tmp_path, plugin_files, BYSTANDERS, {})
    server = start_server(directory, "--config", str(config), "--max-input-bytes", "100000")
    resource = execute_sync(server.sync_stub, plain_template("echo_sync"), literal_map({"blob": "x" * 30_000}))
    assert resource.header.resource.phase == Phase.SUCCEEDED


# --------------------------------------------------------------------------
# Invalid limits are refused with the fix


def test_out_of_range_manifest_limit_skips_the_plugin_with_the_fix(start_server, plugin_files, tmp_path):
    directory = plugin_dir(tmp_path, plugin_files, ["misbehave", *BYSTANDERS], {"misbehave": {"max_concurrent_calls": 0}})
    server = start_server(directory)
    log = server.stderr()
    assert "misbehave.toml:2: limits.max_concurrent_calls = 0 is out of range: use 1 to 10000" in log, log
    with Bystanders(server):
        time.sleep(0.2)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--max-concurrent-calls", "0"], "--max-concurrent-calls = 0 is out of range: use 1 to 10000"),
        (["--queue-timeout-ms", "600001"], "--queue-timeout-ms = 600001 is out of range: use 0 to 600000"),
        (["--fuel", "0"], "--fuel = 0 is out of range"),
    ],
)
def test_out_of_range_flag_stops_start_up_with_the_fix(start_server, plugin_files, args, message):
    with pytest.raises(ServerStartError) as info:
        start_server(BYSTANDERS, *args)
    assert message in info.value.stderr, info.value.stderr


# --------------------------------------------------------------------------
# Nothing carries over between calls


def remember(server, secret: str) -> tuple[list[str], int]:
    resource = run(server, "remember", {"secret": secret})
    assert resource.phase == Phase.SUCCEEDED, resource
    outputs = resource.outputs.literals
    seen = [item.scalar.primitive.string_value for item in outputs["seen"].collection.literals]
    return seen, outputs["found_own"].scalar.primitive.integer


def test_no_call_sees_what_an_earlier_call_left_in_memory(limited):
    """Each call writes its secret into the memory image (initialised data),
    a heap block it never frees and pages it grows, then scans all of its
    linear memory for other calls' secrets. Instance slots are recycled
    (pages kept resident and reset in place), so this is what proves that
    recycling restores every byte a fresh instance would have."""
    server = limited({"max_concurrent_calls": 8})
    secrets = [f"secret{i:03d}x{time.monotonic_ns()}" for i in range(60)]
    for secret in secrets[:20]:
        seen, found_own = remember(server, secret)
        assert seen == [], f"{secret} saw {seen}"
        # The scan found this call's own three copies: it can see a secret.
        assert found_own >= 3, found_own
    with ThreadPoolExecutor(max_workers=8) as pool:
        for secret, (seen, found_own) in zip(secrets[20:], pool.map(lambda s: remember(server, s), secrets[20:])):
            assert seen == [], f"{secret} saw {seen}"
            assert found_own >= 3, found_own
    server.assert_alive()


# No filesystem, no sockets


def test_files_are_out_of_reach(limited, tmp_path):
    secret = tmp_path / "host-secret.txt"
    secret.write_text("do not leak me")
    server = limited({})
    with Bystanders(server):
        for path in ["/etc/passwd", str(secret), ".", "/"]:
            resource = run(server, "open_file", {"path": path})
            assert resource.phase == Phase.FAILED, f"{path}: {resource}"
            assert resource.agent_error.code == "FileDenied", resource
            assert resource.message.startswith(f"open_file: reading {path} failed: "), resource.message
            assert "do not leak me" not in resource.message
            assert "root:" not in resource.message


def test_sockets_are_out_of_reach(limited):
    """A real listener on localhost: the guest's connect fails inside the
    sandbox and the listener never sees a connection."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    server = limited({})
    try:
        with Bystanders(server):
            for target in [port, 1]:
                resource = run(server, "connect_socket", {"port": target})
                assert resource.phase == Phase.FAILED, resource
                assert resource.agent_error.code == "SocketDenied", resource
                assert resource.message.startswith(f"connect_socket: connecting to 127.0.0.1:{target} failed: "), (
                    resource.message
                )
                assert "refused" not in resource.message.lower(), resource.message
        with pytest.raises(socket.timeout):
            conn, peer = listener.accept()
            conn.close()
            pytest.fail(f"the guest reached the host's listener from {peer}")
    finally:
        listener.close()
