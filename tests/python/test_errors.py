"""Failures, each with its exact gRPC code, phase, state and message.

Two kinds: requests Hangar cannot serve are gRPC errors (NOT_FOUND,
INVALID_ARGUMENT, UNIMPLEMENTED, INTERNAL for a trapped plugin); jobs that
failed are normal answers, a Resource with a failed phase, because propeller
turns every gRPC error into a retry or a system failure.
"""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest
from flyteidl.admin import agent_pb2
from flyteidl.core import execution_pb2

from flyte_tasks import (
    category,
    create_request,
    delete_request,
    execute_sync,
    get_request,
    literal_map,
    plain_template,
)

Phase = execution_pb2.TaskExecution
NON_RECOVERABLE = agent_pb2.AgentError.NON_RECOVERABLE
RECOVERABLE = agent_pb2.AgentError.RECOVERABLE

# Host internals that must never reach a caller.
LEAKS = re.compile(r"src/|\.rs\b|panicked|RUST_BACKTRACE|/rustc/|\.cargo/|anyhow|tonic::|wasmtime::|at line")


def rpc_error(call) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        call()
    return info.value


def assert_no_leak(details: str) -> None:
    match = LEAKS.search(details)
    assert match is None, f"message leaks host internals ({match.group(0)!r}): {details!r}"


def echo_works(server) -> None:
    """The server still serves a normal request correctly."""
    inputs = literal_map({"n": 7, "s": "still here"})
    created = server.async_stub.CreateTask(create_request(plain_template("echo"), inputs), timeout=30)
    resource = server.async_stub.GetTask(get_request("echo", created.resource_meta), timeout=30).resource
    assert resource.phase == Phase.SUCCEEDED, f"{resource}\n{server.diagnostics()}"
    assert resource.outputs == inputs


def echo_sync_works(server) -> None:
    inputs = literal_map({"n": 8})
    resource = execute_sync(server.sync_stub, plain_template("echo_sync"), inputs).header.resource
    assert resource.phase == Phase.SUCCEEDED, f"{resource}\n{server.diagnostics()}"
    assert resource.outputs == inputs


# --------------------------------------------------------------------------
# Requests that cannot be served


def check_unknown_category(error: grpc.RpcError) -> None:
    assert error.code() == grpc.StatusCode.NOT_FOUND, error
    details = error.details()
    assert '"no_such_type"' in details, details
    assert "version 0" in details, details
    # It lists what is known, so the operator sees the typo.
    for known in ("echo (v0)", "wait (v0)", "echo_sync (v0)"):
        assert known in details, details
    assert_no_leak(details)


def test_create_unknown_category_is_not_found(async_stub):
    error = rpc_error(lambda: async_stub.CreateTask(create_request(plain_template("no_such_type")), timeout=30))
    check_unknown_category(error)


def test_get_unknown_category_is_not_found(async_stub):
    created = async_stub.CreateTask(create_request(plain_template("echo")), timeout=30)
    error = rpc_error(lambda: async_stub.GetTask(get_request("no_such_type", created.resource_meta), timeout=30))
    check_unknown_category(error)


def test_sync_unknown_category_is_not_found(sync_stub):
    error = rpc_error(lambda: execute_sync(sync_stub, plain_template("no_such_type"), literal_map({})))
    check_unknown_category(error)


def test_unknown_version_is_not_found(async_stub):
    error = rpc_error(lambda: async_stub.CreateTask(create_request(plain_template("echo", version=7)), timeout=30))
    assert error.code() == grpc.StatusCode.NOT_FOUND, error
    assert '"echo" version 7' in error.details(), error.details()
    assert "echo (v0)" in error.details()


@pytest.mark.parametrize(
    "meta, fragment",
    [
        (b'{"job": 1}', "not created by Hangar"),
        (b"", "empty"),
        (b"HNGR", "malformed"),
        (b"HNGR\x01\xff\xff\xff", "malformed"),
        (b"HNGR\x09", "newer Hangar"),
    ],
    ids=["json", "empty", "magic-only", "bad-body", "future-format"],
)
def test_get_with_garbage_resource_meta_is_invalid_argument(async_stub, server, meta, fragment):
    error = rpc_error(lambda: async_stub.GetTask(get_request("echo", meta), timeout=30))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error
    assert "resource_meta" in error.details() and fragment in error.details(), error.details()
    assert_no_leak(error.details())
    server.assert_alive()


def test_delete_with_garbage_resource_meta_is_invalid_argument(async_stub):
    error = rpc_error(lambda: async_stub.DeleteTask(delete_request("echo", b'{"job": 1}'), timeout=30))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error
    assert "resource_meta" in error.details(), error.details()
    assert_no_leak(error.details())


def test_resource_meta_of_another_agent_is_invalid_argument(async_stub):
    created = async_stub.CreateTask(create_request(plain_template("echo"), literal_map({"n": 1})), timeout=30)
    error = rpc_error(lambda: async_stub.GetTask(get_request("wait", created.resource_meta), timeout=30))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error
    assert '"echo"' in error.details() and '"wait"' in error.details(), error.details()
    assert_no_leak(error.details())


def test_create_without_template_is_invalid_argument(async_stub):
    error = rpc_error(lambda: async_stub.CreateTask(agent_pb2.CreateTaskRequest(), timeout=30))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error
    assert "template" in error.details(), error.details()


def test_create_on_a_sync_type_is_invalid_argument(async_stub):
    error = rpc_error(lambda: async_stub.CreateTask(create_request(plain_template("echo_sync")), timeout=30))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error
    assert '"echo_sync"' in error.details() and "ExecuteTaskSync" in error.details(), error.details()


def test_execute_sync_on_an_async_type_is_invalid_argument(sync_stub):
    error = rpc_error(lambda: execute_sync(sync_stub, plain_template("echo"), literal_map({"n": 1})))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error
    assert '"echo"' in error.details() and "CreateTask" in error.details(), error.details()


def test_get_on_a_sync_type_is_invalid_argument(async_stub):
    """GetTask routed to a sync agent (with a well-formed Hangar
    resource_meta naming it): sync agents have no jobs, and the message
    says which service to call instead."""
    meta = b"HNGR\x01" + b"\x0a\x09echo_sync"  # format 1, Envelope{agent: "echo_sync"}
    error = rpc_error(lambda: async_stub.GetTask(get_request("echo_sync", meta), timeout=30))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error
    assert '"echo_sync"' in error.details() and "ExecuteTaskSync" in error.details(), error.details()
    assert_no_leak(error.details())


# --------------------------------------------------------------------------
# Jobs that failed: Resources, not gRPC errors


def assert_failed(resource: agent_pb2.Resource, *, retryable: bool) -> None:
    if retryable:
        assert resource.phase == Phase.RETRYABLE_FAILED, resource  # 8
        assert resource.state == agent_pb2.RETRYABLE_FAILURE, resource  # 0
        assert resource.message == "try again later", resource
        assert resource.agent_error.code == "Busy", resource
        assert resource.agent_error.kind == RECOVERABLE, resource
    else:
        assert resource.phase == Phase.FAILED, resource  # 5
        assert resource.state == agent_pb2.PERMANENT_FAILURE, resource  # 1
        assert resource.message == "the job is broken", resource
        assert resource.agent_error.code == "Broken", resource
        assert resource.agent_error.kind == NON_RECOVERABLE, resource
    assert resource.HasField("agent_error"), resource
    assert len(resource.outputs.literals) == 0, resource


@pytest.mark.parametrize("task_type, retryable", [("fail_permanent", False), ("fail_retryable", True)])
def test_async_create_failure_is_reported_by_get(async_stub, task_type, retryable):
    # CreateTaskResponse has no Resource: the failure rides in resource_meta.
    created = async_stub.CreateTask(create_request(plain_template(task_type)), timeout=30)
    assert created.resource_meta
    resource = async_stub.GetTask(get_request(task_type, created.resource_meta), timeout=30).resource
    assert_failed(resource, retryable=retryable)
    # Nothing ever started, so an abort's DeleteTask succeeds.
    async_stub.DeleteTask(delete_request(task_type, created.resource_meta), timeout=30)


@pytest.mark.parametrize("task_type, retryable", [("sync_fail_permanent", False), ("sync_fail_retryable", True)])
def test_sync_failure_is_in_the_header(sync_stub, task_type, retryable):
    response = execute_sync(sync_stub, plain_template(task_type), literal_map({"n": 1}))
    assert response.WhichOneof("res") == "header", response
    assert_failed(response.header.resource, retryable=retryable)


@pytest.mark.parametrize(
    "inputs, code, message",
    [
        ({"seconds": -1}, "InvalidInput", "`seconds` must not be negative, got -1"),
        ({}, "MissingInput", "the wait task needs an integer input `seconds` (zero or more)"),
        ({"seconds": "soon"}, "InvalidInput", '`seconds` must be an integer, got "soon"'),
    ],
    ids=["negative", "missing", "string"],
)
def test_wait_rejects_bad_inputs_as_a_failed_job(async_stub, inputs, code, message):
    created = async_stub.CreateTask(create_request(plain_template("wait"), literal_map(inputs)), timeout=30)
    resource = async_stub.GetTask(get_request("wait", created.resource_meta), timeout=30).resource
    assert resource.phase == Phase.FAILED and resource.state == agent_pb2.PERMANENT_FAILURE, resource
    assert resource.message == message, resource
    assert resource.agent_error.code == code and resource.agent_error.kind == NON_RECOVERABLE, resource


# --------------------------------------------------------------------------
# Traps: contained, reported as INTERNAL in one line


ASYNC_TRAPS = ["trap_panic", "trap_unreachable", "out_of_bounds"]


def check_trap(error: grpc.RpcError, agent: str) -> None:
    assert error.code() == grpc.StatusCode.INTERNAL, error
    details = error.details()
    assert "\n" not in details and "\r" not in details, f"multi-line message: {details!r}"
    assert details.startswith(f"plugin {agent} trapped: "), details
    assert len(details) < 400, details


@pytest.mark.parametrize("task_type", ASYNC_TRAPS)
def test_async_trap_is_internal_and_contained(server, task_type):
    error = rpc_error(lambda: server.async_stub.CreateTask(create_request(plain_template(task_type)), timeout=30))
    check_trap(error, "faulty")
    server.assert_alive()
    echo_works(server)


def test_panic_message_reaches_the_caller(server):
    """A guest panic's own message is what an agent author needs; the
    standard library's "run with RUST_BACKTRACE=1" note (about the guest,
    where nobody can set it) is not."""
    error = rpc_error(lambda: server.async_stub.CreateTask(create_request(plain_template("trap_panic")), timeout=30))
    check_trap(error, "faulty")
    assert "agent panicked on purpose" in error.details(), error.details()
    assert "RUST_BACKTRACE" not in error.details(), error.details()


def test_trap_message_says_what_happened(server):
    unreachable = rpc_error(
        lambda: server.async_stub.CreateTask(create_request(plain_template("trap_unreachable")), timeout=30)
    )
    assert "unreachable" in unreachable.details(), unreachable.details()
    oob = rpc_error(lambda: server.async_stub.CreateTask(create_request(plain_template("out_of_bounds")), timeout=30))
    assert "out of bounds" in oob.details(), oob.details()


def test_sync_trap_is_internal_and_contained(server):
    error = rpc_error(lambda: execute_sync(server.sync_stub, plain_template("sync_trap"), literal_map({"n": 1})))
    check_trap(error, "faulty-sync")
    server.assert_alive()
    echo_sync_works(server)


def test_traps_do_not_disturb_concurrent_calls(server):
    """Traps run concurrently with echo calls; every echo call is served."""
    rounds = 8
    errors: list[str] = []
    lock = threading.Lock()

    def trap(task_type: str) -> None:
        try:
            if task_type == "sync_trap":
                execute_sync(server.sync_stub, plain_template("sync_trap"), literal_map({}))
            else:
                server.async_stub.CreateTask(create_request(plain_template(task_type)), timeout=30)
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.INTERNAL:
                with lock:
                    errors.append(f"{task_type}: {e.code()} {e.details()}")
        else:
            with lock:
                errors.append(f"{task_type}: did not fail")

    def echo(i: int) -> None:
        inputs = literal_map({"i": i, "s": f"call {i}"})
        created = server.async_stub.CreateTask(create_request(plain_template("echo"), inputs), timeout=30)
        resource = server.async_stub.GetTask(get_request("echo", created.resource_meta), timeout=30).resource
        assert resource.phase == Phase.SUCCEEDED and resource.outputs == inputs, resource
        sync_inputs = literal_map({"i": -i})
        sync = execute_sync(server.sync_stub, plain_template("echo_sync"), sync_inputs).header.resource
        assert sync.phase == Phase.SUCCEEDED and sync.outputs == sync_inputs, sync

    with ThreadPoolExecutor(max_workers=16) as pool:
        futures = []
        for i in range(rounds):
            for task_type in [*ASYNC_TRAPS, "sync_trap"]:
                futures.append(pool.submit(trap, task_type))
            futures.append(pool.submit(echo, i))
        for future in futures:
            future.result(timeout=60)  # re-raises echo failures
    assert not errors, errors
    server.assert_alive()


# --------------------------------------------------------------------------
# Observability


def metrics_request(task_type: str, meta: bytes) -> agent_pb2.GetTaskMetricsRequest:
    return agent_pb2.GetTaskMetricsRequest(
        task_type=task_type,
        resource_meta=meta,
        queries=["EXECUTION_METRIC_LIMIT_MEMORY_BYTES"],
        task_category=category(task_type),
    )


def logs_request(task_type: str, meta: bytes) -> agent_pb2.GetTaskLogsRequest:
    return agent_pb2.GetTaskLogsRequest(
        task_type=task_type, resource_meta=meta, lines=100, token="", task_category=category(task_type)
    )


def test_metrics_and_logs_unimplemented_on_echo(async_stub):
    created = async_stub.CreateTask(create_request(plain_template("echo")), timeout=30)
    metrics = rpc_error(lambda: async_stub.GetTaskMetrics(metrics_request("echo", created.resource_meta), timeout=30))
    assert metrics.code() == grpc.StatusCode.UNIMPLEMENTED, metrics
    assert "echo" in metrics.details() and "get-metrics" in metrics.details(), metrics.details()
    logs = rpc_error(lambda: list(async_stub.GetTaskLogs(logs_request("echo", created.resource_meta), timeout=30)))
    assert logs.code() == grpc.StatusCode.UNIMPLEMENTED, logs
    assert "echo" in logs.details() and "get-logs" in logs.details(), logs.details()


def test_metrics_of_an_observable_agent(async_stub):
    created = async_stub.CreateTask(create_request(plain_template("observed")), timeout=30)
    response = async_stub.GetTaskMetrics(metrics_request("observed", created.resource_meta), timeout=30)
    assert len(response.results) == 1, response
    result = response.results[0]
    assert result.metric == "EXECUTION_METRIC_LIMIT_MEMORY_BYTES"
    assert dict(result.data) == {"value": 42.0}, result


def test_logs_of_an_observable_agent_are_a_header_then_a_body(async_stub):
    created = async_stub.CreateTask(create_request(plain_template("observed")), timeout=30)
    responses = list(async_stub.GetTaskLogs(logs_request("observed", created.resource_meta), timeout=30))
    assert [r.WhichOneof("part") for r in responses] == ["header", "body"], responses
    assert responses[0].header.token == ""
    body = responses[1].body
    expected = ["observable: job started", "observable: job finished"]
    assert list(body.results) == expected, body
    assert [line.message for line in body.structured_lines] == expected, body


def test_observable_job_succeeds(async_stub):
    created = async_stub.CreateTask(create_request(plain_template("observed")), timeout=30)
    resource = async_stub.GetTask(get_request("observed", created.resource_meta), timeout=30).resource
    assert resource.phase == Phase.SUCCEEDED and resource.state == agent_pb2.SUCCEEDED, resource
