"""The outbound HTTP capability (wasi:http), end to end: the `http-client`
fixture makes the request its inputs describe through the standard
`wasi:http/outgoing-handler`, and the host enforces the plugin's manifest
(`[[http.allow]]`, `[http]` limits, `[[secrets.inject]]`) on every request.

The destinations are real HTTP servers on 127.0.0.1, started per test.
Loopback is a special-purpose address, so only a rule naming the address
(`http://127.0.0.1:PORT/`) reaches them; a rule naming `localhost` does not.
Every test gets its own Hangar server, plugin directory, secret directory
and audit file, so each test sees exactly the requests it made.
"""

from __future__ import annotations

import json
import shutil
import socket
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from flyteidl.admin import agent_pb2
from flyteidl.core import execution_pb2

from conftest import HangarServer
from flyte_tasks import execute_sync, literal_map, plain_template

Phase = execution_pb2.TaskExecution

SECRET_NAME = "api_token"
SECRET_VALUE = "tok-7d1e0c55b9a2-never-in-the-guest"
GUEST_AUTH = "guest-chosen-value"
# Longest a single server handler sleeps: every loop here is bounded.
MAX_SLEEP_S = 3.0


# --------------------------------------------------------------------------
# Destination servers


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, list[str]]


@dataclass
class Destination:
    """A real HTTP server on 127.0.0.1 that records what it receives.

    Paths: `/redirect?to=URL` (302), `/big?n=N` (N bytes, with a
    Content-Length), `/stream?n=N` (N bytes, no Content-Length), `/sleep?s=S`
    (answers after S seconds), `/slow-body?s=S` (head at once, body after S
    seconds); anything else answers 200 with `hello from PATH`. It never
    echoes request headers back.
    """

    server: ThreadingHTTPServer
    seen: list[Seen] = field(default_factory=list)
    log: list[str] = field(default_factory=list)

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"


def start_destination() -> Destination:
    destination: Destination

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args) -> None:  # noqa: A002
            destination.log.append(format % args)

        def _record(self) -> None:
            headers: dict[str, list[str]] = {}
            for name, value in self.headers.items():
                headers.setdefault(name.lower(), []).append(value)
            destination.seen.append(Seen(self.command, self.path, headers))
            length = int(self.headers.get("content-length") or 0)
            if length:
                self.rfile.read(length)

        def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None, length: bool = True) -> None:
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            if length:
                self.send_header("Content-Length", str(len(body)))
            else:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)

        def _handle(self) -> None:
            self._record()
            url = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            if url.path == "/redirect":
                self._send(302, b"", {"Location": query["to"]})
            elif url.path == "/big":
                self._send(200, b"x" * int(query["n"]))
            elif url.path == "/stream":
                self.close_connection = True
                self._send(200, b"y" * int(query["n"]), length=False)
            elif url.path == "/sleep":
                time.sleep(min(float(query["s"]), MAX_SLEEP_S))
                self._send(200, b"late")
            elif url.path == "/slow-body":
                self.send_response(200)
                self.send_header("Content-Length", "10")
                self.end_headers()
                self.wfile.write(b"12345")
                self.wfile.flush()
                time.sleep(min(float(query["s"]), MAX_SLEEP_S))
                self.wfile.write(b"67890")
            else:
                self._send(200, f"hello from {url.path}".encode())

        do_GET = do_POST = do_PUT = do_DELETE = _handle

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    destination = Destination(server)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return destination


@pytest.fixture
def destinations():
    """Factory: ``destinations()`` → a started Destination (stopped at teardown)."""
    started: list[Destination] = []

    def make() -> Destination:
        d = start_destination()
        started.append(d)
        return d

    yield make
    for d in started:
        d.server.shutdown()
        d.server.server_close()


# --------------------------------------------------------------------------
# Hangar with the http-client plugin


@dataclass
class EgressHost:
    server: HangarServer
    root: Path
    audit_path: Path

    def fetch(self, url: str, **inputs) -> agent_pb2.Resource:
        response = execute_sync(
            self.server.sync_stub, plain_template("http_fetch"), literal_map({"url": url, **inputs}), timeout=60
        )
        assert response.WhichOneof("res") == "header", response
        return response.header.resource

    def audit(self, expect: int | None = None) -> list[dict]:
        """The http_request events so far (waiting briefly for `expect` of them:
        an event is written when the response body is released)."""
        deadline = time.monotonic() + 5
        while True:
            events = []
            if self.audit_path.exists():
                events = [json.loads(line) for line in self.audit_path.read_text().splitlines() if line.strip()]
            events = [e for e in events if e["event"] == "http_request"]
            if expect is None or len(events) >= expect or time.monotonic() > deadline:
                return events
            time.sleep(0.05)


@pytest.fixture
def egress_host(start_server, plugin_files, tmp_path):
    """Factory: ``egress_host(manifest)`` → EgressHost; ``manifest=None`` for
    no manifest at all. The secret store (a directory) holds `api_token`."""
    counter = iter(range(100))

    def make(manifest: str | None) -> EgressHost:
        root = tmp_path / f"egress{next(counter)}"
        plugins = root / "plugins"
        plugins.mkdir(parents=True)
        (plugins / "http-client.wasm").write_bytes(plugin_files["http-client"].read_bytes())
        if manifest is not None:
            (plugins / "http-client.toml").write_text(manifest)
        secrets_dir = root / "secrets"
        secrets_dir.mkdir()
        (secrets_dir / SECRET_NAME).write_text(SECRET_VALUE + "\n")
        audit_path = root / "audit.jsonl"
        config = root / "hangar.toml"
        config.write_text(
            f'[secrets]\nenv_prefix = ""\ndir = "{secrets_dir}"\n[audit]\ndestination = "{audit_path}"\n'
        )
        server = start_server(plugins, "--config", str(config))
        return EgressHost(server=server, root=root, audit_path=audit_path)

    return make


def allow(url: str, methods: list[str] | None = None) -> str:
    text = f'[[http.allow]]\nurl = "{url}"\n'
    if methods is not None:
        text += "methods = [" + ", ".join(f'"{m}"' for m in methods) + "]\n"
    return text


def outputs(resource: agent_pb2.Resource) -> dict:
    assert resource.phase == Phase.SUCCEEDED, resource
    values = {}
    for name, lit in resource.outputs.literals.items():
        primitive = lit.scalar.primitive
        values[name] = getattr(primitive, primitive.WhichOneof("value"))
    return values


def closed_port() -> int:
    """A loopback port nothing listens on (connections to it are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def assert_http_error(resource: agent_pb2.Resource, code: str) -> str:
    """The task failed in the guest with the wasi:http error `code`."""
    assert resource.phase == Phase.FAILED, resource
    assert resource.agent_error.code == "HttpError", resource
    assert resource.agent_error.kind == agent_pb2.AgentError.NON_RECOVERABLE, resource
    assert code in resource.message, resource
    return resource.message


# --------------------------------------------------------------------------
# Allow rules


def test_a_rule_naming_the_address_allows_the_request(egress_host, destinations):
    dest = destinations()
    host = egress_host(allow(f"http://127.0.0.1:{dest.port}/"))
    out = outputs(host.fetch(dest.url("/hello?x=1")))
    assert out["status"] == 200 and out["body"] == "hello from /hello", out
    assert [s.path for s in dest.seen] == ["/hello?x=1"]
    # The Host header is what the guest addressed.
    assert dest.seen[0].headers["host"] == [f"127.0.0.1:{dest.port}"]
    [event] = host.audit(1)
    assert event["plugin"] == "http-client" and event["task"], event
    assert event["method"] == "GET", event
    assert event["url"] == f"http://127.0.0.1:{dest.port}/hello", event  # no query
    assert event["allowed"] is True and event["decided_by"] == "http.allow[0]", event
    assert event["status"] == 200 and event["response_bytes"] == len("hello from /hello"), event
    assert event["injected_secrets"] == [] and "error" not in event, event
    assert isinstance(event["duration_ms"], int), event


def test_nothing_is_allowed_without_a_manifest(egress_host, destinations):
    dest = destinations()
    host = egress_host(None)
    assert_http_error(host.fetch(dest.url("/")), "HttpRequestDenied")
    assert dest.seen == []
    [event] = host.audit(1)
    assert event["allowed"] is False and "allows no outbound HTTP" in event["decided_by"], event


def test_loopback_by_name_is_denied_even_when_a_rule_names_the_name(egress_host, destinations):
    """`localhost` resolves to loopback; only a rule naming the address
    (or its range) reaches loopback, never a rule naming a host name."""
    dest = destinations()
    host = egress_host(allow(f"http://localhost:{dest.port}/"))
    message = assert_http_error(host.fetch(f"http://localhost:{dest.port}/"), "HttpRequestDenied")
    assert "localhost" in message, message
    assert dest.seen == []
    [event] = host.audit(1)
    assert event["allowed"] is False, event
    assert "resolves to" in event["decided_by"] and "loopback" in event["decided_by"], event
    host.server.stop()
    assert "outbound HTTP request denied" in host.server.stderr()


def test_a_name_resolving_into_a_named_range_is_allowed(egress_host, destinations):
    dest = destinations()
    host = egress_host(allow(f"http://[127.0.0.0/8]:{dest.port}/"))
    resource = host.fetch(f"http://localhost:{dest.port}/range")
    addresses = {info[4][0] for info in socket.getaddrinfo("localhost", dest.port, proto=socket.IPPROTO_TCP)}
    [event] = host.audit(1)
    if all(a.startswith("127.") for a in addresses):
        assert outputs(resource)["status"] == 200
        assert event["allowed"] is True and event["decided_by"] == "http.allow[0]", event
    else:
        # localhost also resolves to ::1, outside 127/8: one refused address refuses the name.
        assert_http_error(resource, "HttpRequestDenied")
        assert event["allowed"] is False, event


@pytest.mark.parametrize(
    "spelling", ["2130706433", "0177.0.0.1", "0x7f.1", "127.1", "0x7f000001", "[::1]", "127.0.0.2"]
)
def test_other_spellings_of_loopback_do_not_match_the_rule(egress_host, destinations, spelling):
    dest = destinations()
    host = egress_host(allow(f"http://127.0.0.1:{dest.port}/"))
    assert_http_error(host.fetch(f"http://{spelling}:{dest.port}/"), "HttpRequestDenied")
    assert dest.seen == []
    [event] = host.audit(1)
    assert event["allowed"] is False, event


def test_user_info_in_the_url_is_refused(egress_host, destinations):
    dest = destinations()
    host = egress_host(allow(f"http://127.0.0.1:{dest.port}/"))
    resource = host.fetch(f"http://127.0.0.1:{dest.port}@evil.example/")
    assert resource.phase == Phase.FAILED, resource
    assert dest.seen == []
    for event in host.audit():
        assert event["allowed"] is False and "user info" in event["decided_by"], event


def test_a_method_not_in_the_rule_is_denied(egress_host, destinations):
    dest = destinations()
    host = egress_host(allow(f"http://127.0.0.1:{dest.port}/", ["GET"]))
    assert outputs(host.fetch(dest.url("/x"), method="get"))["status"] == 200
    assert_http_error(host.fetch(dest.url("/x"), method="POST", body="data"), "HttpRequestDenied")
    assert [s.method for s in dest.seen] == ["GET"]
    allowed, denied = host.audit(2)
    assert allowed["allowed"] is True, allowed
    assert denied["allowed"] is False and "method POST" in denied["decided_by"], denied


def test_a_refused_request_reports_why_even_while_its_body_is_being_written(egress_host, destinations):
    """The guest writes the body after `handle` returns (4 KiB at a time), so
    it is still writing 512 KiB when the host refuses the request. It must
    still see the refusal, not a closed body stream, and nothing may reach
    the destination."""
    dest = destinations()
    host = egress_host(allow(f"http://127.0.0.1:{dest.port}/", ["GET"]))
    big = "x" * (512 * 1024)
    for _ in range(3):
        message = assert_http_error(host.fetch(dest.url("/upload"), method="POST", body=big), "HttpRequestDenied")
        assert "writing the request body" not in message, message
    refused_port = closed_port()
    host = egress_host(allow(f"http://127.0.0.1:{refused_port}/", ["POST"]))
    assert_http_error(host.fetch(f"http://127.0.0.1:{refused_port}/upload", method="POST", body=big),
                      "ConnectionRefused")
    assert dest.seen == []


def test_a_path_outside_the_prefix_is_denied(egress_host, destinations):
    dest = destinations()
    host = egress_host(allow(f"http://127.0.0.1:{dest.port}/api/"))
    assert outputs(host.fetch(dest.url("/api/v1/jobs")))["status"] == 200
    for path in ["/apiary", "/", "/api/../admin", "/api/%2e%2e/admin", "/api/..%2Fadmin", "/API/v1"]:
        assert_http_error(host.fetch(dest.url(path)), "HttpRequestDenied")
    assert [s.path for s in dest.seen] == ["/api/v1/jobs"]
    events = host.audit(7)
    assert [e["allowed"] for e in events] == [True] + [False] * 6, events
    assert all("outside http.allow[0]'s prefix `/api`" in e["decided_by"] for e in events[1:]), events


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI for a test certificate")
def test_https_verifies_the_certificate(egress_host, destinations, tmp_path):
    """TLS goes to the vetted address and verifies the server against the
    web PKI roots: a self-signed certificate is refused."""
    dest = destinations()
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    dest.server.socket = context.wrap_socket(dest.server.socket, server_side=True)
    host = egress_host(allow(f"https://127.0.0.1:{dest.port}/"))
    assert_http_error(host.fetch(f"https://127.0.0.1:{dest.port}/"), "TlsCertificateError")
    assert dest.seen == []
    [event] = host.audit(1)
    assert event["allowed"] is True and event["url"] == f"https://127.0.0.1:{dest.port}/", event
    assert "error" in event, event


# --------------------------------------------------------------------------
# Redirects


def test_redirects_are_not_followed_by_the_host(egress_host, destinations):
    allowed, other = destinations(), destinations()
    host = egress_host(allow(f"http://127.0.0.1:{allowed.port}/"))
    out = outputs(host.fetch(allowed.url(f"/redirect?to={other.url('/')}")))
    assert out["status"] == 302 and out["redirects"] == 0, out
    assert other.seen == []
    assert len(host.audit(1)) == 1


def test_a_redirect_to_a_denied_host_is_refused_when_the_guest_follows_it(egress_host, destinations):
    allowed, other = destinations(), destinations()
    host = egress_host(allow(f"http://127.0.0.1:{allowed.port}/"))
    target = other.url("/secret-place")
    resource = host.fetch(allowed.url(f"/redirect?to={target}"), follow_redirects=True)
    message = assert_http_error(resource, "HttpRequestDenied")
    assert target in message, message
    assert len(allowed.seen) == 1 and other.seen == []
    first, second = host.audit(2)
    assert first["allowed"] is True and first["status"] == 302, first
    assert second["allowed"] is False and second["url"] == f"http://127.0.0.1:{other.port}/secret-place", second
    assert "no http.allow rule matches" in second["decided_by"], second


def test_a_redirect_within_the_rules_is_followed_by_the_guest(egress_host, destinations):
    dest = destinations()
    host = egress_host(allow(f"http://127.0.0.1:{dest.port}/"))
    out = outputs(host.fetch(dest.url("/redirect?to=/landed"), follow_redirects=True))
    assert out["status"] == 200 and out["body"] == "hello from /landed" and out["redirects"] == 1, out
    assert [e["status"] for e in host.audit(2)] == [302, 200]


# --------------------------------------------------------------------------
# Secret injection


def inject_manifest(port: int, secret: str = SECRET_NAME) -> str:
    return allow(f"http://127.0.0.1:{port}/") + (
        f'[[secrets.inject]]\nsecret = "{secret}"\nurl = "http://127.0.0.1:{port}/private/"\n'
        'header = "Authorization"\nformat = "Bearer {secret}"\n'
    )


def test_an_injected_secret_reaches_the_server_but_never_the_guest(egress_host, destinations):
    dest = destinations()
    host = egress_host(inject_manifest(dest.port))
    # The guest sets its own Authorization header: the host replaces it.
    resource = host.fetch(dest.url("/private/data"), headers={"Authorization": GUEST_AUTH, "X-Trace": "1"})
    out = outputs(resource)
    assert out["status"] == 200, out
    assert dest.seen[0].headers["authorization"] == [f"Bearer {SECRET_VALUE}"], dest.seen[0]
    assert dest.seen[0].headers["x-trace"] == ["1"]
    # What the guest sent, as it sees it: its own value, not the secret.
    sent = json.loads(out["sent_headers"])
    assert sent == {"authorization": GUEST_AUTH, "x-trace": "1"}, sent
    # A request outside the injection's pattern gets no secret.
    outputs(host.fetch(dest.url("/public"), headers={"Authorization": GUEST_AUTH}))
    assert dest.seen[1].headers["authorization"] == [GUEST_AUTH], dest.seen[1]
    outputs(host.fetch(dest.url("/private/../public")))
    assert "authorization" not in dest.seen[2].headers, dest.seen[2]
    events = host.audit(3)
    assert [e["injected_secrets"] for e in events] == [[SECRET_NAME], [], []], events
    host.server.stop()
    for text in [str(resource), host.audit_path.read_text(), host.server.stderr(), "\n".join(dest.log)]:
        assert SECRET_VALUE not in text


def test_a_missing_secret_denies_the_request(egress_host, destinations):
    dest = destinations()
    host = egress_host(inject_manifest(dest.port, secret="not_in_the_store"))
    assert_http_error(host.fetch(dest.url("/private/x")), "HttpRequestDenied")
    assert dest.seen == []
    [event] = host.audit(1)
    assert event["allowed"] is False, event
    assert "not_in_the_store" in event["decided_by"] and "not in the secret store" in event["decided_by"], event
    # Requests the injection does not cover still go out.
    assert outputs(host.fetch(dest.url("/public")))["status"] == 200


def test_an_injection_outside_every_allow_rule_stops_the_load(egress_host, destinations):
    dest = destinations()
    manifest = allow(f"http://127.0.0.1:{dest.port}/api/") + (
        f'[[secrets.inject]]\nsecret = "{SECRET_NAME}"\nurl = "http://127.0.0.1:{dest.port}/"\n'
        'header = "Authorization"\n'
    )
    from conftest import ServerStartError

    try:
        host = egress_host(manifest)
    except ServerStartError as e:
        message = e.stderr
    else:
        # The plugin is skipped rather than loaded with the bad grant.
        host.server.stop()
        message = host.server.stderr()
    assert "secrets.inject[0].url" in message and "no http.allow rule covers it" in message, message


# --------------------------------------------------------------------------
# Limits


def test_a_response_over_max_response_bytes_fails(egress_host, destinations):
    dest = destinations()
    host = egress_host("[http]\nmax_response_bytes = 1000\n" + allow(f"http://127.0.0.1:{dest.port}/"))
    assert outputs(host.fetch(dest.url("/big?n=1000")))["status"] == 200
    # Announced by Content-Length: refused before the body is read.
    assert_http_error(host.fetch(dest.url("/big?n=5000")), "HttpResponseBodySize")
    # Streamed without a length: cut off at the limit.
    message = assert_http_error(host.fetch(dest.url("/stream?n=5000")), "body")
    assert "exceeds limit" in message, message
    events = host.audit(3)
    assert events[0]["response_bytes"] == 1000 and "error" not in events[0], events[0]
    assert "max_response_bytes" in events[1]["error"], events[1]
    assert "max_response_bytes" in events[2]["error"] and events[2]["response_bytes"] > 1000, events[2]


def test_a_server_slow_to_answer_fails_at_the_first_byte_timeout(egress_host, destinations):
    dest = destinations()
    host = egress_host("[http]\nfirst_byte_timeout_ms = 500\n" + allow(f"http://127.0.0.1:{dest.port}/"))
    started = time.monotonic()
    assert_http_error(host.fetch(dest.url("/sleep?s=3")), "ConnectionReadTimeout")
    elapsed = time.monotonic() - started
    assert elapsed < 2.5, elapsed
    [event] = host.audit(1)
    assert event["allowed"] is True and "no response within" in event["error"], event


def test_a_body_slower_than_the_total_timeout_fails(egress_host, destinations):
    dest = destinations()
    host = egress_host("[http]\ntotal_timeout_ms = 800\n" + allow(f"http://127.0.0.1:{dest.port}/"))
    started = time.monotonic()
    message = assert_http_error(host.fetch(dest.url("/slow-body?s=3")), "body")
    elapsed = time.monotonic() - started
    assert elapsed < 2.5, elapsed
    assert "timeout" in message.lower(), message
    [event] = host.audit(1)
    assert event["status"] == 200 and "total_timeout_ms" in event["error"], event


def test_concurrent_requests_are_capped_per_plugin(egress_host, destinations):
    dest = destinations()
    host = egress_host(
        "[http]\nmax_concurrent_requests = 1\nconnect_timeout_ms = 300\n" + allow(f"http://127.0.0.1:{dest.port}/")
    )
    results: dict[str, agent_pb2.Resource] = {}

    def slow() -> None:
        results["slow"] = host.fetch(dest.url("/sleep?s=2"))

    thread = threading.Thread(target=slow)
    thread.start()
    deadline = time.monotonic() + 5
    while not dest.seen and time.monotonic() < deadline:
        time.sleep(0.02)
    assert dest.seen, "the first request never arrived"
    assert_http_error(host.fetch(dest.url("/second")), "ConnectionLimitReached")
    thread.join(timeout=10)
    assert outputs(results["slow"])["status"] == 200
    assert [s.path for s in dest.seen] == ["/sleep?s=2"]
    # The slot is free again.
    assert outputs(host.fetch(dest.url("/third")))["status"] == 200
