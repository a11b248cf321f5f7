"""The Python guest SDK (sdk/python, package `hangar_agent`).

First natively, in this CPython, with the test harness
(`hangar_agent.testing`): the call protocol, errors, secrets, config, logs
and the HTTP client against a real server on 127.0.0.1. Then end to end:
the echo fixtures built with componentize-py (`bash build/guests-python.sh`)
served by a real `hangar serve` and driven through the flyteidl gRPC API.
"""

from __future__ import annotations

import datetime
import importlib.util
import json
import socket
import sys
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

sys.path.insert(0, str(REPO_ROOT / "sdk" / "python"))

from hangar_agent import (  # noqa: E402
    AgentError,
    AsyncAgent,
    HttpError,
    Resource,
    RetryableError,
    SecretError,
    SyncAgent,
    config,
    export,
    http,
    log,
    secrets,
)
from hangar_agent.testing import AgentHarness  # noqa: E402

Phase = execution_pb2.TaskExecution
BUILD = "bash build/guests-python.sh"
ECHO_WASM = REPO_ROOT / "target" / "test-plugins" / "echo-python.wasm"
ECHO_SYNC_WASM = REPO_ROOT / "target" / "test-plugins" / "echo-sync-python.wasm"


# --------------------------------------------------------------------------
# Agents used by the native tests


class Greeter(AsyncAgent):
    name = "greeter"
    task_type = "greet"

    def create(self, task):
        log.info(f"greeting {task.input('name')}")
        return {"name": task.input("name"), "key": task.idempotency_key}

    def get(self, meta):
        return Resource.succeeded({"greeting": f"Hello, {meta['name']}!"})


class Settings(SyncAgent):
    name = "settings"
    task_type = "settings"

    def do(self, task):
        return {"region": config.get("region", "nowhere"), "token_len": len(secrets.get("token"))}


class Returns(SyncAgent):
    """Answers whatever the `answer` attribute holds."""

    name = "returns"
    task_type = "returns"
    answer = None

    def do(self, task):
        return type(self).answer


# --------------------------------------------------------------------------
# The harness and the call protocol


def test_async_create_get_delete_through_json_meta():
    agent = AgentHarness(Greeter)
    meta = agent.create({"name": "World"}, idempotency_key="k-1")
    assert meta == {"name": "World", "key": "k-1"}
    resource = agent.get(meta)
    assert resource.phase == "succeeded" and resource.outputs == {"greeting": "Hello, World!"}
    assert agent.delete(meta) is None
    assert agent.logs == [("info", "greeting World")]
    assert agent.run({"name": "again"}).outputs == {"greeting": "Hello, again!"}


def test_missing_input_names_the_inputs_that_arrived():
    with pytest.raises(AgentError) as info:
        AgentHarness(Greeter).create({"nom": "x"})
    assert info.value.code == "MissingInput" and not info.value.retryable
    assert "'name'" in str(info.value) and "nom" in str(info.value)


def test_create_must_return_a_dict():
    class Bad(Greeter):
        def create(self, task):
            return "not a dict"

    with pytest.raises(AgentError, match="must return a dict") as info:
        AgentHarness(Bad).create({"name": "x"})
    assert info.value.code == "BadResourceMeta"


def test_sync_dict_means_succeeded_and_resources_pass_through():
    Returns.answer = {"n": 1, "when": datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc),
                      "took": datetime.timedelta(seconds=1.5)}
    resource = AgentHarness(Returns).do()
    assert resource.phase == "succeeded"
    assert resource.outputs == {"n": 1, "when": "2024-01-02T03:04:05+00:00", "took": "1.5s"}

    Returns.answer = Resource.failed("nope", retryable=True)
    assert AgentHarness(Returns).do().phase == "retryable-failed"


def test_sync_answer_must_be_terminal_and_json_able():
    Returns.answer = Resource.running("later")
    with pytest.raises(AgentError, match="terminal") as info:
        AgentHarness(Returns).do()
    assert info.value.code == "NotTerminal"

    Returns.answer = {"x": object()}
    with pytest.raises(AgentError, match="not JSON-able") as info:
        AgentHarness(Returns).do()
    assert info.value.code == "BadOutput"

    Returns.answer = 42
    with pytest.raises(AgentError, match="Resource"):
        AgentHarness(Returns).do()


def test_errors_carry_code_and_retryability():
    plain = AgentError("broken", "Broken")
    retry = RetryableError("busy", "Busy")
    assert (plain.code, plain.retryable, str(plain)) == ("Broken", False, "broken")
    assert (retry.code, retry.retryable) == ("Busy", True)
    assert RetryableError("x").code == "Retryable" and AgentError("x").code == "AgentError"


def test_secrets_and_config_come_from_the_harness():
    agent = AgentHarness(Settings, secrets={"token": "s3cr3t"}, config={"region": "eu"})
    assert agent.do().outputs == {"region": "eu", "token_len": 6}
    assert AgentHarness(Settings, secrets={"token": "t"}).do().outputs["region"] == "nowhere"
    with pytest.raises(SecretError) as info:
        AgentHarness(Settings).do()
    assert info.value.code == "SecretNotGranted" and "[secrets]" in str(info.value)


# Text the SDK's JSON fast path must read exactly as `json.loads` does: the
# compact form it is made for, and every form it hands back to json.loads.
JSON_TEXTS = [
    '{"n":3,"s":"hi","l":[1,2.5,null,true],"d":{"x":"\\u00e9\\n"}}',
    "{}",
    ' {"n": 3} ',
    '{"n":3}\n',
    '{"a":NaN,"b":-Infinity}',
    "[1,2]",
    "3",
    '{"n":3',
    '{"n":3}x',
    "",
    "nope",
    "\ufeff{}",
]
JSON_BYTES = [t.encode() for t in JSON_TEXTS] + [
    '{"n":"é"}'.encode("utf-16"),
    b"\xef\xbb\xbf{}",
    b'{"n":"\xff"}',
]


def _outcome(call, arg):
    try:
        return ("value", call(arg))
    except Exception as e:  # noqa: BLE001 - the outcome is what is compared
        return ("error", type(e).__name__, str(e))


@pytest.mark.parametrize("text", JSON_TEXTS)
def test_parse_object_reads_exactly_what_json_loads_reads(text):
    from hangar_agent import calls

    if text:
        assert _outcome(calls._loads, text) == _outcome(json.loads, text)
    reference = _outcome(json.loads, text) if text else ("value", {})
    got = _outcome(lambda t: calls.parse_object(t, "inputs"), text)
    if reference[0] == "value" and isinstance(reference[1], dict):
        assert got == reference
    else:
        assert got[:2] == ("error", "AgentError"), got


@pytest.mark.parametrize("raw", JSON_BYTES)
def test_decode_meta_reads_bytes_exactly_as_json_loads(raw):
    from hangar_agent import calls

    assert _outcome(calls._loads, raw) == _outcome(json.loads, raw)


def test_to_json_writes_what_json_dumps_writes():
    from hangar_agent import calls

    values = [
        {"n": 3, "s": "hé", "l": [1, 2.5, None, True], "t": (1, 2)},
        {"when": datetime.datetime(2026, 1, 2, 3, 4, 5), "day": datetime.date(2026, 1, 2)},
        {"took": datetime.timedelta(seconds=1.5), "tags": frozenset(["a"])},
    ]
    for value in values:
        expected = json.dumps(value, default=calls._plain, allow_nan=False, separators=(",", ":"))
        assert calls.to_json(value, "outputs") == expected
    circular: dict = {}
    circular["self"] = circular
    for bad, why in [({"x": float("nan")}, "Out of range float"), (circular, "Circular reference"), ({"o": object()}, "object is not JSON-able")]:
        with pytest.raises(AgentError) as e:
            calls.to_json(bad, "the outputs")
        assert e.value.code == "BadOutput" and why in e.value.message, e.value.message


def test_export_checks_the_class_and_is_inert_outside_wasm():
    assert export(Greeter) is Greeter
    assert "AsyncHandler" not in globals()

    class Nameless(SyncAgent):
        task_type = "x"

    with pytest.raises(TypeError, match="name"):
        export(Nameless)
    with pytest.raises(TypeError, match="AsyncAgent or SyncAgent"):
        export(object)


def test_resource_rejects_unknown_phase():
    with pytest.raises(ValueError, match="unknown phase"):
        Resource("done")


def load_app(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_echo_fixtures_run_natively():
    echo = load_app(REPO_ROOT / "tests/plugins/python/echo/app.py", "echo_python_app").Echo
    echo_sync = load_app(REPO_ROOT / "tests/plugins/python/echo-sync/app.py", "echo_sync_python_app").EchoSync
    inputs = {"n": 3, "s": "x", "xs": [1, 2], "m": {"a": None}}
    assert AgentHarness(echo).run(inputs).outputs == inputs
    assert AgentHarness(echo_sync).do(inputs).outputs == inputs
    with pytest.raises(RetryableError, match="later"):
        AgentHarness(echo_sync).do({"fail_retryable": "later"})


# --------------------------------------------------------------------------
# The HTTP client, against a real server on 127.0.0.1


class Recorder(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002
        pass

    def _handle(self):
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path == "/redirect":
            return self._send(302, b"", {"Location": "/elsewhere"})
        if self.path.startswith("/status/"):
            return self._send(int(self.path.rsplit("/", 1)[1]), b'{"error": "as asked"}')
        if self.path == "/sleep":
            time.sleep(2)
            return self._send(200, b"late")
        if self.path == "/not-json":
            return self._send(200, b"<html>")
        seen = {
            "method": self.command,
            "path": self.path,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body": body.decode(),
        }
        self._send(200, json.dumps(seen).encode(), {"Content-Type": "application/json", "X-Twice": "a"})

    def _send(self, status, body, headers=None):
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = _handle


@pytest.fixture(scope="module")
def local_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class Fetch(SyncAgent):
    """Makes the request its inputs describe; answers status and body."""

    name = "fetch"
    task_type = "fetch"

    def do(self, task):
        kwargs = {k: task.inputs[k] for k in ("headers", "body", "json", "timeout") if k in task.inputs}
        response = http.request(task.input("method", "GET"), task.input("url"), **kwargs)
        return {"status": response.status, "text": response.text, "ok": response.ok,
                "content_type": response.headers.get("content-type", "")}


def test_http_get_and_post_json(local_server):
    agent = AgentHarness(Fetch)
    got = agent.do({"url": f"{local_server}/hello?x=1", "headers": {"X-Test": "yes"}}).outputs
    seen = json.loads(got["text"])
    assert got["status"] == 200 and got["ok"] and got["content_type"] == "application/json"
    assert seen["method"] == "GET" and seen["path"] == "/hello?x=1" and seen["headers"]["x-test"] == "yes"

    posted = json.loads(agent.do({"method": "post", "url": f"{local_server}/p", "json": {"a": [1, 2]}}).outputs["text"])
    assert posted["method"] == "POST" and json.loads(posted["body"]) == {"a": [1, 2]}
    assert posted["headers"]["content-type"] == "application/json"


def test_http_non_2xx_is_a_response_and_redirects_are_not_followed(local_server):
    agent = AgentHarness(Fetch)
    failed = agent.do({"url": f"{local_server}/status/503"}).outputs
    assert failed["status"] == 503 and not failed["ok"] and "as asked" in failed["text"]
    assert agent.do({"url": f"{local_server}/redirect"}).outputs["status"] == 302


def test_http_timeout_and_refused_are_retryable(local_server):
    agent = AgentHarness(Fetch)
    started = time.monotonic()
    with pytest.raises(HttpError) as info:
        agent.do({"url": f"{local_server}/sleep", "timeout": 0.3})
    assert time.monotonic() - started < 1.8
    assert info.value.code == "HttpTimeout" and info.value.retryable

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(HttpError) as info:
        agent.do({"url": f"http://127.0.0.1:{port}/"})
    assert info.value.code == "ConnectionRefused" and info.value.retryable


def test_http_json_of_a_non_json_body_fails_clearly(local_server):
    with pytest.raises(AgentError, match="is not JSON") as info:
        http.get(f"{local_server}/not-json").json()
    assert info.value.code == "BadJson"
    with pytest.raises(HttpError, match="not an http"):
        http.get("ftp://example.com/")


# --------------------------------------------------------------------------
# End to end: the echo fixtures as components in a real hangar


def require(path: Path) -> Path:
    if not path.is_file():
        pytest.fail(f"{path} is missing: build the Python guests with `{BUILD}`", pytrace=False)
    return path


@pytest.fixture(scope="module")
def echo_server(hangar_bin, cache_dir, tmp_path_factory):
    plugins = tmp_path_factory.mktemp("python-echo-plugins")
    for wasm in (require(ECHO_WASM), require(ECHO_SYNC_WASM)):
        (plugins / wasm.name).write_bytes(wasm.read_bytes())
    try:
        server = launch_server(hangar_bin, plugins, cache_dir, log_dir=tmp_path_factory.mktemp("logs"))
    except ServerStartError as e:
        pytest.fail(str(e), pytrace=False)
    yield server
    server.stop()


PLAIN_INPUTS = {"n": 3, "big": -(2**62), "x": 1.5, "s": "hé ✈", "empty": "", "ok": True, "xs": [1, 2], "nested": [[1], [2, 3]]}


def echo_async(server, template, inputs, task_type="echo_python"):
    created = server.async_stub.CreateTask(create_request(template, inputs), timeout=60)
    got = server.async_stub.GetTask(get_request(task_type, created.resource_meta), timeout=60).resource
    deleted = server.async_stub.DeleteTask(delete_request(task_type, created.resource_meta), timeout=60)
    assert deleted == agent_pb2.DeleteTaskResponse()
    return got


def echo_sync(server, template, inputs):
    response = execute_sync(server.sync_stub, template, inputs, timeout=60)
    assert response.WhichOneof("res") == "header", response
    return response.header.resource


def test_python_agents_are_listed(echo_server):
    from flyteidl.admin import agent_pb2 as admin

    agents = echo_server.metadata_stub.ListAgents(admin.ListAgentsRequest(), timeout=30).agents
    by_name = {a.name: a for a in agents}
    assert {"echo_python", "echo_sync_python"} <= set(by_name), agents
    assert [c.name for c in by_name["echo_python"].supported_task_categories] == ["echo_python"]
    assert by_name["echo_sync_python"].is_sync and not by_name["echo_python"].is_sync


def test_plain_inputs_round_trip_async_and_sync(echo_server):
    inputs = literal_map(PLAIN_INPUTS)
    got = echo_async(echo_server, plain_template("echo_python"), inputs)
    assert got.phase == Phase.SUCCEEDED, f"{got}\n{echo_server.diagnostics()}"
    assert got.outputs == inputs
    done = echo_sync(echo_server, plain_template("echo_sync_python"), inputs)
    assert done.phase == Phase.SUCCEEDED, f"{done}\n{echo_server.diagnostics()}"
    assert done.outputs == inputs


@pytest.mark.parametrize("task_type", ["echo_python", "echo_sync_python"])
def test_flytekit_typed_values_round_trip(echo_server, task_type):
    """Every type flytekit sends (datetimes, durations, dataclasses, files...)
    comes back as the same Python values through the Python guest."""
    types = {f"v_{c.id}": c.python_type for c in CASES}
    values = {f"v_{c.id}": c.value for c in CASES}
    template = echo_template(task_type, types)
    inputs = to_literal_map(values, types)
    if task_type == "echo_python":
        resource = echo_async(echo_server, template, inputs)
    else:
        resource = echo_sync(echo_server, template, inputs)
    assert resource.phase == Phase.SUCCEEDED, f"{resource}\n{echo_server.diagnostics()}"
    back = from_literal_map(resource.outputs, types)
    for name, value in values.items():
        assert comparable(back[name]) == comparable(value), name


@pytest.mark.parametrize("task_type", ["echo_python", "echo_sync_python"])
def test_agent_errors_become_failed_resources(echo_server, task_type):
    run = (lambda i: echo_async_create(echo_server, i)) if task_type == "echo_python" else (
        lambda i: echo_sync(echo_server, plain_template(task_type), i))

    failed = run(literal_map({"fail": "the disk is on fire"}))
    assert failed.phase == Phase.FAILED, failed
    assert "the disk is on fire" in failed.message, failed
    assert failed.agent_error.code == "EchoFailed", failed
    assert failed.agent_error.kind == agent_pb2.AgentError.NON_RECOVERABLE, failed

    retry = run(literal_map({"fail_retryable": "try again soon"}))
    assert retry.phase == Phase.RETRYABLE_FAILED, retry
    assert "try again soon" in retry.message, retry
    assert retry.agent_error.code == "EchoBusy", retry
    assert retry.agent_error.kind == agent_pb2.AgentError.RECOVERABLE, retry
    echo_server.assert_alive()


def test_an_unhandled_exception_fails_the_task_and_the_plugin_keeps_working(echo_server):
    template = plain_template("echo_sync_python")
    crashed = echo_sync(echo_server, template, literal_map({"crash": "bad value"}))
    assert crashed.phase == Phase.FAILED, crashed
    assert crashed.agent_error.code == "UnhandledException", crashed
    assert "ValueError in EchoSync.do: bad value" in crashed.message and "app.py:" in crashed.message, crashed
    assert "ValueError" in echo_server.stderr(), "the traceback should be in the host's log"
    after = echo_sync(echo_server, template, literal_map({"n": 1}))
    assert after.phase == Phase.SUCCEEDED and after.outputs == literal_map({"n": 1}), after


def echo_async_create(server, inputs):
    """A failing create: CreateTaskResponse has no Resource, so the host
    carries the failure in resource_meta and GetTask reports it."""
    created = server.async_stub.CreateTask(create_request(plain_template("echo_python"), inputs), timeout=60)
    assert created.resource_meta, created
    return server.async_stub.GetTask(get_request("echo_python", created.resource_meta), timeout=60).resource


# --------------------------------------------------------------------------
# The `hangar new --lang python` template, scaffolded by hand


def scaffold(tmp_path: Path, name: str = "my-agent") -> Path:
    """What `hangar new --lang python NAME` does: the template with its
    placeholders replaced, plus wit/agent.wit and the SDK under hangar/."""
    import shutil

    subs = {"{{name}}": name, "{{name_snake}}": name.replace("-", "_"),
            "{{name_pascal}}": "".join(p.capitalize() for p in name.split("-"))}
    template = REPO_ROOT / "host" / "templates" / "python"
    project = tmp_path / name
    for path in template.rglob("*"):
        if path.is_file():
            rel = str(path.relative_to(template)).removesuffix(".tmpl")
            text = path.read_text()
            for key, value in subs.items():
                text = text.replace(key, value)
            (project / rel).parent.mkdir(parents=True, exist_ok=True)
            (project / rel).write_text(text)
    (project / "hangar" / "wit").mkdir(parents=True)
    shutil.copy(REPO_ROOT / "wit" / "agent.wit", project / "hangar" / "wit" / "agent.wit")
    shutil.copytree(REPO_ROOT / "sdk" / "python", project / "hangar" / "sdk" / "python",
                    ignore=shutil.ignore_patterns("__pycache__", "*.wasm", ".venv", "target", "templates"))
    return project


def test_template_unit_tests_pass_natively(tmp_path):
    import subprocess

    project = scaffold(tmp_path)
    assert "class MyAgent(AsyncAgent)" in (project / "app.py").read_text()
    assert 'task_type = "my_agent"' in (project / "app.py").read_text()
    result = subprocess.run(["make", "-C", str(project), "test", f"PYTHON={sys.executable}"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Ran 2 tests" in result.stderr and "OK" in result.stderr, result.stderr
