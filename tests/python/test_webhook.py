"""The `webhook` example is a drop-in for flytekit's built-in Webhook
connector: the same flytekit ``WebhookTask`` templates, sent through the
official flyteidl stubs (SyncAgentService/ExecuteTaskSync) to flytekit's own
connector server (``pyflyte serve connector``, in a subprocess) and to Hangar
serving ``plugins/webhook.wasm``, give equal phases, messages and outputs
(decoded by flytekit's TypeEngine, types included), and one local HTTP server
sees equivalent requests from both.

Needs ``plugins/webhook.wasm`` (``bash build/guests-rust.sh``) and the
connector extras of flytekit in the venv (httpx, prometheus-client).
"""

from __future__ import annotations

import datetime
import json
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import parse_qs, urlsplit

import grpc
import pytest
from flyteidl.admin import agent_pb2
from flyteidl.core import execution_pb2, literals_pb2
from flyteidl.service import agent_pb2_grpc
from flytekit.extras.webhook import WebhookTask

from conftest import REPO_ROOT, tail
from flyte_tasks import comparable, execute_sync, from_literal_map, serialize, to_literal_map

WEBHOOK_WASM = REPO_ROOT / "plugins" / "webhook.wasm"
BUILD_COMMAND = "bash build/guests-rust.sh"
CONNECTOR_START_TIMEOUT_S = 90.0
CALL_TIMEOUT_S = 30.0


# --------------------------------------------------------------------------
# One local HTTP server for both


@dataclass
class SeenRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def body_value(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class WebhookServer:
    """A stdlib HTTP server on 127.0.0.1 that records every request.

    ``/status/N...`` answers status N; ``/json...`` a JSON document;
    ``/slow...`` waits 3 s; anything else 200 with a text body."""

    server: ThreadingHTTPServer
    seen: list[SeenRequest] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def take(self) -> list[SeenRequest]:
        with self.lock:
            taken, self.seen[:] = list(self.seen), []
        return taken


def _handler(owner_ref: list[WebhookServer]):
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            owner = owner_ref[0]
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            with owner.lock:
                owner.seen.append(
                    SeenRequest(
                        method=self.command,
                        path=parts.path,
                        query=parse_qs(parts.query, keep_blank_values=True),
                        headers={k.lower(): v for k, v in self.headers.items()},
                        body=body,
                    )
                )
            status, content_type, text = 200, "text/plain; charset=utf-8", f"hello from {parts.path} ✓"
            if parts.path.startswith("/status/"):
                status = int(parts.path.split("/")[2])
                text = f"status {status} for {parts.path}"
            elif parts.path.startswith("/json"):
                content_type = "application/json"
                text = json.dumps({"ok": True, "path": parts.path, "n": 1.5})
            elif parts.path.startswith("/slow"):
                time.sleep(3)
            data = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = _serve
        do_POST = _serve

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture(scope="module")
def webhook_server() -> Iterator[WebhookServer]:
    owner_ref: list[WebhookServer] = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(owner_ref))
    httpd.daemon_threads = True
    owner = WebhookServer(server=httpd)
    owner_ref.append(owner)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield owner
    httpd.shutdown()
    httpd.server_close()


# --------------------------------------------------------------------------
# flytekit's own connector server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def flytekit_connector(tmp_path_factory) -> Iterator[agent_pb2_grpc.SyncAgentServiceStub]:
    """``pyflyte serve connector`` from the venv: registers flytekit's
    WebhookConnector and serves the flyteidl agent services."""
    port, metrics_port = _free_port(), _free_port()
    log_path = tmp_path_factory.mktemp("flytekit-connector") / "connector.log"
    pyflyte = Path(sys.executable).with_name("pyflyte")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [str(pyflyte), "serve", "connector", "--port", str(port), "--prometheus_port", str(metrics_port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "FLYTE_SDK_LOGGING_LEVEL": "30"},
        )
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + CONNECTOR_START_TIMEOUT_S
        metadata = agent_pb2_grpc.AgentMetadataServiceStub(channel)
        while True:
            if proc.poll() is not None:
                pytest.fail(
                    f"flytekit's connector server exited ({proc.returncode}); install its extras into the venv "
                    f"(pip install httpx prometheus-client):\n{tail(log_path.read_text(errors='replace'))}"
                )
            try:
                agents = metadata.ListAgents(agent_pb2.ListAgentsRequest(), timeout=2).agents
                if any(a.name == "Webhook Connector" for a in agents):
                    break
            except grpc.RpcError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"flytekit's connector server did not start:\n{tail(log_path.read_text(errors='replace'))}")
            time.sleep(0.3)
        yield agent_pb2_grpc.SyncAgentServiceStub(channel)
    finally:
        channel.close()
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --------------------------------------------------------------------------
# Hangar serving webhook.wasm


def _webhook_wasm() -> bytes:
    if not WEBHOOK_WASM.is_file():
        pytest.fail(f"{WEBHOOK_WASM} is missing: build it with `{BUILD_COMMAND}`")
    return WEBHOOK_WASM.read_bytes()


def _plugin_dir(root: Path, manifest: str | None) -> Path:
    plugins = root / "plugins"
    plugins.mkdir(parents=True)
    (plugins / "webhook.wasm").write_bytes(_webhook_wasm())
    if manifest is not None:
        (plugins / "webhook.toml").write_text(manifest)
    return plugins


@pytest.fixture
def hangar_webhook(start_server, tmp_path, webhook_server):
    """Hangar serving webhook.wasm, its manifest allowing the local server."""
    manifest = f'[[http.allow]]\nurl = "{webhook_server.base}/"\nmethods = ["GET", "POST"]\n'
    return start_server(_plugin_dir(tmp_path / "allowed", manifest))


# --------------------------------------------------------------------------
# The cases: flytekit WebhookTask templates and their inputs


@dataclass(frozen=True)
class Case:
    id: str
    task: dict[str, Any]  # WebhookTask keyword arguments; "{base}" in url is the server
    inputs: dict[str, Any] = field(default_factory=dict)
    types: dict[str, Any] = field(default_factory=dict)
    succeeds: bool = True


CASES = [
    Case(
        "get_templated_url_headers_and_query",
        dict(
            url="{base}/items/{inputs.item_id}",
            method="GET",
            headers={"X-Item": "item-{inputs.item_id}", "X-Who": "user {inputs.id}"},
            data={"q": "{inputs.s}", "n": 1, "flag": True, "ratio": "{inputs.x}"},
            show_data=True,
            show_url=True,
        ),
        inputs={"s": "hello wörld/&", "item_id": 10, "x": 0.25, "id": "u-1"},
        types={"s": str, "item_id": int, "x": float, "id": str},
    ),
    Case(
        "get_without_data_or_flags",
        dict(url="{base}/plain?kept=no", method="GET"),
    ),
    Case(
        "post_templated_json_body",
        dict(
            url="{base}/hooks/{inputs.channel}",
            method="POST",
            headers={"Authorization": "Bearer {inputs.token}", "Content-Type": "application/json"},
            data={
                "text": "{inputs.s}",
                "count": "{inputs.n}",
                "ratio": "{inputs.x}",
                "ok": "{inputs.ok}",
                "nested": {"list": ["{inputs.s}", 2, None], "whole": 3},
                "summary": "n={inputs.n} x={inputs.x} ok={inputs.ok} xs={inputs.xs}",
                "literal_braces": "{not_a_placeholder}",
            },
            show_data=True,
        ),
        inputs={"channel": "alerts", "token": "t0k", "s": "it's done", "n": 7, "x": 2.0, "ok": True, "xs": [1, 2]},
        types={"channel": str, "token": str, "s": str, "n": int, "x": float, "ok": bool, "xs": list[int]},
    ),
    Case(
        "post_json_answer_show_url_only",
        dict(url="{base}/json/{inputs.id}", data={"a": 1.5}, show_url=True, timeout=5),
        inputs={"id": 3},
        types={"id": int},
    ),
    Case(
        "post_datetime_duration_and_dict_inputs",
        dict(
            url="{base}/when",
            data={"at": "at {inputs.t}", "t": "{inputs.t}", "d": "{inputs.d}", "cfg": "{inputs.cfg}"},
            show_data=True,
        ),
        inputs={
            "t": datetime.datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=datetime.timezone.utc),
            "d": datetime.timedelta(seconds=90, microseconds=500000),
            "cfg": {"a": 1, "b": "x"},
        },
        types={"t": datetime.datetime, "d": datetime.timedelta, "cfg": dict},
    ),
    Case(
        "non_ascii_header_fails_before_sending",
        dict(url="{base}/h", headers={"X-Name": "{inputs.s}"}),
        inputs={"s": "wörld €"},
        types={"s": str},
        succeeds=False,
    ),
    Case(
        "non_text_header_fails_before_sending",
        dict(url="{base}/h", headers={"X-Count": "{inputs.n}"}),
        inputs={"n": 3},
        types={"n": int},
        succeeds=False,
    ),
    Case("post_answered_500", dict(url="{base}/status/500", data={"x": 1}), succeeds=False),
    Case("get_answered_404", dict(url="{base}/status/404/{inputs.s}", method="GET"),
         inputs={"s": "gone"}, types={"s": str}, succeeds=False),
    Case("missing_input_key", dict(url="{base}/{inputs.nope}"), inputs={"s": "x"}, types={"s": str}, succeeds=False),
]


def _template(case: Case, base: str):
    kwargs = {k: (v.replace("{base}", base) if isinstance(v, str) else v) for k, v in case.task.items()}
    task = WebhookTask(name=f"tests.webhook.{case.id}", dynamic_inputs=case.types or None, **kwargs)
    return serialize(task)


@dataclass
class Outcome:
    phase: int
    message: str
    outputs: Any
    requests: list[SeenRequest]


def _run(stub, template, case: Case, server: WebhookServer) -> Outcome:
    server.take()
    # flytekit's server always reads an inputs message, even an empty one.
    inputs = to_literal_map(case.inputs, case.types) if case.types else literals_pb2.LiteralMap()
    response = execute_sync(stub, template, inputs, timeout=CALL_TIMEOUT_S)
    assert response.WhichOneof("res") == "header", response
    resource = response.header.resource
    outputs = None
    if resource.phase == execution_pb2.TaskExecution.SUCCEEDED:
        outputs = comparable(from_literal_map(resource.outputs, {"info": dict}))
    return Outcome(resource.phase, resource.message, outputs, server.take())


def _request_view(r: SeenRequest, header_names: list[str]) -> dict[str, Any]:
    """What must match between the two clients (not User-Agent and such)."""
    return {
        "method": r.method,
        "path": r.path,
        "query": r.query,
        "headers": {h: r.headers.get(h) for h in header_names},
        "content-type": r.headers.get("content-type"),
        "body": r.body_value(),
    }


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hangar_answers_like_flytekits_webhook_connector(case, flytekit_connector, hangar_webhook, webhook_server):
    template = _template(case, webhook_server.base)
    assert template.type == "webhook" and template.task_type_version == 0

    flytekit = _run(flytekit_connector, template, case, webhook_server)
    hangar = _run(hangar_webhook.sync_stub, template, case, webhook_server)

    expected_phase = execution_pb2.TaskExecution.SUCCEEDED if case.succeeds else execution_pb2.TaskExecution.FAILED
    assert flytekit.phase == expected_phase, flytekit
    assert (hangar.phase, hangar.message) == (flytekit.phase, flytekit.message), hangar_webhook.diagnostics()
    assert hangar.outputs == flytekit.outputs
    if case.succeeds:
        assert hangar.outputs is not None and "status_code" in repr(hangar.outputs)

    headers = [h.lower() for h in case.task.get("headers", {})]
    assert len(flytekit.requests) == len(hangar.requests), (flytekit.requests, hangar.requests)
    for ours, theirs in zip(hangar.requests, flytekit.requests):
        assert _request_view(ours, headers) == _request_view(theirs, headers)


def test_info_values_and_types(flytekit_connector, hangar_webhook, webhook_server):
    """Spelled out once, so a change both sides share still gets noticed."""
    case = CASES[0]
    hangar = _run(hangar_webhook.sync_stub, _template(case, webhook_server.base), case, webhook_server)
    assert hangar.phase == execution_pb2.TaskExecution.SUCCEEDED, hangar
    assert hangar.message == "Webhook was successfully invoked!"
    (seen,) = hangar.requests
    assert seen.method == "GET" and seen.path == "/items/10"
    assert seen.query == {"q": ["hello wörld/&"], "n": ["1.0"], "flag": ["true"], "ratio": ["0.25"]}
    assert seen.headers["x-who"] == "user u-1"
    info = from_literal_map(
        execute_sync(hangar_webhook.sync_stub, _template(case, webhook_server.base), to_literal_map(case.inputs, case.types)).header.resource.outputs,
        {"info": dict},
    )["info"]
    assert info["status_code"] == 200 and type(info["status_code"]) is int
    assert info["response_data"] == "hello from /items/10 ✓"
    assert info["url"] == f"{webhook_server.base}/items/10"
    assert info["input_data"] == {"q": "hello wörld/&", "n": 1.0, "flag": True, "ratio": 0.25}
    assert type(info["input_data"]["n"]) is float and type(info["input_data"]["ratio"]) is float


def test_hangar_lists_a_sync_webhook_agent(hangar_webhook):
    """flytekit's server lists "Webhook Connector" (checked when it starts);
    Hangar must route the same task type, synchronously."""
    ours = hangar_webhook.metadata_stub.ListAgents(agent_pb2.ListAgentsRequest(), timeout=10).agents
    webhook = [a for a in ours if any(c.name == "webhook" for c in a.supported_task_categories)]
    assert len(webhook) == 1, ours
    assert webhook[0].is_sync
    assert [(c.name, c.version) for c in webhook[0].supported_task_categories] == [("webhook", 0)]


def test_a_destination_the_manifest_does_not_allow_fails_naming_the_fix(start_server, tmp_path, webhook_server):
    manifest = '[[http.allow]]\nurl = "https://hooks.example.com/"\n'
    server = start_server(_plugin_dir(tmp_path / "denied", manifest))
    case = Case("denied", dict(url="{base}/hooks/x", data={"a": 1}))
    outcome = _run(server.sync_stub, _template(case, webhook_server.base), case, webhook_server)
    assert outcome.phase == execution_pb2.TaskExecution.FAILED, outcome
    assert "HttpRequestDenied" in outcome.message, outcome.message
    assert "manifest" in outcome.message and f'url = "{webhook_server.base}/"' in outcome.message, outcome.message
    assert outcome.requests == [], "a denied request must never reach the server"


def test_the_timeout_applies(flytekit_connector, hangar_webhook, webhook_server):
    """timeout=1 against a server that answers after 3 s: both fail (the
    messages differ: httpx's exception text versus the wasi:http code)."""
    case = Case("slow", dict(url="{base}/slow", data={}, timeout=1), succeeds=False)
    template = _template(case, webhook_server.base)
    started = time.monotonic()
    hangar = _run(hangar_webhook.sync_stub, template, case, webhook_server)
    elapsed = time.monotonic() - started
    assert hangar.phase == execution_pb2.TaskExecution.FAILED, hangar
    assert "HttpResponseTimeout" in hangar.message or "Timeout" in hangar.message, hangar.message
    assert elapsed < 2.9, f"the 1 s timeout took {elapsed:.1f} s"
    flytekit = _run(flytekit_connector, template, case, webhook_server)
    assert flytekit.phase == execution_pb2.TaskExecution.FAILED, flytekit
