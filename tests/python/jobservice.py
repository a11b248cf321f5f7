"""A small REST job service on 127.0.0.1, for the `http-job` example agent's
end-to-end tests (tests/python/test_http_job.py).

It stands in for services such as Databricks or BigQuery: a client submits a
job, polls its state until it ends, and may cancel it. Jobs run on a clock
(no threads per job): each job is PENDING for `queue_seconds`, RUNNING for
`seconds`, then SUCCEEDED (with its `result`) or FAILED (when its spec says
`fail`). Everything it receives is recorded so tests can assert on it.

    POST /jobs              {"spec": {...}, ...}  -> 201 {"id": "job-1", "state": "PENDING"}
                            with `Idempotency-Key`: the same key answers the
                            same job (200) instead of starting another one.
    GET  /jobs/{id}         -> 200 {"id", "state", "result" | "error"}
    POST /jobs/{id}/cancel  -> 200 {"id", "state": "CANCELLED"}; 409 if it already ended
    anything else           -> 404 {"error": ...}

The job spec (`{"spec": ...}` of the POST body):
    seconds        how long the job runs once started (default: the service's)
    queue_seconds  how long it waits in PENDING first (default: the service's)
    fail           a message: the job FAILS with it at the end
    result         the object a SUCCEEDED job returns (default: {"echo": inputs})

Faults: `service.fail_next(n, status)` answers the next n requests with
`status`; `service.token = "t"` makes every request without
`Authorization: Bearer t` answer 401.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PENDING, RUNNING, SUCCEEDED, FAILED, CANCELLED = "PENDING", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"


@dataclass
class Request:
    """One request as the service received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class Job:
    id: str
    spec: dict
    inputs: Any
    submitted: float
    queue_seconds: float
    seconds: float
    cancelled_at: float | None = None

    def state(self, now: float) -> str:
        if self.cancelled_at is not None:
            return CANCELLED
        if now < self.submitted + self.queue_seconds:
            return PENDING
        if now < self.submitted + self.queue_seconds + self.seconds:
            return RUNNING
        return FAILED if self.spec.get("fail") else SUCCEEDED

    def view(self, now: float) -> dict:
        state = self.state(now)
        out: dict[str, Any] = {"id": self.id, "state": state}
        if state == SUCCEEDED:
            out["result"] = self.spec.get("result", {"echo": self.inputs})
        elif state == FAILED:
            out["error"] = str(self.spec["fail"])
        return out


@dataclass
class JobService:
    """The service's state; `start_job_service()` serves it over HTTP."""

    default_seconds: float = 1.0
    default_queue_seconds: float = 0.0
    token: str | None = None
    requests: list[Request] = field(default_factory=list)
    jobs: dict[str, Job] = field(default_factory=dict)
    by_key: dict[str, str] = field(default_factory=dict)
    server: ThreadingHTTPServer | None = None
    _faults: list[int] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def port(self) -> int:
        assert self.server is not None
        return self.server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def fail_next(self, count: int, status: int = 503) -> None:
        with self._lock:
            self._faults.extend([status] * count)

    def seen(self, method: str, path_prefix: str = "") -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.method == method and r.path.startswith(path_prefix)]

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    # -- request handling (called from the server's threads) --------------

    def handle(self, method: str, path: str, headers: dict[str, str], raw_body: bytes) -> tuple[int, dict]:
        try:
            body = json.loads(raw_body) if raw_body else None
        except ValueError:
            body = raw_body.decode(errors="replace")
        with self._lock:
            self.requests.append(Request(method, path, headers, body))
            if self._faults:
                status = self._faults.pop(0)
                return status, {"error": f"injected fault {status}"}
            if self.token is not None and headers.get("authorization") != f"Bearer {self.token}":
                return 401, {"error": "missing or wrong bearer token"}
            now = time.monotonic()
            parts = [p for p in path.split("?")[0].split("/") if p]
            if method == "POST" and parts == ["jobs"]:
                return self._submit(body, headers.get("idempotency-key", ""), now)
            if len(parts) >= 2 and parts[0] == "jobs":
                job = self.jobs.get(parts[1])
                if job is None:
                    return 404, {"error": f"no job {parts[1]}"}
                if method == "GET" and len(parts) == 2:
                    return 200, job.view(now)
                if method == "POST" and parts[2:] == ["cancel"]:
                    state = job.state(now)
                    if state in (SUCCEEDED, FAILED):
                        return 409, {"error": f"job {job.id} already ended ({state})"}
                    if job.cancelled_at is None:
                        job.cancelled_at = now
                    return 200, job.view(now)
            return 404, {"error": f"no route {method} {path}"}

    def _submit(self, body: Any, key: str, now: float) -> tuple[int, dict]:
        if not isinstance(body, dict) or not isinstance(body.get("spec"), dict):
            return 400, {"error": 'the body must be a JSON object with an object "spec"'}
        if key and key in self.by_key:
            return 200, self.jobs[self.by_key[key]].view(now)
        spec = body["spec"]
        job = Job(
            id=f"job-{len(self.jobs) + 1}",
            spec=spec,
            inputs=body.get("inputs"),
            submitted=now,
            queue_seconds=float(spec.get("queue_seconds", self.default_queue_seconds)),
            seconds=float(spec.get("seconds", self.default_seconds)),
        )
        self.jobs[job.id] = job
        if key:
            self.by_key[key] = job.id
        return 201, job.view(now)


def start_job_service(**settings: Any) -> JobService:
    """Starts a JobService on 127.0.0.1 (a free port) in a daemon thread."""
    service = JobService(**settings)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

        def _serve(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, payload = service.handle(self.command, self.path, headers, raw)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    service.server = server
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return service
