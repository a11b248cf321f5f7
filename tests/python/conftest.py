"""Shared fixtures for Hangar's integration tests.

Every test talks to a real ``hangar serve`` process through the official
flyteidl 1.16.8 Python stubs, as propeller and flytekit would.

* ``hangar_bin``: the server binary (``$HANGAR_BIN``, default
  ``target/release/hangar``; build it with ``cargo build --release -p hangar``).
* ``plugin_files``: the example plugins (``plugins/``, from
  ``bash build/guests.sh``) and the test fixtures (``target/test-plugins/``).
* ``server`` / ``server2``: two session-wide servers over one plugin directory
  holding every example and fixture, sharing one compile cache.
* ``start_server``: starts extra servers with their own plugin directory and
  flags (stopped at the end of the test).

Servers listen on ``127.0.0.1`` port 0; the port is read from the line
``hangar listening on 127.0.0.1:PORT`` on stdout. Their stderr goes to a file
whose tail is shown whenever a server dies or a start-up fails. Unless a test
passes its own ``--metrics-listen``, the metrics port is also port 0, read from
``hangar metrics on 127.0.0.1:PORT`` (``HangarServer.metrics_address``).
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty, Queue
from typing import Iterator, Sequence

import grpc
import pytest
from flyteidl.service import agent_pb2_grpc

REPO_ROOT = Path(__file__).resolve().parents[2]

# Where each plugin comes from: examples in plugins/, fixtures in
# target/test-plugins/.
PLUGIN_SOURCES = {
    "echo": REPO_ROOT / "plugins" / "echo.wasm",
    "wait": REPO_ROOT / "plugins" / "wait.wasm",
    "echo-sync": REPO_ROOT / "plugins" / "echo-sync.wasm",
    "faulty": REPO_ROOT / "target" / "test-plugins" / "faulty.wasm",
    "faulty-sync": REPO_ROOT / "target" / "test-plugins" / "faulty-sync.wasm",
    "observable": REPO_ROOT / "target" / "test-plugins" / "observable.wasm",
    "http-client": REPO_ROOT / "target" / "test-plugins" / "http-client.wasm",
    "misbehave": REPO_ROOT / "target" / "test-plugins" / "misbehave.wasm",
    "secret-reader": REPO_ROOT / "target" / "test-plugins" / "secret-reader.wasm",
}

# Start-up compiles every plugin once (then the shared cache serves them).
START_TIMEOUT_S = float(os.environ.get("HANGAR_TEST_START_TIMEOUT", "120"))
STOP_TIMEOUT_S = 10.0
READY_LINE = re.compile(r"hangar listening on (127\.0\.0\.1:\d+)")
METRICS_LINE = re.compile(r"hangar metrics on (\S+)")
ANSI = re.compile(r"\x1b\[[0-9;]*m")

_live_processes: list[subprocess.Popen] = []


@atexit.register
def _kill_leftovers() -> None:
    """Last resort if a fixture teardown never ran (e.g. pytest was killed)."""
    for proc in _live_processes:
        if proc.poll() is None:
            proc.kill()


def strip_ansi(text: str) -> str:
    return ANSI.sub("", text)


def tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.splitlines()[-lines:])


# --------------------------------------------------------------------------
# The binary and the plugins


def hangar_binary() -> Path:
    return Path(os.environ.get("HANGAR_BIN", REPO_ROOT / "target" / "release" / "hangar"))


@pytest.fixture(scope="session")
def hangar_bin() -> Path:
    path = hangar_binary()
    if not path.is_file() or not os.access(path, os.X_OK):
        pytest.fail(
            f"hangar binary not found at {path}: build it with "
            "`cargo build --release -p hangar` or set HANGAR_BIN",
            pytrace=False,
        )
    return path


@pytest.fixture(scope="session")
def plugin_files() -> dict[str, Path]:
    missing = [str(p) for p in PLUGIN_SOURCES.values() if not p.is_file()]
    if missing:
        pytest.fail(
            "plugins missing (build them with `bash build/guests.sh`): " + ", ".join(missing),
            pytrace=False,
        )
    return dict(PLUGIN_SOURCES)


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    """One compile cache for every server and `hangar run` of the session."""
    return tmp_path_factory.mktemp("hangar-cache")


def make_plugin_dir(directory: Path, plugin_files: dict[str, Path], names: Sequence[str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy(plugin_files[name], directory / plugin_files[name].name)
    return directory


@pytest.fixture(scope="session")
def all_plugins_dir(tmp_path_factory, plugin_files) -> Path:
    return make_plugin_dir(tmp_path_factory.mktemp("plugins"), plugin_files, list(plugin_files))


# --------------------------------------------------------------------------
# Server processes


class ServerStartError(Exception):
    """The server exited (or never got ready) during start-up."""

    def __init__(self, message: str, returncode: int | None, stderr: str):
        super().__init__(message)
        self.returncode = returncode
        self.stderr = stderr


@dataclass
class HangarServer:
    """One running ``hangar serve`` process."""

    proc: subprocess.Popen
    address: str
    stderr_path: Path
    args: list[str]
    # HOST:PORT of /metrics, when served.
    metrics_address: str | None = None
    _channel: grpc.Channel | None = field(default=None, repr=False)

    @property
    def channel(self) -> grpc.Channel:
        if self._channel is None:
            self._channel = grpc.insecure_channel(self.address)
            grpc.channel_ready_future(self._channel).result(timeout=10)
        return self._channel

    @property
    def async_stub(self) -> agent_pb2_grpc.AsyncAgentServiceStub:
        return agent_pb2_grpc.AsyncAgentServiceStub(self.channel)

    @property
    def sync_stub(self) -> agent_pb2_grpc.SyncAgentServiceStub:
        return agent_pb2_grpc.SyncAgentServiceStub(self.channel)

    @property
    def metadata_stub(self) -> agent_pb2_grpc.AgentMetadataServiceStub:
        return agent_pb2_grpc.AgentMetadataServiceStub(self.channel)

    def stderr(self) -> str:
        """Everything the server logged so far, without colour codes."""
        try:
            return strip_ansi(self.stderr_path.read_text(errors="replace"))
        except FileNotFoundError:
            return ""

    def diagnostics(self) -> str:
        """For assertion messages: is it alive, and what did it say last."""
        state = "running" if self.proc.poll() is None else f"EXITED with {self.proc.returncode}"
        return f"server {self.address} ({state}); stderr tail:\n{tail(self.stderr())}"

    def assert_alive(self) -> None:
        assert self.proc.poll() is None, "the server died.\n" + self.diagnostics()

    def stop(self) -> None:
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=STOP_TIMEOUT_S)
        if self.proc in _live_processes:
            _live_processes.remove(self.proc)


def launch_server(
    hangar_bin: Path,
    plugin_dir: Path,
    cache_dir: Path | None,
    extra_args: Sequence[str] = (),
    log_dir: Path | None = None,
    timeout: float = START_TIMEOUT_S,
) -> HangarServer:
    """Starts ``hangar serve`` and waits (bounded) until it listens.

    Raises :class:`ServerStartError` with the stderr if it exits first.
    """
    args = [str(hangar_bin), "serve", "--plugins", str(plugin_dir), "--listen", "127.0.0.1:0"]
    if cache_dir is not None:
        args += ["--cache-dir", str(cache_dir)]
    args += list(extra_args)
    if not any(a.startswith("--metrics-listen") for a in extra_args):
        # Many servers run at once: never the default port 9090.
        args += ["--metrics-listen", "127.0.0.1:0"]
    log_dir = log_dir or plugin_dir.parent
    stderr_path = log_dir / f"hangar-{plugin_dir.name}-{time.monotonic_ns()}.stderr"
    env = dict(os.environ, NO_COLOR="1")
    env.setdefault("RUST_LOG", "info")
    with open(stderr_path, "wb") as stderr_file:
        proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr_file,
            env=env,
            text=True,
        )
    _live_processes.append(proc)

    lines: Queue[str | None] = Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()

    def read_stderr() -> str:
        return strip_ansi(stderr_path.read_text(errors="replace"))

    deadline = time.monotonic() + timeout
    metrics_address = None
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            proc.kill()
            proc.wait(timeout=STOP_TIMEOUT_S)
            _live_processes.remove(proc)
            raise ServerStartError(
                f"hangar did not print 'hangar listening on' within {timeout:.0f}s: {args}\n"
                f"stderr tail:\n{tail(read_stderr())}",
                proc.returncode,
                read_stderr(),
            )
        try:
            line = lines.get(timeout=min(left, 0.5))
        except Empty:
            continue
        if line is None:  # stdout closed: the process ended
            try:
                proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=STOP_TIMEOUT_S)
            _live_processes.remove(proc)
            raise ServerStartError(
                f"hangar exited with {proc.returncode} before listening: {args}\n"
                f"stderr tail:\n{tail(read_stderr())}",
                proc.returncode,
                read_stderr(),
            )
        metrics = METRICS_LINE.search(line)
        if metrics:
            metrics_address = metrics.group(1)
        match = READY_LINE.search(line)
        if match:
            return HangarServer(
                proc=proc,
                address=match.group(1),
                stderr_path=stderr_path,
                args=args,
                metrics_address=metrics_address,
            )


@pytest.fixture(scope="session")
def server(hangar_bin, all_plugins_dir, cache_dir, tmp_path_factory) -> Iterator[HangarServer]:
    """The main server: every example plugin and test fixture."""
    try:
        srv = launch_server(hangar_bin, all_plugins_dir, cache_dir, log_dir=tmp_path_factory.mktemp("logs"))
    except ServerStartError as e:
        pytest.fail(str(e), pytrace=False)
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def server2(hangar_bin, all_plugins_dir, cache_dir, tmp_path_factory, server) -> Iterator[HangarServer]:
    """A second, independent process over the same plugins (another replica)."""
    try:
        srv = launch_server(hangar_bin, all_plugins_dir, cache_dir, log_dir=tmp_path_factory.mktemp("logs"))
    except ServerStartError as e:
        pytest.fail(str(e), pytrace=False)
    yield srv
    srv.stop()


@pytest.fixture
def start_server(hangar_bin, cache_dir, plugin_files, tmp_path):
    """Factory: ``start_server(names_or_dir, *extra_args)`` → HangarServer.

    ``names_or_dir`` is a list of plugin names (copied into a fresh directory)
    or a ready plugin directory. Every server started is stopped at teardown.
    Start-up failures raise :class:`ServerStartError`.
    """
    started: list[HangarServer] = []
    counter = iter(range(1000))

    def start(names_or_dir, *extra_args: str, timeout: float = START_TIMEOUT_S) -> HangarServer:
        if isinstance(names_or_dir, Path):
            plugin_dir = names_or_dir
        else:
            plugin_dir = make_plugin_dir(tmp_path / f"plugins{next(counter)}", plugin_files, names_or_dir)
        srv = launch_server(hangar_bin, plugin_dir, cache_dir, extra_args, log_dir=tmp_path, timeout=timeout)
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.stop()


@pytest.fixture(scope="session")
def async_stub(server) -> agent_pb2_grpc.AsyncAgentServiceStub:
    return server.async_stub


@pytest.fixture(scope="session")
def sync_stub(server) -> agent_pb2_grpc.SyncAgentServiceStub:
    return server.sync_stub


@pytest.fixture(scope="session")
def metadata_stub(server) -> agent_pb2_grpc.AgentMetadataServiceStub:
    return server.metadata_stub


# --------------------------------------------------------------------------
# `hangar run`


@dataclass
class RunResult:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    def describe(self) -> str:
        return (
            f"hangar run exited with {self.returncode}: {self.args}\n"
            f"stdout:\n{tail(self.stdout)}\nstderr:\n{tail(self.stderr)}"
        )


@pytest.fixture
def hangar_run(hangar_bin, cache_dir):
    """``hangar_run(plugin_path, *args, timeout=60)`` → RunResult."""

    def run(plugin: Path, *args: str, timeout: float = 60.0) -> RunResult:
        argv = [str(hangar_bin), "run", str(plugin), "--cache-dir", str(cache_dir), *map(str, args)]
        proc = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=dict(os.environ, NO_COLOR="1"),
        )
        return RunResult(argv, proc.returncode, proc.stdout, strip_ansi(proc.stderr))

    return run
