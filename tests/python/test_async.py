"""AsyncAgentService with the example agents: create, poll, delete, as
propeller does it (and as old clients do it, with only `task_type`)."""

from __future__ import annotations

import time

from flyteidl.admin import agent_pb2
from flyteidl.core import execution_pb2, literals_pb2

from flyte_tasks import (
    create_request,
    delete_request,
    get_request,
    int_template,
    literal_map,
    plain_template,
)

SUCCEEDED = execution_pb2.TaskExecution.SUCCEEDED
RUNNING = execution_pb2.TaskExecution.RUNNING

# Without a declared interface, outputs are type-inferred from JSON: scalars
# and lists come back as the same literals (a map would come back as a
# msgpack dict, which is what the flytekit tests cover with typed outputs).
ECHO_INPUTS = {"n": 3, "x": 1.5, "s": "hi", "ok": True, "xs": [1, 2], "nested": [[1], [2, 3]]}


def assert_echo_succeeded(resource: agent_pb2.Resource, inputs: literals_pb2.LiteralMap) -> None:
    assert resource.phase == SUCCEEDED, resource
    assert resource.state == agent_pb2.SUCCEEDED, resource
    assert resource.outputs == inputs, f"outputs differ from the inputs:\n{resource.outputs}\nvs\n{inputs}"
    assert not resource.HasField("agent_error"), resource


def test_echo_create_get_delete(async_stub, server):
    inputs = literal_map(ECHO_INPUTS)
    created = async_stub.CreateTask(create_request(plain_template("echo"), inputs), timeout=30)
    assert created.resource_meta, "CreateTask returned empty resource_meta"

    got = async_stub.GetTask(get_request("echo", created.resource_meta), timeout=30)
    assert_echo_succeeded(got.resource, inputs)

    # Polling again gives the same answer (state lives in resource_meta only).
    again = async_stub.GetTask(get_request("echo", created.resource_meta), timeout=30)
    assert again.resource == got.resource

    deleted = async_stub.DeleteTask(delete_request("echo", created.resource_meta), timeout=30)
    assert deleted == agent_pb2.DeleteTaskResponse()
    server.assert_alive()


def test_echo_get_routed_by_deprecated_task_type_only(async_stub):
    inputs = literal_map({"n": 1})
    created = async_stub.CreateTask(create_request(plain_template("echo"), inputs), timeout=30)
    request = get_request("echo", created.resource_meta, legacy_only=True)
    assert not request.HasField("task_category")
    got = async_stub.GetTask(request, timeout=30)
    assert_echo_succeeded(got.resource, inputs)


def test_echo_without_inputs(async_stub):
    created = async_stub.CreateTask(create_request(plain_template("echo")), timeout=30)
    got = async_stub.GetTask(get_request("echo", created.resource_meta), timeout=30)
    assert got.resource.phase == SUCCEEDED, got.resource
    assert got.resource.state == agent_pb2.SUCCEEDED
    assert len(got.resource.outputs.literals) == 0, got.resource


def test_wait_runs_then_succeeds(async_stub):
    seconds = 1
    created = async_stub.CreateTask(
        create_request(int_template("wait"), literal_map({"seconds": seconds})), timeout=30
    )
    started = time.monotonic()
    first = async_stub.GetTask(get_request("wait", created.resource_meta), timeout=30).resource
    assert first.phase == RUNNING, first
    assert first.state == agent_pb2.RUNNING, first
    assert "left" in first.message, first  # e.g. "0.9 s left"

    deadline = started + seconds + 10
    while True:
        resource = async_stub.GetTask(get_request("wait", created.resource_meta), timeout=30).resource
        if resource.phase != RUNNING:
            break
        assert resource.state == agent_pb2.RUNNING, resource
        assert time.monotonic() < deadline, f"wait job still RUNNING after {seconds + 10}s: {resource}"
        time.sleep(0.2)
    assert resource.phase == SUCCEEDED, resource
    assert resource.state == agent_pb2.SUCCEEDED, resource
    assert len(resource.outputs.literals) == 0, resource
    assert time.monotonic() - started >= seconds - 0.5


def test_resource_meta_works_on_another_server(server, server2):
    """Stateless: a job created on one replica is polled on another."""
    assert server.proc.pid != server2.proc.pid and server.address != server2.address
    created = server.async_stub.CreateTask(
        create_request(int_template("wait"), literal_map({"seconds": 1})), timeout=30
    )
    on_other = server2.async_stub.GetTask(get_request("wait", created.resource_meta), timeout=30).resource
    assert on_other.phase in (RUNNING, SUCCEEDED), on_other

    deadline = time.monotonic() + 10
    while on_other.phase == RUNNING:
        assert time.monotonic() < deadline, on_other
        time.sleep(0.2)
        on_other = server2.async_stub.GetTask(get_request("wait", created.resource_meta), timeout=30).resource
    assert on_other.phase == SUCCEEDED, on_other
    assert on_other.state == agent_pb2.SUCCEEDED

    # Echo too: outputs come back from the replica that never saw the create.
    inputs = literal_map(ECHO_INPUTS)
    created = server2.async_stub.CreateTask(create_request(plain_template("echo"), inputs), timeout=30)
    got = server.async_stub.GetTask(get_request("echo", created.resource_meta), timeout=30)
    assert_echo_succeeded(got.resource, inputs)
    server2.async_stub.DeleteTask(delete_request("echo", created.resource_meta), timeout=30)


def test_delete_a_running_wait_job(async_stub):
    """Propeller deletes only on abort, i.e. while the job runs."""
    created = async_stub.CreateTask(create_request(int_template("wait"), literal_map({"seconds": 30})), timeout=30)
    resource = async_stub.GetTask(get_request("wait", created.resource_meta), timeout=30).resource
    assert resource.phase == RUNNING, resource
    assert async_stub.DeleteTask(delete_request("wait", created.resource_meta), timeout=30) == agent_pb2.DeleteTaskResponse()
