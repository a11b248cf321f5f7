"""Observability, end to end: the Prometheus endpoint (`--metrics-listen`,
`/metrics` and `/healthz`) and JSON logs (`--log-format json`).

Each test starts its own server, so the counters it reads are exactly the
calls it made. Metric names and labels are documented in docs/metrics.md.
"""

from __future__ import annotations

import json
import re
import urllib.request

import grpc
import pytest
from flyteidl.core import execution_pb2

from flyte_tasks import create_request, execute_sync, get_request, literal_map, plain_template

Phase = execution_pb2.TaskExecution

SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def scrape(address: str, path: str = "/metrics") -> tuple[str, str]:
    with urllib.request.urlopen(f"http://{address}{path}", timeout=10) as response:
        assert response.status == 200
        return response.headers["Content-Type"], response.read().decode()


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    """Every sample of the exposition, keyed by (name, label set)."""
    found = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = SAMPLE.match(line)
        assert match, f"not an exposition line: {line!r}"
        name, labels, value = match.groups()
        found[(name, frozenset(LABEL.findall(labels or "")))] = float(value)
    return found


def value(found: dict, name: str, **labels: str) -> float | None:
    return found.get((name, frozenset(labels.items())))


def test_metrics_count_calls_errors_instances_and_denials(start_server):
    srv = start_server(["echo", "echo-sync", "http-client", "secret-reader"])
    assert srv.metrics_address, "the server did not print 'hangar metrics on HOST:PORT'"

    # Two creates and a get of echo, a do of echo_sync.
    inputs = literal_map({"x": 1})
    created = [srv.async_stub.CreateTask(create_request(plain_template("echo"), inputs), timeout=30) for _ in range(2)]
    got = srv.async_stub.GetTask(get_request("echo", created[0].resource_meta), timeout=30)
    assert got.resource.phase == Phase.SUCCEEDED, got
    done = execute_sync(srv.sync_stub, plain_template("echo_sync"), inputs)
    assert done.header.resource.phase == Phase.SUCCEEDED, done
    # A task type nobody serves.
    with pytest.raises(grpc.RpcError) as error:
        srv.async_stub.CreateTask(create_request(plain_template("no_such_type")), timeout=30)
    assert error.value.code() == grpc.StatusCode.NOT_FOUND
    # http-client has no manifest: its request is denied (the task fails,
    # the call itself succeeds).
    denied = execute_sync(srv.sync_stub, plain_template("http_fetch"), literal_map({"url": "http://127.0.0.1:9/"}))
    assert denied.header.resource.phase == Phase.FAILED, denied
    # secret-reader has no manifest either: its secret read is refused.
    execute_sync(srv.sync_stub, plain_template("read_secret"), literal_map({"name": "db_password"}))

    content_type, text = scrape(srv.metrics_address)
    assert content_type.startswith("application/openmetrics-text"), content_type
    found = samples(text)

    # flytekit's names and labels.
    success = "flyte_connector_requests_success_total"
    assert value(found, success, task_type="echo", operation="create") == 2, text
    assert value(found, success, task_type="echo", operation="get") == 1
    assert value(found, success, task_type="echo_sync", operation="do") == 1
    assert value(found, success, task_type="http_fetch", operation="do") == 1
    failure = "flyte_connector_requests_failure_total"
    assert value(found, failure, task_type="no_such_type", operation="create", error_code="404") == 1, text
    assert value(found, success, task_type="no_such_type", operation="create") is None
    latency = "flyte_connector_request_latency_seconds"
    assert value(found, latency + "_count", task_type="echo", operation="create") == 2
    assert value(found, latency + "_bucket", task_type="echo", operation="create", le="+Inf") == 2
    buckets = [k for k in found if k[0] == latency + "_bucket" and ("task_type", "echo") in k[1]]
    assert len(buckets) > 5, buckets
    assert value(found, "flyte_connector_input_literal_bytes_count", task_type="echo") == 2
    assert value(found, "flyte_connector_input_literal_bytes_sum", task_type="echo") > 0

    # Hangar's, by gRPC service, method, plugin and code.
    requests = "hangar_requests_total"
    agent = "flyteidl.service.AsyncAgentService"
    assert (
        value(found, requests, service=agent, method="CreateTask", task_type="echo", plugin="echo", code="OK") == 2
    ), text
    assert value(found, requests, service=agent, method="GetTask", task_type="echo", plugin="echo", code="OK") == 1
    assert (
        value(
            found,
            requests,
            service="flyteidl.service.SyncAgentService",
            method="ExecuteTaskSync",
            task_type="echo_sync",
            plugin="echo-sync",
            code="OK",
        )
        == 1
    )
    assert (
        value(
            found, requests, service=agent, method="CreateTask", task_type="no_such_type", plugin="", code="NOT_FOUND"
        )
        == 1
    )
    duration = "hangar_request_duration_seconds_count"
    assert value(found, duration, service=agent, method="CreateTask", task_type="echo", plugin="echo") == 2

    # Instances: one per call plus the one that answered `describe` at
    # load; all gone now, and each held some linear memory.
    assert value(found, "hangar_instances_created_total", plugin="echo") == 4, text
    assert value(found, "hangar_instances_alive", plugin="echo") == 0
    assert value(found, "hangar_instance_memory_bytes", plugin="echo") == 0
    assert value(found, "hangar_instance_memory_peak_bytes_count", plugin="echo") == 4
    assert value(found, "hangar_instance_memory_peak_bytes_sum", plugin="echo") >= 4 * 65536
    # Each of those instances was timed being created and being called.
    assert value(found, "hangar_instantiate_duration_seconds_count", plugin="echo") == 4, text
    assert value(found, "hangar_guest_call_duration_seconds_count", plugin="echo") == 4, text
    guest = value(found, "hangar_guest_call_duration_seconds_sum", plugin="echo")
    assert 0 < guest, text
    request_sum = sum(
        value(found, "hangar_request_duration_seconds_sum", service=agent, method=m, task_type="echo", plugin="echo")
        for m in ("CreateTask", "GetTask")
    )
    assert request_sum > 0, text

    # The denied request, by plugin and reason class.
    denials = "hangar_capability_denials_total"
    assert value(found, denials, plugin="http-client", capability="http", reason="no_grant") == 1, text
    assert value(found, denials, plugin="secret-reader", capability="secret", reason="not_granted") == 1, text
    assert value(found, "hangar_plugins_loaded") == 4
    assert value(found, "hangar_plugin_load_failures_total") == 0

    _, health = scrape(srv.metrics_address, "/healthz")
    assert health.strip() == "ok"


def test_metrics_can_be_turned_off(start_server):
    srv = start_server(["echo"], "--metrics-listen", "off")
    assert srv.metrics_address is None


def test_json_logs_carry_the_task_on_lines_logged_during_a_call(start_server):
    srv = start_server(["faulty"], "--log-format", "json")
    # The faulty fixture logs one line through the logging import in create.
    srv.async_stub.CreateTask(create_request(plain_template("fail_permanent")), timeout=30)
    srv.stop()  # flushes stderr

    lines = [line for line in srv.stderr().splitlines() if line.strip()]
    assert lines, "no log lines"
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            pytest.fail(f"a log line is not one JSON object: {line!r}")
    assert all(isinstance(r, dict) and "level" in r and "fields" in r for r in records), records[:3]

    [guest] = [r for r in records if r["fields"].get("message") == "faulty agent: create fail_permanent"]
    assert guest["target"] == "plugin", guest
    span = guest["span"]
    assert span["name"] == "call", guest
    assert span["task"] == "flytesnacks/development/abc123/n0/0", guest
    assert span["service"] == "flyteidl.service.AsyncAgentService" and span["method"] == "CreateTask", guest
    assert span["task_type"] == "fail_permanent" and span["plugin"] == "faulty", guest
    # Lines logged outside any call have no span.
    assert any("span" not in r for r in records)
