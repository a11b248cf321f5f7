"""The JavaScript SDK (sdk/js): its own unit tests under plain Node, then
end to end through Hangar's gRPC API with the JS fixtures built by
`bash build/guests-js.sh`:

* `echo_js` (async, tests/plugins/js/echo -> target/test-plugins/echo-js.wasm)
* `echo_sync_js` (sync, tests/plugins/js/echo-sync -> echo-sync-js.wasm)

Each is built for both engines of `hangar-js-build --engine`: SpiderMonkey
(componentize-js, echo-js.wasm) and QuickJS (componentize-qjs,
echo-qjs.wasm and echo-sync-qjs.wasm), and every end-to-end test runs
against both. They prove what flytekit produces round-trips through the
SDK's JSON handling, that errors thrown in JS become FAILED /
RETRYABLE_FAILED resources with their message and code, that config
and secrets reach the agent through the SDK, and that `fetchSync`
(`http_sync_js`, tests/plugins/js/http-sync) reaches a real HTTP server on
127.0.0.1 through `flyte:agent/outbound-http` only where the manifest's
`[[http.allow]]` allows.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from flyteidl.admin import agent_pb2
from flyteidl.core import execution_pb2

from conftest import REPO_ROOT, ServerStartError, launch_server
from flyte_tasks import (
    CASES,
    comparable,
    create_request,
    delete_request,
    echo_template,
    execute_sync,
    from_literal_map,
    get_request,
    literal_map,
    plain_template,
    to_literal_map,
)

Phase = execution_pb2.TaskExecution
NON_RECOVERABLE = agent_pb2.AgentError.NON_RECOVERABLE
RECOVERABLE = agent_pb2.AgentError.RECOVERABLE

# Engine -> the fixtures built for it, keyed by the name each is served as
# (the manifests below are named after it).
FIXTURES = {
    engine: {
        "echo-js": REPO_ROOT / "target" / "test-plugins" / f"echo-{suffix}.wasm",
        "echo-sync-js": REPO_ROOT / "target" / "test-plugins" / f"echo-sync-{suffix}.wasm",
        "http-sync-js": REPO_ROOT / "target" / "test-plugins" / f"http-sync-{suffix}.wasm",
    }
    for engine, suffix in (("spidermonkey", "js"), ("quickjs", "qjs"))
}
SECRET_NAME = "js_token"
SECRET_VALUE = "seven77"


def node_binary() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not on PATH: install Node.js 20+ (Debian: apt-get install nodejs)", pytrace=False)
    return node


def test_sdk_unit_tests_pass_under_node():
    proc = subprocess.run(
        [node_binary(), "--test", "sdk/js/test/"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, NODE_OPTIONS=""),
    )
    assert proc.returncode == 0, f"node --test sdk/js/test/ failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"
    assert "# fail 0" in proc.stdout and "# pass " in proc.stdout, proc.stdout[-2000:]


# --------------------------------------------------------------------------
# One Hangar per engine with both JS fixtures; echo-sync-js gets config and
# one secret.


class HttpTarget:
    """A real HTTP server on 127.0.0.1 that answers every request with
    "METHOD PATH BODY" and echoes the `x-agent` header as `x-seen`; under
    /allowed/missing it answers 404. It records what it received."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, dict, bytes]] = []
        target = self

        class Handler(BaseHTTPRequestHandler):
            def answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                target.seen.append((self.command, self.path, dict(self.headers), body))
                text = f"{self.command} {self.path} ".encode() + body
                self.send_response(404 if self.path.startswith("/allowed/missing") else 200)
                self.send_header("content-type", "text/plain; charset=utf-8")
                self.send_header("x-seen", self.headers.get("x-agent", ""))
                self.send_header("content-length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)

            do_GET = do_POST = do_PUT = do_DELETE = answer

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def paths(self) -> list[str]:
        return [path for _, path, _, _ in self.seen]


@pytest.fixture(scope="module")
def http_target():
    target = HttpTarget()
    yield target
    target.server.shutdown()


@pytest.fixture(scope="module", params=sorted(FIXTURES))
def js_server(request, hangar_bin, cache_dir, tmp_path_factory, http_target):
    fixtures = FIXTURES[request.param]
    missing = [str(p) for p in fixtures.values() if not p.is_file()]
    if missing:
        pytest.fail(
            "JS fixtures missing (build them with `bash build/guests-js.sh`): " + ", ".join(missing), pytrace=False
        )
    root = tmp_path_factory.mktemp(f"js-sdk-{request.param}")
    plugins = root / "plugins"
    plugins.mkdir()
    for name, path in fixtures.items():
        shutil.copy(path, plugins / f"{name}.wasm")
    (plugins / "echo-sync-js.toml").write_text(
        f'[config]\ngreeting = "hej"\n\n[secrets]\nnames = ["{SECRET_NAME}", "js_absent"]\n'
    )
    (plugins / "http-sync-js.toml").write_text(f'[[http.allow]]\nurl = "{http_target.base}/allowed/"\n')
    secrets_dir = root / "secrets"
    secrets_dir.mkdir()
    (secrets_dir / SECRET_NAME).write_text(SECRET_VALUE + "\n")
    config = root / "hangar.toml"
    audit = root / "audit.jsonl"
    config.write_text(f'[secrets]\nenv_prefix = ""\ndir = "{secrets_dir}"\n[audit]\ndestination = "{audit}"\n')
    try:
        server = launch_server(hangar_bin, plugins, cache_dir, ["--config", str(config)], log_dir=root)
    except ServerStartError as e:
        pytest.fail(str(e), pytrace=False)
    server.audit_path = audit
    yield server
    server.stop()


def http_audit(server) -> list[dict]:
    """The audit log's outbound-request events (the ones with a URL)."""
    lines = server.audit_path.read_text().splitlines() if server.audit_path.exists() else []
    return [e for e in map(json.loads, filter(str.strip, lines)) if "url" in e]


def echo_async(server, template, inputs) -> agent_pb2.Resource:
    created = server.async_stub.CreateTask(create_request(template, inputs), timeout=60)
    return server.async_stub.GetTask(get_request(template.type, created.resource_meta), timeout=60).resource


def echo_sync(server, template, inputs) -> agent_pb2.Resource:
    response = execute_sync(server.sync_stub, template, inputs, timeout=60)
    assert response.WhichOneof("res") == "header", response
    return response.header.resource


MODES = {"echo_js": echo_async, "echo_sync_js": echo_sync}


def test_agents_are_listed(js_server):
    agents = {a.name: a for a in js_server.metadata_stub.ListAgents(agent_pb2.ListAgentsRequest(), timeout=30).agents}
    assert "echo-js" in agents and "echo-sync-js" in agents, agents
    assert [c.name for c in agents["echo-js"].supported_task_categories] == ["echo_js"]
    assert not agents["echo-js"].is_sync
    assert agents["echo-sync-js"].is_sync


@pytest.mark.parametrize("task_type", sorted(MODES))
def test_every_input_type_round_trips(js_server, task_type):
    """What flytekit serialises, through JSON.parse/JSON.stringify in the
    guest, comes back as the same Python values."""
    types = {f"v_{c.id}": c.python_type for c in CASES}
    values = {f"v_{c.id}": c.value for c in CASES}
    template = echo_template(task_type, types)
    resource = MODES[task_type](js_server, template, to_literal_map(values, types))
    assert resource.phase == Phase.SUCCEEDED, f"{resource}\n{js_server.diagnostics()}"
    decoded = from_literal_map(resource.outputs, types)
    mismatched = {
        name: (comparable(values[name]), comparable(decoded[name]))
        for name in types
        if comparable(decoded[name]) != comparable(values[name])
    }
    assert not mismatched, f"sent vs decoded: {mismatched}"


def test_plain_values_round_trip_without_an_interface(js_server):
    # (A JSON object output with no declared type becomes a generic dict
    # literal on the host, so the plain case sticks to scalars and lists.)
    inputs = literal_map({"n": 3, "x": 0.5, "s": "ünï ✈", "ok": False, "xs": [1, 2, 3], "big": -(2**62)})
    assert echo_async(js_server, plain_template("echo_js"), inputs).outputs == inputs
    assert echo_sync(js_server, plain_template("echo_sync_js"), inputs).outputs == inputs


def assert_failed(resource, *, retryable: bool, message: str, code: str) -> None:
    if retryable:
        assert resource.phase == Phase.RETRYABLE_FAILED, resource
        assert resource.agent_error.kind == RECOVERABLE, resource
    else:
        assert resource.phase == Phase.FAILED, resource
        assert resource.agent_error.kind == NON_RECOVERABLE, resource
    assert resource.message == message, resource
    assert resource.agent_error.code == code, resource
    assert len(resource.outputs.literals) == 0, resource


ERRORS = [
    ("permanent", False, "AskedToFail"),
    ("retryable", True, "AskedToRetry"),
    ("throw", False, "TypeError"),
]


@pytest.mark.parametrize("fail_in", ["create", "get"])
@pytest.mark.parametrize("fail, retryable, code", ERRORS, ids=[e[0] for e in ERRORS])
def test_async_errors_become_failed_resources(js_server, fail, retryable, code, fail_in):
    stub = js_server.async_stub
    created = stub.CreateTask(create_request(plain_template("echo_js"), literal_map({"fail": fail, "fail_in": fail_in})), timeout=60)
    resource = stub.GetTask(get_request("echo_js", created.resource_meta), timeout=60).resource
    message = {
        "permanent": f"echo_js asked to fail in {fail_in}",
        "retryable": f"echo_js asked to retry in {fail_in}",
        "throw": f"TypeError: echo_js threw in {fail_in}",
    }[fail]
    assert_failed(resource, retryable=retryable, message=message, code=code)
    stub.DeleteTask(delete_request("echo_js", created.resource_meta), timeout=60)
    js_server.assert_alive()


@pytest.mark.parametrize("fail, retryable, code", ERRORS, ids=[e[0] for e in ERRORS])
def test_sync_errors_become_failed_resources(js_server, fail, retryable, code):
    resource = echo_sync(js_server, plain_template("echo_sync_js"), literal_map({"fail": fail}))
    message = {
        "permanent": "echo_sync_js asked to fail",
        "retryable": "echo_sync_js asked to retry",
        "throw": "TypeError: echo_sync_js threw",
    }[fail]
    assert_failed(resource, retryable=retryable, message=message, code=code)


def outputs_of(resource) -> dict:
    assert resource.phase == Phase.SUCCEEDED, resource
    values = {}
    for name, lit in resource.outputs.literals.items():
        if lit.scalar.HasField("primitive"):
            primitive = lit.scalar.primitive
            values[name] = getattr(primitive, primitive.WhichOneof("value"))
        else:
            values[name] = None
    return values


def test_config_reaches_the_agent(js_server):
    out = outputs_of(echo_sync(js_server, plain_template("echo_sync_js"), literal_map({"read_config": "greeting"})))
    assert out["config_value"] == "hej", out
    out = outputs_of(echo_sync(js_server, plain_template("echo_sync_js"), literal_map({"read_config": "nope"})))
    assert out["config_value"] is None, out


@pytest.mark.parametrize(
    "name, expect",
    [(SECRET_NAME, ("secret_length", len(SECRET_VALUE))), ("js_absent", ("secret_error", "SecretNotFound")),
     ("js_not_granted", ("secret_error", "SecretNotGranted"))],
    ids=["granted", "granted-but-absent", "not-granted"],
)
def test_secrets_reach_the_agent_through_the_sdk(js_server, name, expect):
    out = outputs_of(echo_sync(js_server, plain_template("echo_sync_js"), literal_map({"read_secret": name})))
    key, value = expect
    assert out[key] == value, out


# --------------------------------------------------------------------------
# fetchSync: flyte:agent/outbound-http, on both engines.


def wait_for(find, timeout: float = 5.0):
    """The audit file is written after the answer: poll briefly."""
    deadline = time.monotonic() + timeout
    while True:
        found = find()
        if found is not None or time.monotonic() > deadline:
            assert found is not None, "no matching audit event"
            return found
        time.sleep(0.05)


def fetch(js_server, **inputs):
    return echo_sync(js_server, plain_template("http_sync_js"), literal_map(inputs))


def test_fetch_sync_reaches_an_allowed_server_with_method_headers_and_body(js_server, http_target):
    url = f"{http_target.base}/allowed/jobs?x=1"
    out = outputs_of(fetch(js_server, url=url, method="post", body="héllo ☃"))
    assert out == {"status": 200, "ok": True, "text": "POST /allowed/jobs?x=1 héllo ☃", "seen": "http-sync-js"}, out
    method, path, headers, body = http_target.seen[-1]
    assert (method, path, body) == ("POST", "/allowed/jobs?x=1", "héllo ☃".encode())
    assert headers.get("x-agent") == "http-sync-js", headers
    assert headers.get("content-length") == str(len("héllo ☃".encode())), headers
    # The same audit event as a wasi:http request: what it did, by which rule.
    event = wait_for(lambda: next((e for e in reversed(http_audit(js_server)) if e["method"] == "POST"), None))
    assert event["plugin"] == "http-sync-js" and event["allowed"] is True, event
    assert event["decided_by"] == "http.allow[0]" and event["status"] == 200, event
    assert event["url"] == f"{http_target.base}/allowed/jobs", event


def test_fetch_sync_answers_any_status_as_a_response(js_server, http_target):
    out = outputs_of(fetch(js_server, url=f"{http_target.base}/allowed/missing"))
    assert out["status"] == 404 and out["ok"] is False, out
    assert out["text"] == "GET /allowed/missing ", out


@pytest.mark.parametrize(
    "url, code",
    [("{base}/elsewhere", "HttpRequestDenied"), ("{base}/allowed/../elsewhere", "HttpRequestDenied"),
     ("http://localhost:9/allowed/", "HttpRequestDenied"), ("no-scheme/allowed/", "HttpRequestUriInvalid")],
    ids=["outside-the-rule", "dot-dot-out-of-it", "another-host", "not-a-url"],
)
def test_fetch_sync_refused_by_the_host_fails_the_task_with_its_code(js_server, http_target, url, code):
    before = len(http_target.seen)
    resource = fetch(js_server, url=url.format(base=http_target.base))
    assert resource.phase == Phase.FAILED, resource
    assert resource.agent_error.code == code, resource.agent_error
    assert resource.agent_error.kind == NON_RECOVERABLE, resource.agent_error
    if code == "HttpRequestDenied":
        assert "[[http.allow]]" in resource.message, resource
        event = wait_for(lambda: next((e for e in reversed(http_audit(js_server)) if not e["allowed"]), None))
        assert event["plugin"] == "http-sync-js", event
    assert len(http_target.seen) == before, f"the server was reached: {http_target.seen[before:]}"
