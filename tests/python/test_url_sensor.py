"""The url-sensor example (guest-examples/js/url-sensor, plugins/url-sensor.wasm):
a JavaScript async agent that polls a URL with `fetch` until a condition
holds, end to end through Hangar's gRPC API.

The watched URL is a real HTTP server on 127.0.0.1 whose answer changes
after a few requests; the plugin's manifest allows only that server. Also
runs the example's own Node unit tests (no Wasm).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from flyteidl.admin import agent_pb2
from flyteidl.core import execution_pb2

from conftest import REPO_ROOT
from flyte_tasks import create_request, delete_request, get_request, literal_map, plain_template

Phase = execution_pb2.TaskExecution
PLUGIN = REPO_ROOT / "plugins" / "url-sensor.wasm"
EXAMPLE_MANIFEST = REPO_ROOT / "guest-examples" / "js" / "url-sensor" / "url-sensor.toml"
TERMINAL = {Phase.SUCCEEDED, Phase.FAILED, Phase.RETRYABLE_FAILED, Phase.ABORTED}


class Watched:
    """A job status page on 127.0.0.1: `/job` answers 503 first, then
    {"state": "pending"}, then from the third request on {"state": "done",
    "rows": 42}; `/never` always answers pending. Counts requests per path."""

    def __init__(self) -> None:
        self.hits: dict[str, int] = {}
        watched = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format, *args):  # noqa: A002
                pass

            def do_GET(self):
                path = self.path.split("?")[0]
                n = watched.hits[path] = watched.hits.get(path, 0) + 1
                if path == "/job" and n == 1:
                    status, body = 503, {"error": "warming up"}
                elif path == "/job" and n >= 3:
                    status, body = 200, {"state": "done", "rows": 42}
                else:
                    status, body = 200, {"state": "pending"}
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def watched():
    servers: list[Watched] = []

    def make() -> Watched:
        servers.append(Watched())
        return servers[-1]

    yield make
    for s in servers:
        s.stop()


@pytest.fixture
def sensor_host(start_server, tmp_path):
    """Factory: ``sensor_host(allowed_url)`` -> a Hangar serving url-sensor.wasm
    whose manifest allows only ``allowed_url``."""
    if not PLUGIN.is_file():
        pytest.fail(f"{PLUGIN} is missing: build it with `bash build/guests-js.sh`", pytrace=False)

    def make(allowed_url: str):
        plugins = tmp_path / "sensor-plugins"
        plugins.mkdir()
        shutil.copy(PLUGIN, plugins / PLUGIN.name)
        (plugins / "url-sensor.toml").write_text(
            f'[[http.allow]]\nurl = "{allowed_url}"\nmethods = ["GET", "HEAD"]\n\n[config]\ndefault_timeout_seconds = "120"\n'
        )
        return start_server(plugins)

    return make


def sensor_template(custom: dict):
    template = plain_template("url_sensor", name="tests.url_sensor")
    template.custom.update(custom)
    return template


def create(server, custom: dict, inputs: dict | None = None) -> bytes:
    request = create_request(sensor_template(custom), literal_map(inputs or {}))
    return server.async_stub.CreateTask(request, timeout=60).resource_meta


def poll(server, meta: bytes, *, interval: float = 0.2, limit_s: float = 30) -> list[agent_pb2.Resource]:
    """GetTask until a terminal phase, as propeller does; every resource seen."""
    seen = []
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        resource = server.async_stub.GetTask(get_request("url_sensor", meta), timeout=60).resource
        seen.append(resource)
        if resource.phase in TERMINAL:
            return seen
        time.sleep(interval)
    raise AssertionError(f"not terminal after {limit_s}s: {seen[-1]}\n{server.diagnostics()}")


def output_values(resource) -> dict:
    values = {}
    for name, lit in resource.outputs.literals.items():
        primitive = lit.scalar.primitive
        values[name] = getattr(primitive, primitive.WhichOneof("value"))
    return values


def test_example_unit_tests_pass_under_node():
    node = shutil.which("node")
    assert node, "node is not on PATH: install Node.js 20+"
    proc = subprocess.run(
        [node, "--test", "guest-examples/js/url-sensor/"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, env=dict(os.environ, NODE_OPTIONS=""),
    )
    assert proc.returncode == 0, f"{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"
    assert "# fail 0" in proc.stdout, proc.stdout[-2000:]


def test_polls_running_until_the_json_field_holds(sensor_host, watched):
    page = watched()
    server = sensor_host(page.url("/"))
    meta = create(server, {"url": page.url("/job"), "json_path": "state", "json_equals": "done", "timeout_seconds": 60})
    seen = poll(server, meta)
    phases = [r.phase for r in seen]
    assert phases == [Phase.RUNNING, Phase.RUNNING, Phase.SUCCEEDED], seen
    assert "HTTP 503" in seen[0].message, seen[0]
    assert 'state is "pending", waiting for "done"' in seen[1].message, seen[1]
    out = output_values(seen[-1])
    assert out["status"] == 200 and out["value"] == "done" and out["url"] == page.url("/job"), out
    assert 0 <= out["elapsed_seconds"] < 60, out
    assert page.hits["/job"] == 3
    server.async_stub.DeleteTask(delete_request("url_sensor", meta), timeout=60)


def test_the_input_url_overrides_the_config(sensor_host, watched):
    page = watched()
    server = sensor_host(page.url("/"))
    meta = create(server, {"url": page.url("/never"), "body_contains": "done"}, {"url": page.url("/job")})
    seen = poll(server, meta)
    assert seen[-1].phase == Phase.SUCCEEDED, seen
    assert output_values(seen[-1])["value"] == "done"
    assert "/never" not in page.hits


def test_a_condition_never_met_fails_after_the_timeout(sensor_host, watched):
    page = watched()
    server = sensor_host(page.url("/"))
    meta = create(server, {"url": page.url("/never"), "json_path": "state", "json_equals": "done", "timeout_seconds": 1})
    seen = poll(server, meta, interval=0.3)
    last = seen[-1]
    assert last.phase == Phase.FAILED, seen
    assert "timed out" in last.message and "timeout_seconds = 1" in last.message, last
    assert 'state is "pending"' in last.message, last
    assert all(r.phase == Phase.RUNNING for r in seen[:-1]), seen


def test_a_url_the_manifest_does_not_allow_fails_clearly(sensor_host, watched):
    allowed, other = watched(), watched()
    server = sensor_host(allowed.url("/"))
    meta = create(server, {"url": other.url("/job")})
    seen = poll(server, meta)
    last = seen[-1]
    assert last.phase == Phase.FAILED, seen
    assert last.agent_error.code == "Unreachable", last
    assert other.url("/job") in last.message, last
    assert "[[http.allow]]" in last.message and "url-sensor.toml" in last.message, last
    assert other.hits == {}, "the host let a denied request through"


@pytest.mark.parametrize(
    "custom, expected",
    [
        ({}, 'set "url"'),
        ({"url": "ftp://example.com/x"}, "must be http or https"),
        ({"url": "http://127.0.0.1:1/", "timeout": 5}, "unknown key(s) timeout"),
        ({"url": "http://127.0.0.1:1/", "json_equals": "done"}, 'needs "json_path"'),
        ({"url": "http://127.0.0.1:1/", "expect_status": 999}, '"expect_status" must be an HTTP status'),
    ],
    ids=["no-url", "ftp", "unknown-key", "equals-without-path", "bad-status"],
)
def test_bad_config_fails_with_the_key_at_fault(sensor_host, watched, custom, expected):
    server = sensor_host(watched().url("/"))
    meta = create(server, custom)
    resource = server.async_stub.GetTask(get_request("url_sensor", meta), timeout=60).resource
    assert resource.phase == Phase.FAILED, resource
    assert resource.agent_error.code == "BadConfig", resource
    assert expected in resource.message and resource.message.startswith("url_sensor config: "), resource


def test_the_example_manifest_is_valid(hangar_bin, tmp_path):
    """plugins/url-sensor.toml as shipped passes `hangar check`."""
    if not PLUGIN.is_file():
        pytest.fail(f"{PLUGIN} is missing: build it with `bash build/guests-js.sh`", pytrace=False)
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    shutil.copy(PLUGIN, plugins / PLUGIN.name)
    shutil.copy(EXAMPLE_MANIFEST, plugins / "url-sensor.toml")
    proc = subprocess.run(
        [str(hangar_bin), "check", str(plugins)], capture_output=True, text=True, timeout=120,
        env=dict(os.environ, NO_COLOR="1"),
    )
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}"
