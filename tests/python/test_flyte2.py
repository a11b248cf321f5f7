"""Flyte 2 connectors (``flyteidl2.connector``) on the same port as the v1
agent services, through the PyPI ``flyteidl2==2.0.53`` stubs as the client.

Hangar translates every flyteidl2 call into the same task operations as v1,
so the same plugins answer both, and a ``resource_meta`` from one API works
through the other.
"""

from __future__ import annotations

import time

import grpc
import pytest
from flyteidl2.connector import connector_pb2, service_pb2_grpc
from flyteidl2.core import (
    execution_pb2,
    identifier_pb2,
    interface_pb2,
    literals_pb2,
    security_pb2,
    tasks_pb2,
    types_pb2,
)
from flyteidl2.task import common_pb2

from flyte_tasks import create_request, delete_request, get_request, literal_map, plain_template

Phase = execution_pb2.TaskExecution
OUTPUT_PREFIX = "s3://bucket/v2/run/a0/0"


# --------------------------------------------------------------------------
# flyteidl2 messages, built natively


def literal(value) -> literals_pb2.Literal:
    if isinstance(value, bool):
        return literals_pb2.Literal(scalar=literals_pb2.Scalar(primitive=literals_pb2.Primitive(boolean=value)))
    if isinstance(value, int):
        return literals_pb2.Literal(scalar=literals_pb2.Scalar(primitive=literals_pb2.Primitive(integer=value)))
    if isinstance(value, float):
        return literals_pb2.Literal(scalar=literals_pb2.Scalar(primitive=literals_pb2.Primitive(float_value=value)))
    if isinstance(value, str):
        return literals_pb2.Literal(scalar=literals_pb2.Scalar(primitive=literals_pb2.Primitive(string_value=value)))
    if isinstance(value, list):
        return literals_pb2.Literal(collection=literals_pb2.LiteralCollection(literals=[literal(v) for v in value]))
    raise TypeError(value)


def inputs(values: dict) -> common_pb2.Inputs:
    return common_pb2.Inputs(literals=[common_pb2.NamedLiteral(name=k, value=literal(v)) for k, v in values.items()])


def template(task_type: str, int_vars: dict[str, list[str]] | None = None) -> tasks_pb2.TaskTemplate:
    """A template; ``int_vars`` = {"inputs": [...], "outputs": [...]} declares integers."""
    interface = interface_pb2.TypedInterface()
    for side, names in (int_vars or {}).items():
        getattr(interface, side).variables.extend(
            interface_pb2.VariableEntry(
                key=name, value=interface_pb2.Variable(type=types_pb2.LiteralType(simple=types_pb2.INTEGER))
            )
            for name in names
        )
    return tasks_pb2.TaskTemplate(
        id=identifier_pb2.Identifier(
            resource_type=identifier_pb2.TASK, project="p", domain="development", name=f"v2.{task_type}", version="v1"
        ),
        type=task_type,
        interface=interface,
        reuse_policy=tasks_pb2.ReusePolicy(min_replicas=1),  # flyteidl2-only: ignored
    )


def metadata() -> connector_pb2.TaskExecutionMetadata:
    return connector_pb2.TaskExecutionMetadata(
        task_execution_id=identifier_pb2.TaskExecutionIdentifier(
            task_id=identifier_pb2.Identifier(resource_type=identifier_pb2.TASK, project="p", domain="d", name="t"),
            node_execution_id=identifier_pb2.NodeExecutionIdentifier(
                node_id="a0", execution_id=identifier_pb2.WorkflowExecutionIdentifier(project="p", domain="d", name="r1")
            ),
        ),
        namespace="p-development",
        max_attempts=3,
    )


def connection(task_type: str) -> security_pb2.Connection:
    # What the Flyte 2 plugin sends; Hangar must not hand these to guests.
    return security_pb2.Connection(task_type=task_type, secrets={"token": "plaintext"}, configs={"region": "x"})


def create(stub, tmpl, values: dict | None = None) -> bytes:
    request = connector_pb2.CreateTaskRequest(
        inputs=inputs(values or {}),
        template=tmpl,
        output_prefix=OUTPUT_PREFIX,
        task_execution_metadata=metadata(),
        connection=connection(tmpl.type),
    )
    meta = stub.CreateTask(request, timeout=30).resource_meta
    assert meta
    return meta


def category(name: str) -> connector_pb2.TaskCategory:
    return connector_pb2.TaskCategory(name=name, version=0)


def get(stub, task_type: str, meta: bytes) -> connector_pb2.Resource:
    request = connector_pb2.GetTaskRequest(
        resource_meta=meta, task_category=category(task_type), output_prefix=OUTPUT_PREFIX, connection=connection(task_type)
    )
    return stub.GetTask(request, timeout=30).resource


def named(outputs: common_pb2.Outputs) -> dict:
    return {n.name: n.value for n in outputs.literals}


def rpc_error(call) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        call()
    return info.value


# --------------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="module")
def v2_async(server) -> service_pb2_grpc.AsyncConnectorServiceStub:
    return service_pb2_grpc.AsyncConnectorServiceStub(server.channel)


@pytest.fixture(scope="module")
def v2_metadata(server) -> service_pb2_grpc.ConnectorMetadataServiceStub:
    return service_pb2_grpc.ConnectorMetadataServiceStub(server.channel)


# --------------------------------------------------------------------------
# Tests


def test_list_connectors_names_the_async_plugins(v2_metadata):
    connectors = {c.name: c for c in v2_metadata.ListConnectors(connector_pb2.ListConnectorsRequest(), timeout=10).connectors}
    assert {"echo", "wait", "observable"} <= set(connectors), sorted(connectors)
    assert [(c.name, c.version) for c in connectors["echo"].supported_task_categories] == [("echo", 0)]
    assert [(c.name, c.version) for c in connectors["wait"].supported_task_categories] == [("wait", 0)]
    # Flyte 2 has no sync service: sync plugins are not connectors.
    assert not {"echo_sync", "faulty-sync", "misbehave"} & set(connectors), sorted(connectors)


def test_get_connector(v2_metadata):
    echo = v2_metadata.GetConnector(connector_pb2.GetConnectorRequest(name="echo"), timeout=10).connector
    assert echo.name == "echo"
    assert [c.name for c in echo.supported_task_categories] == ["echo"]
    for name in ["nope", "echo_sync"]:
        error = rpc_error(lambda: v2_metadata.GetConnector(connector_pb2.GetConnectorRequest(name=name), timeout=10))
        assert error.code() == grpc.StatusCode.NOT_FOUND, error
        assert "echo" in error.details(), error.details()


def test_echo_succeeds_with_outputs_equal_to_inputs(v2_async, server):
    values = {"n": 3, "x": 1.5, "s": "hi", "ok": True, "xs": [1, 2]}
    meta = create(v2_async, template("echo"), values)
    resource = get(v2_async, "echo", meta)
    assert resource.phase == Phase.SUCCEEDED, resource
    assert named(resource.outputs) == named(inputs(values)), resource
    assert [n.name for n in resource.outputs.literals] == sorted(values)  # in name order
    # The connection's secrets are never logged (nor given to the guest).
    assert "plaintext" not in server.stderr()


def test_typed_interface_entries_type_the_outputs(v2_async):
    meta = create(v2_async, template("echo", {"inputs": ["n"], "outputs": ["n"]}), {"n": 7})
    resource = get(v2_async, "echo", meta)
    assert resource.phase == Phase.SUCCEEDED, resource
    assert named(resource.outputs) == {"n": literal(7)}, resource


def test_wait_runs_then_succeeds(v2_async):
    meta = create(v2_async, template("wait", {"inputs": ["seconds"]}), {"seconds": 1})
    first = get(v2_async, "wait", meta)
    assert first.phase == Phase.RUNNING, first
    deadline = time.monotonic() + 15
    resource = first
    while resource.phase == Phase.RUNNING:
        assert time.monotonic() < deadline, resource
        time.sleep(0.2)
        resource = get(v2_async, "wait", meta)
    assert resource.phase == Phase.SUCCEEDED, resource


def test_delete_a_running_job(v2_async):
    meta = create(v2_async, template("wait", {"inputs": ["seconds"]}), {"seconds": 30})
    assert get(v2_async, "wait", meta).phase == Phase.RUNNING
    request = connector_pb2.DeleteTaskRequest(resource_meta=meta, task_category=category("wait"), connection=connection("wait"))
    assert v2_async.DeleteTask(request, timeout=30) == connector_pb2.DeleteTaskResponse()


def test_unknown_task_type_is_not_found(v2_async):
    error = rpc_error(lambda: create(v2_async, template("no_such_type")))
    assert error.code() == grpc.StatusCode.NOT_FOUND, error
    assert "no_such_type" in error.details() and "echo" in error.details(), error.details()
    error = rpc_error(lambda: get(v2_async, "no_such_type", b"HNGR\x01"))
    assert error.code() == grpc.StatusCode.NOT_FOUND, error


def test_sync_task_type_is_not_found(v2_async):
    error = rpc_error(lambda: create(v2_async, template("echo_sync")))
    assert error.code() == grpc.StatusCode.NOT_FOUND, error
    assert "sync" in error.details(), error.details()


def test_missing_category_is_invalid(v2_async):
    error = rpc_error(lambda: v2_async.GetTask(connector_pb2.GetTaskRequest(resource_meta=b"x"), timeout=30))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error


def test_foreign_resource_meta_is_invalid(v2_async):
    error = rpc_error(lambda: get(v2_async, "echo", b'{"job_id": 1}'))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error


def test_v1_resource_meta_through_v2_and_back(v2_async, async_stub):
    """One envelope: a job created through either API is polled through the other."""
    v1_inputs = literal_map({"n": 5, "s": "x"})
    created = async_stub.CreateTask(create_request(plain_template("echo"), v1_inputs), timeout=30)
    resource = get(v2_async, "echo", created.resource_meta)
    assert resource.phase == Phase.SUCCEEDED, resource
    assert {k: v.SerializeToString() for k, v in named(resource.outputs).items()} == {
        k: v.SerializeToString() for k, v in v1_inputs.literals.items()
    }

    meta = create(v2_async, template("echo"), {"n": 5, "s": "x"})
    v1_resource = async_stub.GetTask(get_request("echo", meta), timeout=30).resource
    assert v1_resource.phase == Phase.SUCCEEDED and v1_resource.outputs == v1_inputs, v1_resource
    async_stub.DeleteTask(delete_request("echo", meta), timeout=30)


def test_metrics_and_logs_unimplemented_on_echo(v2_async):
    meta = create(v2_async, template("echo"))
    metrics = rpc_error(
        lambda: v2_async.GetTaskMetrics(
            connector_pb2.GetTaskMetricsRequest(resource_meta=meta, queries=["q"], task_category=category("echo")),
            timeout=30,
        )
    )
    assert metrics.code() == grpc.StatusCode.UNIMPLEMENTED, metrics
    logs = rpc_error(
        lambda: list(
            v2_async.GetTaskLogs(
                connector_pb2.GetTaskLogsRequest(resource_meta=meta, lines=10, task_category=category("echo")),
                timeout=30,
            )
        )
    )
    assert logs.code() == grpc.StatusCode.UNIMPLEMENTED, logs


def test_metrics_and_logs_of_an_observable_connector(v2_async):
    meta = create(v2_async, template("observed"))
    response = v2_async.GetTaskMetrics(
        connector_pb2.GetTaskMetricsRequest(
            resource_meta=meta, queries=["EXECUTION_METRIC_LIMIT_MEMORY_BYTES"], task_category=category("observed")
        ),
        timeout=30,
    )
    assert [(r.metric, dict(r.data)) for r in response.results] == [
        ("EXECUTION_METRIC_LIMIT_MEMORY_BYTES", {"value": 42.0})
    ], response
    parts = list(
        v2_async.GetTaskLogs(
            connector_pb2.GetTaskLogsRequest(resource_meta=meta, lines=100, task_category=category("observed")),
            timeout=30,
        )
    )
    assert [p.WhichOneof("part") for p in parts] == ["header", "body"], parts
    assert [line.message for line in parts[1].body.lines] == ["observable: job started", "observable: job finished"]


def test_v1_services_still_served(server, async_stub, metadata_stub):
    from flyteidl.admin import agent_pb2

    agents = {a.name for a in metadata_stub.ListAgents(agent_pb2.ListAgentsRequest(), timeout=10).agents}
    assert {"echo", "wait", "echo_sync"} <= agents
    created = async_stub.CreateTask(create_request(plain_template("echo"), literal_map({"n": 1})), timeout=30)
    assert async_stub.GetTask(get_request("echo", created.resource_meta), timeout=30).resource.phase == Phase.SUCCEEDED
    server.assert_alive()


def test_health_reports_the_connector_services(server):
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    health = health_pb2_grpc.HealthStub(server.channel)
    for service in ["flyteidl2.connector.AsyncConnectorService", "flyteidl2.connector.ConnectorMetadataService"]:
        status = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=10).status
        assert status == health_pb2.HealthCheckResponse.SERVING, service
