"""Servers with their own plugin directory or flags: unusable files are
skipped with one clear log line, conflicts stop start-up, and the request
size limit answers RESOURCE_EXHAUSTED."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading

import grpc
import pytest
from flyteidl.admin import agent_pb2
from flyteidl.core import execution_pb2

from conftest import ServerStartError, launch_server, make_plugin_dir
from flyte_tasks import create_request, execute_sync, get_request, literal_map, plain_template

SUCCEEDED = execution_pb2.TaskExecution.SUCCEEDED

# The smallest valid WebAssembly core module: magic and version, no sections.
# It is WebAssembly, but not a component.
EMPTY_CORE_MODULE = b"\x00asm\x01\x00\x00\x00"


def echo_round_trip(srv, inputs: dict) -> None:
    lm = literal_map(inputs)
    created = srv.async_stub.CreateTask(create_request(plain_template("echo"), lm), timeout=30)
    resource = srv.async_stub.GetTask(get_request("echo", created.resource_meta), timeout=30).resource
    assert resource.phase == SUCCEEDED, f"{resource}\n{srv.diagnostics()}"
    assert resource.outputs == lm


def test_unusable_files_are_skipped_with_one_log_line_each(start_server, plugin_files, tmp_path):
    plugin_dir = make_plugin_dir(tmp_path / "mixed", plugin_files, ["echo"])
    bad = {
        "garbage.wasm": os.urandom(4096),
        "core-module.wasm": EMPTY_CORE_MODULE,
        "x.wasm": b"this is a text file, not WebAssembly\n",
        "empty.wasm": b"",
    }
    for name, data in bad.items():
        (plugin_dir / name).write_bytes(data)
    (plugin_dir / "README.txt").write_text("not a .wasm file: ignored silently\n")

    srv = start_server(plugin_dir)
    echo_round_trip(srv, {"n": 1})
    agents = srv.metadata_stub.ListAgents(agent_pb2.ListAgentsRequest(), timeout=10).agents
    assert [a.name for a in agents] == ["echo"], agents

    log = srv.stderr()
    for name in bad:
        lines = [line for line in log.splitlines() if name in line]
        assert len(lines) == 1, f"expected one log line naming {name}, got {lines}\n{srv.diagnostics()}"
        line = lines[0]
        assert "skipping plugin" in line and "ERROR" in line, line
        assert str(plugin_dir / name) in line, line
    core_line = next(line for line in log.splitlines() if "core-module.wasm" in line)
    assert "not a valid WebAssembly component" in core_line, core_line
    assert "README.txt" not in log, srv.diagnostics()
    assert "skipped=4" in log, srv.diagnostics()


@pytest.mark.parametrize(
    "name, data",
    [("garbage.wasm", b"\x13\x37" * 512), ("x.wasm", b"this is a text file, not WebAssembly\n")],
    ids=["garbage", "text"],
)
def test_skip_reason_is_complete(start_server, plugin_files, tmp_path, name, data):
    """The reason in the skip line is a whole sentence, not cut mid-way
    (e.g. "bad magic number - expected=[" with the rest dropped)."""
    plugin_dir = make_plugin_dir(tmp_path / "one-bad", plugin_files, ["echo"])
    (plugin_dir / name).write_bytes(data)
    srv = start_server(plugin_dir)
    line = next(line for line in srv.stderr().splitlines() if name in line)
    reason = line.split("skipping plugin: ", 1)[1].split(" file=", 1)[0]
    assert reason.count("[") == reason.count("]") and not reason.rstrip().endswith(("=", "[", ":")), line


def test_log_has_no_colour_codes_when_not_a_terminal(server):
    """stderr goes to a file (as in a container): no ANSI escapes. The
    fixtures set NO_COLOR=1; see also the check without it below."""
    raw = server.stderr_path.read_text(errors="replace")
    assert "\x1b[" not in raw, raw[:500]


def test_log_has_no_colour_codes_without_no_color(hangar_bin, plugin_files, tmp_path):
    """Kubernetes captures stderr through a pipe with no NO_COLOR set."""
    plugin_dir = make_plugin_dir(tmp_path / "p", plugin_files, ["echo"])
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    proc = subprocess.run(
        [str(hangar_bin), "serve", "--plugins", str(tmp_path / "missing"), "--listen", "127.0.0.1:0"],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )
    assert proc.returncode != 0
    # A start-up error is plain text...
    assert "\x1b[" not in proc.stderr, repr(proc.stderr)
    # ...and so should the log lines be.
    (plugin_dir / "bad.wasm").write_bytes(b"junk")
    proc = subprocess.Popen(
        [str(hangar_bin), "serve", "--plugins", str(plugin_dir), "--listen", "127.0.0.1:0", "--no-cache"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    watchdog = threading.Timer(60, proc.kill)  # bounds the readline below
    watchdog.start()
    try:
        # stdout also carries audit events (JSON lines) before the banner.
        seen = []
        for _ in range(50):
            line = proc.stdout.readline()
            seen.append(line)
            if not line or "hangar listening on" in line:
                break
        assert "hangar listening on" in line, seen
    finally:
        watchdog.cancel()
        proc.terminate()
        _, stderr = proc.communicate(timeout=10)
    assert "bad.wasm" in stderr, stderr
    assert "\x1b[" not in stderr, f"ANSI colour codes in a non-terminal log: {stderr[:300]!r}"


def test_duplicate_category_stops_start_up_naming_both_files(hangar_bin, plugin_files, cache_dir, tmp_path):
    plugin_dir = make_plugin_dir(tmp_path / "dup", plugin_files, ["echo", "wait"])
    shutil.copy(plugin_files["echo"], plugin_dir / "echo2.wasm")
    with pytest.raises(ServerStartError) as info:
        launch_server(hangar_bin, plugin_dir, cache_dir, log_dir=tmp_path, timeout=60)
    error = info.value
    assert error.returncode not in (0, None), error
    last = [line for line in error.stderr.splitlines() if line.strip()][-1]
    assert last.startswith("error: "), error.stderr
    assert str(plugin_dir / "echo.wasm") in last and str(plugin_dir / "echo2.wasm") in last, last
    assert '"echo"' in last, last


def test_missing_plugin_dir_stops_start_up(hangar_bin, cache_dir, tmp_path):
    with pytest.raises(ServerStartError) as info:
        launch_server(hangar_bin, tmp_path / "nope", cache_dir, log_dir=tmp_path, timeout=30)
    assert info.value.returncode not in (0, None)
    assert "error: cannot read the plugin directory" in info.value.stderr, info.value.stderr
    assert str(tmp_path / "nope") in info.value.stderr


def test_empty_plugin_dir_serves_nothing(start_server, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    srv = start_server(empty)
    assert len(srv.metadata_stub.ListAgents(agent_pb2.ListAgentsRequest(), timeout=10).agents) == 0
    with pytest.raises(grpc.RpcError) as info:
        srv.async_stub.CreateTask(create_request(plain_template("echo")), timeout=30)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    assert "none (no plugins are loaded)" in info.value.details(), info.value.details()
    assert "no plugin loaded" in srv.stderr(), srv.diagnostics()


# --------------------------------------------------------------------------
# --max-request-bytes

LIMIT = 64 * 1024


@pytest.fixture(scope="module")
def small_limit_server(hangar_bin, plugin_files, cache_dir, tmp_path_factory):
    base = tmp_path_factory.mktemp("limit")
    plugin_dir = make_plugin_dir(base / "plugins", plugin_files, ["echo", "echo-sync"])
    srv = launch_server(hangar_bin, plugin_dir, cache_dir, ["--max-request-bytes", str(LIMIT)], log_dir=base)
    yield srv
    srv.stop()


def check_exhausted(error: grpc.RpcError) -> None:
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, error
    assert f"limit of {LIMIT} bytes" in error.details(), error.details()
    assert "--max-request-bytes" in error.details(), error.details()


def test_request_over_the_limit_is_resource_exhausted(small_limit_server):
    srv = small_limit_server
    big = literal_map({"blob": "x" * (4 * LIMIT)})
    with pytest.raises(grpc.RpcError) as info:
        srv.async_stub.CreateTask(create_request(plain_template("echo"), big), timeout=30)
    check_exhausted(info.value)
    srv.assert_alive()
    # The next normal request on the same channel is served.
    echo_round_trip(srv, {"s": "small"})


def test_sync_request_over_the_limit_is_resource_exhausted(small_limit_server):
    srv = small_limit_server
    big = literal_map({"blob": "y" * (2 * LIMIT)})
    with pytest.raises(grpc.RpcError) as info:
        execute_sync(srv.sync_stub, plain_template("echo_sync"), big)
    check_exhausted(info.value)
    small = literal_map({"n": 1})
    resource = execute_sync(srv.sync_stub, plain_template("echo_sync"), small).header.resource
    assert resource.phase == SUCCEEDED and resource.outputs == small, resource


def test_request_under_the_limit_is_served(small_limit_server):
    echo_round_trip(small_limit_server, {"blob": "z" * (LIMIT // 2)})


def test_many_oversized_requests_then_normal_ones(small_limit_server):
    srv = small_limit_server
    big = literal_map({"blob": "w" * (LIMIT + 1)})
    for _ in range(5):
        with pytest.raises(grpc.RpcError) as info:
            srv.async_stub.CreateTask(create_request(plain_template("echo"), big), timeout=30)
        check_exhausted(info.value)
    for i in range(3):
        echo_round_trip(srv, {"i": i})
