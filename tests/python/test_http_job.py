"""The `http-job` example agent (Go, guest-examples/go/http-job), end to end:
a real `hangar serve` runs plugins/http-job.wasm (`bash build/guests-go.sh`),
which submits jobs to a real REST job service on 127.0.0.1
(tests/python/jobservice.py), polls them and cancels them, through the
flyteidl gRPC API as propeller drives it.

Each test gets its own job service and Hangar server, with a manifest that
allows exactly that service (or, in one test, does not).
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from flyteidl.admin import agent_pb2
from flyteidl.core import execution_pb2
from google.protobuf import json_format, struct_pb2

from conftest import REPO_ROOT, HangarServer, ServerStartError, launch_server
from flyte_tasks import create_request, delete_request, get_request, literal_map, plain_template
from jobservice import JobService, start_job_service

Phase = execution_pb2.TaskExecution
BUILD = "bash build/guests-go.sh"
WASM = REPO_ROOT / "plugins" / "http-job.wasm"
TASK_TYPE = "http_job"
POLL_LIMIT_S = 20.0


@dataclass
class JobHost:
    server: HangarServer
    service: JobService

    def create(self, spec: dict, inputs: dict | None = None, base_url: str | None = None, retry: int = 0):
        template = plain_template(TASK_TYPE)
        custom = {"spec": spec}
        if base_url is not None:
            custom["base_url"] = base_url
        template.custom.CopyFrom(json_format.ParseDict(custom, struct_pb2.Struct()))
        request = create_request(template, literal_map(inputs or {"x": 1}))
        request.task_execution_metadata.task_execution_id.retry_attempt = retry
        return self.server.async_stub.CreateTask(request, timeout=30)

    def get(self, meta: bytes) -> agent_pb2.Resource:
        return self.server.async_stub.GetTask(get_request(TASK_TYPE, meta), timeout=30).resource

    def delete(self, meta: bytes):
        return self.server.async_stub.DeleteTask(delete_request(TASK_TYPE, meta), timeout=30)

    def poll_until_terminal(self, meta: bytes) -> tuple[agent_pb2.Resource, list[int]]:
        phases = []
        deadline = time.monotonic() + POLL_LIMIT_S
        while time.monotonic() < deadline:
            resource = self.get(meta)
            phases.append(resource.phase)
            if resource.phase not in (Phase.QUEUED, Phase.RUNNING):
                return resource, phases
            time.sleep(0.1)
        pytest.fail(f"the job did not end within {POLL_LIMIT_S}s; phases {phases}\n{self.server.diagnostics()}")


@pytest.fixture
def job_host(hangar_bin, cache_dir, tmp_path):
    """Factory: ``job_host(allow=True, config=True, **service_settings)`` →
    JobHost: a job service and a server whose manifest allows it (and sets
    [config] base_url to it), unless told otherwise."""
    if not WASM.is_file():
        pytest.fail(f"{WASM} is missing: build it with `{BUILD}`", pytrace=False)
    started: list[tuple[HangarServer, JobService]] = []
    counter = iter(range(100))

    def make(allow: bool = True, config: bool = True, **settings) -> JobHost:
        service = start_job_service(**settings)
        plugins = tmp_path / f"plugins{next(counter)}"
        plugins.mkdir()
        shutil.copy(WASM, plugins / WASM.name)
        manifest = ""
        if config:
            manifest += f'[config]\nbase_url = "{service.base_url}"\n\n'
        if allow:
            manifest += f'[[http.allow]]\nurl = "{service.base_url}/jobs"\nmethods = ["GET", "POST"]\n'
        (plugins / "http-job.toml").write_text(manifest)
        try:
            server = launch_server(hangar_bin, plugins, cache_dir, log_dir=tmp_path)
        except ServerStartError as e:
            service.stop()
            pytest.fail(str(e), pytrace=False)
        started.append((server, service))
        return JobHost(server, service)

    yield make
    for server, service in started:
        server.stop()
        service.stop()


def test_create_polls_running_then_succeeded_with_outputs(job_host):
    host = job_host()
    created = host.create({"seconds": 1.0, "queue_seconds": 0.3, "result": {"rows": 42, "table": "t1"}})
    assert created.resource_meta, created
    [submitted] = host.service.seen("POST", "/jobs")
    assert submitted.body["spec"]["result"] == {"rows": 42, "table": "t1"}, submitted
    assert submitted.body["inputs"] == {"x": 1}, submitted
    assert submitted.headers.get("idempotency-key"), "create must send the task's idempotency key"

    resource, phases = host.poll_until_terminal(created.resource_meta)
    assert phases[0] == Phase.QUEUED, phases
    assert Phase.RUNNING in phases, phases
    assert resource.phase == Phase.SUCCEEDED, resource
    outputs = {k: v.scalar.primitive for k, v in resource.outputs.literals.items()}
    assert outputs["rows"].integer == 42 and outputs["table"].string_value == "t1", resource.outputs
    assert resource.log_links and resource.log_links[0].uri == f"{host.service.base_url}/jobs/job-1", resource
    assert "job-1" in json_format.MessageToJson(resource.custom_info), resource


def test_a_failing_job_fails_with_the_service_message(job_host):
    host = job_host()
    created = host.create({"seconds": 0.2, "fail": "table t9 does not exist"})
    resource, _ = host.poll_until_terminal(created.resource_meta)
    assert resource.phase == Phase.FAILED, resource
    assert "table t9 does not exist" in resource.message, resource


def test_delete_cancels_a_running_job(job_host):
    host = job_host()
    created = host.create({"seconds": 30})
    assert host.get(created.resource_meta).phase == Phase.RUNNING
    host.delete(created.resource_meta)
    [cancel] = host.service.seen("POST", "/jobs/job-1/cancel")
    assert cancel.method == "POST"
    assert host.service.jobs["job-1"].cancelled_at is not None
    after = host.get(created.resource_meta)
    assert after.phase == Phase.ABORTED, after


def test_a_retried_create_does_not_start_a_second_job(job_host):
    host = job_host()
    first = host.create({"seconds": 5})
    again = host.create({"seconds": 5})  # same task attempt: same idempotency key
    assert len(host.service.jobs) == 1, host.service.jobs
    assert first.resource_meta == again.resource_meta
    keys = {r.headers["idempotency-key"] for r in host.service.seen("POST", "/jobs") if r.path == "/jobs"}
    assert len(keys) == 1, keys
    # The next retry attempt is a new job.
    host.create({"seconds": 5}, retry=1)
    assert len(host.service.jobs) == 2, host.service.jobs


def test_a_transient_service_error_is_retryable(job_host):
    host = job_host()
    created = host.create({"seconds": 5})
    host.service.fail_next(1, status=503)
    resource = host.get(created.resource_meta)
    assert resource.phase == Phase.RETRYABLE_FAILED, resource
    assert resource.agent_error.kind == agent_pb2.AgentError.RECOVERABLE, resource
    assert "503" in resource.message, resource
    assert host.get(created.resource_meta).phase == Phase.RUNNING  # and it recovers


def test_a_service_the_manifest_does_not_allow_fails_clearly(job_host):
    host = job_host(allow=False)
    created = host.create({"seconds": 1})
    # A failed create still answers resource_meta (the host keeps the error
    # in it); GetTask reports the failure.
    resource = host.get(created.resource_meta)
    assert resource.phase == Phase.FAILED, resource
    assert resource.agent_error.code == "HttpDenied", resource
    assert "[[http.allow]]" in resource.message and host.service.base_url in resource.message, resource
    assert host.service.requests == [], "the host must not let a denied request through"


def test_base_url_from_custom_when_the_manifest_sets_none(job_host):
    host = job_host(config=False)
    created = host.create({"seconds": 0.1}, base_url=host.service.base_url + "/")
    resource, _ = host.poll_until_terminal(created.resource_meta)
    assert resource.phase == Phase.SUCCEEDED, resource
    nothing = host.get(host.create({"seconds": 0.1}).resource_meta)
    assert nothing.phase == Phase.FAILED, nothing
    assert nothing.agent_error.code == "MissingConfig", nothing
    assert "base_url" in nothing.message and "[config]" in nothing.message, nothing


def test_a_bearer_token_is_injected_by_the_host(hangar_bin, cache_dir, tmp_path, monkeypatch):
    """[[secrets.inject]] adds the service's token; the agent never sees it."""
    if not WASM.is_file():
        pytest.fail(f"{WASM} is missing: build it with `{BUILD}`", pytrace=False)
    service = start_job_service(token="tok-job-9f2c")
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    shutil.copy(WASM, plugins / WASM.name)
    (plugins / "http-job.toml").write_text(
        f'[config]\nbase_url = "{service.base_url}"\n\n'
        f'[[http.allow]]\nurl = "{service.base_url}/jobs"\n\n'
        f'[[secrets.inject]]\nsecret = "job_token"\nurl = "{service.base_url}/jobs"\n'
        'header = "Authorization"\nformat = "Bearer {secret}"\n'
    )
    monkeypatch.setenv("_FSEC_job_token", "tok-job-9f2c")
    server = launch_server(hangar_bin, plugins, cache_dir, log_dir=tmp_path)
    try:
        host = JobHost(server, service)
        created = host.create({"seconds": 0.1, "result": {"ok": True}})
        resource, _ = host.poll_until_terminal(created.resource_meta)
        assert resource.phase == Phase.SUCCEEDED, resource
        assert all(r.headers.get("authorization") == "Bearer tok-job-9f2c" for r in service.requests)
    finally:
        server.stop()
        service.stop()
