"""Instance reuse (``[reuse] enabled = true`` in a plugin's manifest), end to
end through the official flyteidl client.

A reusable plugin is rewritten at load time so that its instance can put its
memory, globals and tables back after each call (host/src/runtime/reuse);
the host keeps such instances in a per-plugin pool (runtime/instance_pool.rs).
These tests prove, on real components in four languages, that

- no call sees what an earlier call left in memory, including the bytes the
  host itself wrote there (the task's inputs), while instances really are
  reused (the `hangar_instances_reused_total` counter says so: a test where
  nothing was reused would prove nothing);
- every answer is the right one for its own call, one call after another and
  many at once;
- a call that fails (a trap) takes its instance with it.

The rewriter's own tests (cargo test, `runtime::reuse::tests`) check each
place a call can leave data (heap, global, table, a buffer only the host
wrote, a return area) against the same component without the rewrite, so
they show the checks can fail.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest
from flyteidl.core import execution_pb2

from conftest import REPO_ROOT
from flyte_tasks import create_request, execute_sync, get_request, literal_map, plain_template

Phase = execution_pb2.TaskExecution
TEST_PLUGINS = REPO_ROOT / "target" / "test-plugins"
# Plugin file -> (task type, sync?). The component runtimes whose state a
# reset must put back: Rust (misbehave), CPython, SpiderMonkey, QuickJS and Go.
REUSED = {
    "misbehave.wasm": ("remember", True),
    "echo-python.wasm": ("echo_python", False),
    "echo-sync-python.wasm": ("echo_sync_python", True),
    "echo-js.wasm": ("echo_js", False),
    "echo-sync-qjs.wasm": ("echo_sync_js", True),
    "echo-go.wasm": ("echo_go", False),
}
# The marker misbehave's `remember` and `scan` look for in memory: the bytes
# of these strings XOR 0x5A (its source holds them flipped, so the marker
# is only in memory where a call put it). A copy only the host wrote
# carries the same bytes.
START, END = ("".join(chr(b ^ 0x5A) for b in text) for text in (b"<remembered:", b":end-remembered>"))


@pytest.fixture(scope="module")
def reuse_server(hangar_bin, cache_dir, tmp_path_factory):
    from conftest import ServerStartError, launch_server

    plugins = tmp_path_factory.mktemp("reuse-plugins")
    for name in REUSED:
        source = TEST_PLUGINS / name
        if not source.is_file():
            pytest.fail(f"{source} is missing: build it with `bash build/guests.sh`", pytrace=False)
        shutil.copy(source, plugins / name)
        (plugins / name).with_suffix(".toml").write_text("[reuse]\nenabled = true\n")
    try:
        # Rewritten components are compiled once per session (about a
        # minute for the four runtimes on two cores).
        server = launch_server(
            hangar_bin, plugins, cache_dir, ("--metrics-listen", "127.0.0.1:0"),
            log_dir=tmp_path_factory.mktemp("reuse-logs"), timeout=600,
        )
    except ServerStartError as e:
        pytest.fail(str(e), pytrace=False)
    yield server
    server.stop()


def counter(server, name: str, plugin: str) -> float:
    with urllib.request.urlopen(f"http://{server.metrics_address}/metrics", timeout=10) as response:
        text = response.read().decode()
    pattern = re.compile(rf'^{name}{{plugin="{re.escape(plugin)}"}} (\S+)$', re.M)
    found = pattern.search(text)
    assert found, f"no {name} for {plugin} in the metrics"
    return float(found.group(1))


def marked(secret: str) -> str:
    return f"{START}{secret}{END}"


def remember(server, secret: str, task_type: str = "remember", carriers: int = 1):
    """misbehave's `remember` (or `scan`): the secret goes in as `secret` and
    `carriers` times wrapped in the marker as `carrier`, so the task's
    inputs, which the host writes into guest memory, hold marked copies the
    guest never wrote."""
    inputs = literal_map({"secret": secret, "carrier": marked(secret) * carriers})
    response = execute_sync(server.sync_stub, plain_template(task_type), inputs, timeout=60)
    resource = response.header.resource
    assert resource.phase == Phase.SUCCEEDED, resource
    outputs = resource.outputs.literals
    seen = [item.scalar.primitive.string_value for item in outputs["seen"].collection.literals]
    return seen, outputs["found_own"].scalar.primitive.integer


def test_no_reused_instance_shows_a_call_what_an_earlier_one_left(reuse_server):
    """Each call writes its secret into initialised data, a heap block it
    never frees and memory it grows (and the host wrote it with the inputs),
    then scans all of linear memory for other calls' secrets."""
    reused_before = counter(reuse_server, "hangar_instances_reused_total", "misbehave")
    secrets = [f"secret{i:03d}x{time.monotonic_ns()}" for i in range(60)]
    for secret in secrets[:20]:
        seen, found_own = remember(reuse_server, secret)
        assert seen == [], f"{secret} saw {seen}"
        # Its own copies: image, heap, grown memory, the parsed input and
        # the host-written input. The scan can see a secret.
        assert found_own >= 4, found_own
    with ThreadPoolExecutor(max_workers=8) as pool:
        for secret, (seen, found_own) in zip(secrets[20:], pool.map(lambda s: remember(reuse_server, s), secrets[20:])):
            assert seen == [], f"{secret} saw {seen}"
            assert found_own >= 4, found_own
    reused = counter(reuse_server, "hangar_instances_reused_total", "misbehave") - reused_before
    # Most calls ran in an instance an earlier call had used.
    assert reused >= 40, f"only {reused} of 60 calls were served by a reused instance"
    reuse_server.assert_alive()


def test_what_the_host_wrote_into_a_reused_instance_is_gone_too(reuse_server):
    """The host writes each call's inputs into guest memory itself (through
    the guest's allocator), with no instruction the rewrite could journal:
    the rewrite journals every buffer the allocator hands the host. A call
    with 64 KiB of marked inputs, then one with small inputs in the same
    instance (sequential calls take the last idle one): the small call's
    inputs cannot cover what the big one's left, only the reset can. `scan`
    writes nothing itself, so its scan sees exactly what the host wrote."""
    for i in range(5):
        big = f"big{i}x{time.monotonic_ns()}"
        seen, found_own = remember(reuse_server, big, task_type="scan", carriers=1300)
        assert seen == [], f"{big} saw {seen}"
        assert found_own >= 1300, f"the scan should see this call's inputs, found {found_own}"
        small = f"small{i}x{time.monotonic_ns()}"
        seen, found_own = remember(reuse_server, small, task_type="scan")
        assert seen == [], f"{small} saw {seen}"
        assert found_own >= 1, found_own


def echo_once(server, task_type: str, sync: bool, n: int) -> None:
    inputs = literal_map({"n": n, "s": f"call {n} ✈", "xs": list(range(n % 7)), "ok": n % 2 == 0})
    if sync:
        response = execute_sync(server.sync_stub, plain_template(task_type), inputs, timeout=60)
        resource = response.header.resource
    else:
        created = server.async_stub.CreateTask(create_request(plain_template(task_type), inputs), timeout=60)
        resource = server.async_stub.GetTask(get_request(task_type, created.resource_meta), timeout=60).resource
    assert resource.phase == Phase.SUCCEEDED, f"call {n}: {resource}"
    assert resource.outputs == inputs, f"call {n} got another call's answer: {resource.outputs}"


@pytest.mark.parametrize("plugin", [p for p, (_, sync) in REUSED.items() if p != "misbehave.wasm"])
def test_every_reused_answer_is_its_own_calls(reuse_server, plugin):
    task_type, sync = REUSED[plugin]
    name = plugin.removesuffix(".wasm")
    reused_before = counter(reuse_server, "hangar_instances_reused_total", name)
    for n in range(20):
        echo_once(reuse_server, task_type, sync, n)
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda n: echo_once(reuse_server, task_type, sync, n), range(20, 60)))
    calls = 60 if sync else 120  # async: CreateTask and GetTask
    reused = counter(reuse_server, "hangar_instances_reused_total", name) - reused_before
    assert reused >= calls * 2 // 3, f"only {reused} of {calls} calls reused an instance"


def test_a_call_that_traps_takes_its_instance_with_it(start_server, tmp_path):
    """With one idle instance at most, the arithmetic is exact: clean calls
    keep reusing it; a trap drops it, so the next call needs a new one."""
    plugins = tmp_path / "one-idle"
    plugins.mkdir()
    shutil.copy(TEST_PLUGINS / "misbehave.wasm", plugins / "misbehave.wasm")
    (plugins / "misbehave.toml").write_text("[reuse]\nenabled = true\nmax_idle = 1\n")
    server = start_server(plugins)

    def created() -> float:
        return counter(server, "hangar_instances_created_total", "misbehave")

    remember(server, f"first{time.monotonic_ns()}")
    before = created()
    for _ in range(3):
        seen, _ = remember(server, f"clean{time.monotonic_ns()}")
        assert seen == []
    assert created() == before, "clean calls should keep reusing the idle instance"
    with pytest.raises(grpc.RpcError) as trapped:
        execute_sync(server.sync_stub, plain_template("deep_recursion"), literal_map({}), timeout=60)
    assert trapped.value.code() == grpc.StatusCode.INTERNAL, trapped.value
    assert created() == before, "the trapped call ran in the idle instance"
    seen, _ = remember(server, f"after{time.monotonic_ns()}")
    assert seen == []
    assert created() == before + 1, "the trapped instance must not go back to the pool"
    server.assert_alive()


def test_a_restart_takes_the_rewritten_plugin_from_the_cache(hangar_bin, tmp_path):
    """A `[reuse]` plugin is compiled from its rewrite, and the compile cache
    keeps it under the file's own sha256, the rewrite's fingerprint and the
    journal's geometry (which follows from the memory limit). So a restart
    finds it without rewriting the file again, and a manifest that changes
    the geometry gets a new entry instead of another rewrite's code."""
    from conftest import launch_server

    plugins, cache = tmp_path / "plugins", tmp_path / "cache"
    plugins.mkdir()
    wasm = plugins / "misbehave.wasm"
    shutil.copy(TEST_PLUGINS / "misbehave.wasm", wasm)
    manifest = plugins / "misbehave.toml"
    manifest.write_text("[reuse]\nenabled = true\n")
    sha256 = hashlib.sha256(wasm.read_bytes()).hexdigest()
    entry = re.compile(rf"{sha256}-reuse-[0-9a-f]{{16}}-b8m(\d+)-[0-9a-f]{{16}}\.cwasm")

    def start_and_call(expected: str, logs: str) -> list[str]:
        (tmp_path / logs).mkdir()
        server = launch_server(hangar_bin, plugins, cache, log_dir=tmp_path / logs)
        try:
            assert f'compile="{expected}"' in server.stderr(), server.diagnostics()
            seen, found_own = remember(server, f"cached{time.monotonic_ns()}")
            assert seen == [] and found_own >= 1, (seen, found_own)
        finally:
            server.stop()
        return sorted(path.name for path in cache.iterdir())

    first = start_and_call("compiled", "first")
    assert len(first) == 1 and entry.fullmatch(first[0]), first
    assert start_and_call("cached", "second") == first

    # 64 MiB of memory needs half the map of the default 128 MiB: another
    # rewrite, so another entry beside the first.
    manifest.write_text("[reuse]\nenabled = true\n\n[limits]\nmemory_mib = 64\n")
    both = start_and_call("compiled", "third")
    assert len(both) == 2 and first[0] in both, both
    maps = sorted(int(entry.fullmatch(name).group(1)) for name in both)
    assert maps[0] < maps[1] == int(entry.fullmatch(first[0]).group(1)), both


def test_idle_instances_are_dropped_after_their_timeout(start_server, tmp_path):
    """`idle_timeout_seconds` bounds how long an idle instance keeps its
    memory and slot: after a burst the instances stay idle for the next
    calls, then are dropped once idle that long; the next call after the
    quiet spell gets a new instance and still works."""
    plugins = tmp_path / "timing-out"
    plugins.mkdir()
    shutil.copy(TEST_PLUGINS / "misbehave.wasm", plugins / "misbehave.wasm")
    (plugins / "misbehave.toml").write_text("[reuse]\nenabled = true\nidle_timeout_seconds = 2\n")
    server = start_server(plugins)

    def gauge(name: str) -> float:
        return counter(server, name, "misbehave")

    with ThreadPoolExecutor(max_workers=4) as pool:
        for seen, _ in pool.map(lambda n: remember(server, f"burst{n}x{time.monotonic_ns()}"), range(16)):
            assert seen == []
    assert gauge("hangar_instances_alive") >= 1, "the burst's instances should stay idle at first"
    deadline = time.monotonic() + 30
    while gauge("hangar_instances_alive") > 0:
        assert time.monotonic() < deadline, "idle instances outlived idle_timeout_seconds = 2"
        time.sleep(0.2)
    created = gauge("hangar_instances_created_total")
    seen, _ = remember(server, f"after{time.monotonic_ns()}")
    assert seen == []
    assert gauge("hangar_instances_created_total") == created + 1
    server.assert_alive()
