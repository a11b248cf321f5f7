"""The live plugin directory: plugins added, replaced and removed while a
load of calls runs, with no failed call for the task types that stay
served; broken or colliding new versions are refused and the previous
version keeps serving."""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from pathlib import Path

import grpc
import pytest
from flyteidl.admin import agent_pb2
from flyteidl.core import execution_pb2

from flyte_tasks import create_request, execute_sync, get_request, int_template, literal_map, plain_template

SUCCEEDED = execution_pb2.TaskExecution.SUCCEEDED
CHANGE_TIMEOUT_S = 30.0


def leb128(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def with_custom_section(data: bytes, name: str, payload: bytes) -> bytes:
    """The same component plus a custom section: a different build that
    behaves the same."""
    body = leb128(len(name)) + name.encode() + payload
    return data + b"\x00" + leb128(len(body)) + body


def install(data: bytes, dest: Path) -> None:
    """Copy, then rename into place (atomic), as operators should."""
    temp = dest.with_name(dest.name + ".partial")
    temp.write_bytes(data)
    os.replace(temp, dest)


def task_types(srv) -> set[str]:
    agents = srv.metadata_stub.ListAgents(agent_pb2.ListAgentsRequest(), timeout=10).agents
    return {t for agent in agents for t in agent.supported_task_types}


def audit_events(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def wait_until(predicate, what: str, srv) -> None:
    deadline = time.monotonic() + CHANGE_TIMEOUT_S
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    pytest.fail(f"timed out waiting until {what}\n{srv.diagnostics()}")


class Load:
    """Threads calling echo (create + get) and echo_sync in a loop."""

    def __init__(self, srv, threads_per_kind: int = 2):
        self.srv = srv
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.ok = {"echo": 0, "echo_sync": 0}
        self.failures: list[str] = []
        self.threads = [
            threading.Thread(target=self.loop, args=(kind,), daemon=True)
            for kind in ["echo", "echo_sync"]
            for _ in range(threads_per_kind)
        ]

    def call(self, kind: str, n: int) -> None:
        inputs = literal_map({"n": n})
        if kind == "echo":
            created = self.srv.async_stub.CreateTask(create_request(plain_template("echo"), inputs), timeout=30)
            resource = self.srv.async_stub.GetTask(get_request("echo", created.resource_meta), timeout=30).resource
        else:
            resource = execute_sync(self.srv.sync_stub, plain_template("echo_sync"), inputs).header.resource
        assert resource.phase == SUCCEEDED, resource
        assert resource.outputs == inputs, resource

    def loop(self, kind: str) -> None:
        n = 0
        while not self.stop.is_set():
            n += 1
            try:
                self.call(kind, n)
            except (grpc.RpcError, AssertionError) as e:
                detail = f"{e.code().name}: {e.details()}" if isinstance(e, grpc.RpcError) else str(e)
                with self.lock:
                    self.failures.append(f"{kind} #{n}: {detail}")
            else:
                with self.lock:
                    self.ok[kind] += 1

    def __enter__(self) -> "Load":
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)


def test_plugins_are_added_replaced_and_removed_under_load(start_server, plugin_files, tmp_path):
    plugin_dir = tmp_path / "live"
    plugin_dir.mkdir()
    for name in ["echo", "echo-sync"]:
        install(plugin_files[name].read_bytes(), plugin_dir / f"{name}.wasm")
    audit = tmp_path / "audit.jsonl"
    config = tmp_path / "hangar.toml"
    config.write_text(f'[audit]\ndestination = "{audit}"\n')
    srv = start_server(plugin_dir, "--config", str(config), "--watch-debounce-ms", "300")
    assert task_types(srv) == {"echo", "echo_sync"}

    def loaded(plugin: str) -> list[dict]:
        return [e for e in audit_events(audit) if e["event"] == "plugin_loaded" and e["plugin"] == plugin]

    with Load(srv) as load:
        time.sleep(1.0)

        # Added: wait becomes available.
        install(plugin_files["wait"].read_bytes(), plugin_dir / "wait.wasm")
        wait_until(lambda: "wait" in task_types(srv), "wait is listed", srv)
        created = srv.async_stub.CreateTask(
            create_request(int_template("wait"), literal_map({"seconds": 0})), timeout=30
        )
        assert created.resource_meta

        # Replaced by a different build: the new sha256 serves.
        new_echo = with_custom_section(plugin_files["echo"].read_bytes(), "hangar-test", b"build 2")
        install(new_echo, plugin_dir / "echo.wasm")
        new_sha = hashlib.sha256(new_echo).hexdigest()
        wait_until(lambda: any(e["sha256"] == new_sha for e in loaded("echo")), "echo v2 is loaded", srv)

        # Swapped for itself (copy + rename): reloaded all the same.
        install(plugin_files["echo-sync"].read_bytes(), plugin_dir / "echo-sync.wasm")
        wait_until(lambda: len(loaded("echo-sync")) == 2, "echo-sync is reloaded", srv)
        assert "plugin reloaded" in srv.stderr()

        # A broken new version, written slowly in place: refused once, the
        # previous version keeps serving.
        garbage = os.urandom(64 * 1024)
        with open(plugin_dir / "echo.wasm", "wb") as f:
            for i in range(0, len(garbage), 16 * 1024):
                f.write(garbage[i : i + 16 * 1024])
                f.flush()
                time.sleep(0.1)
        wait_until(
            lambda: "refusing the new version of this plugin (the previous version keeps serving)" in srv.stderr(),
            "the broken echo is refused",
            srv,
        )
        time.sleep(1.0)
        assert len(loaded("echo")) == 2, loaded("echo")

        # A new plugin claiming echo's task type: refused likewise.
        install(new_echo, plugin_dir / "echo-copy.wasm")
        wait_until(
            lambda: "refusing this new plugin (it is not served)" in srv.stderr() and "claimed by both" in srv.stderr(),
            "the colliding plugin is refused",
            srv,
        )
        assert not loaded("echo-copy")

        # Removed: wait is gone.
        (plugin_dir / "wait.wasm").unlink()
        wait_until(lambda: "wait" not in task_types(srv), "wait is no longer listed", srv)
        with pytest.raises(grpc.RpcError) as refused:
            srv.async_stub.CreateTask(create_request(int_template("wait"), literal_map({"seconds": 0})), timeout=30)
        assert refused.value.code() == grpc.StatusCode.NOT_FOUND
        time.sleep(1.0)

    srv.assert_alive()
    assert load.failures == [], f"{len(load.failures)} failed calls: {load.failures[:5]}\n{srv.diagnostics()}"
    assert load.ok["echo"] > 0 and load.ok["echo_sync"] > 0, load.ok
    unloaded = [e["plugin"] for e in audit_events(audit) if e["event"] == "plugin_unloaded"]
    assert "wait" in unloaded and "echo" in unloaded and "echo-sync" in unloaded, unloaded
    refusals = [line for line in srv.stderr().splitlines() if "refusing " in line]
    assert len(refusals) == 2, "\n".join(refusals)
    assert task_types(srv) == {"echo", "echo_sync"}


def test_manifest_change_alone_reloads_and_watch_can_be_off(start_server, plugin_files, tmp_path):
    srv = start_server(["echo"], "--watch-debounce-ms", "100")
    plugin_dir = Path(srv.args[srv.args.index("--plugins") + 1])
    install(b"[limits]\nmemory_mib = 64\n", plugin_dir / "echo.toml")
    wait_until(lambda: "plugin reloaded" in srv.stderr(), "echo is reloaded for its manifest", srv)
    # A broken manifest is refused like a broken component.
    install(b"[limits]\nmemory_mib = 0\n", plugin_dir / "echo.toml")
    wait_until(lambda: "refusing the new version" in srv.stderr(), "the broken manifest is refused", srv)
    assert task_types(srv) == {"echo"}

    off = start_server(["echo"], "--watch=false")
    off_dir = Path(off.args[off.args.index("--plugins") + 1])
    install(plugin_files["wait"].read_bytes(), off_dir / "wait.wasm")
    time.sleep(1.5)
    assert task_types(off) == {"echo"}
