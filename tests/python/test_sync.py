"""SyncAgentService/ExecuteTaskSync with the `echo_sync` example, as
propeller drives it: a header, then the inputs; only the first response is
read and must be a header whose resource is terminal and holds the outputs."""

from __future__ import annotations

import grpc
import pytest
from flyteidl.admin import agent_pb2
from flyteidl.core import execution_pb2

from flyte_tasks import OUTPUT_PREFIX, execute_sync, execution_metadata, literal_map, plain_template, sync_messages


def test_echo_sync_returns_outputs_in_the_first_header(sync_stub):
    inputs = literal_map({"n": 3, "x": 0.5, "s": "sync", "ok": False, "xs": [1, 2, 3]})
    response = execute_sync(sync_stub, plain_template("echo_sync"), inputs)
    assert response.WhichOneof("res") == "header", response
    resource = response.header.resource
    assert resource.phase == execution_pb2.TaskExecution.SUCCEEDED, resource
    assert resource.state == agent_pb2.SUCCEEDED, resource
    assert resource.outputs == inputs
    assert not resource.HasField("agent_error")


def test_echo_sync_stream_has_exactly_one_response(sync_stub):
    inputs = literal_map({"n": 1})
    responses = list(sync_stub.ExecuteTaskSync(iter(sync_messages(plain_template("echo_sync"), inputs)), timeout=30))
    assert len(responses) == 1, responses
    assert responses[0].header.resource.outputs == inputs


def test_echo_sync_without_inputs_message(sync_stub):
    """A task without inputs may close the stream right after the header."""
    response = execute_sync(sync_stub, plain_template("echo_sync"), None)
    assert response.header.resource.phase == execution_pb2.TaskExecution.SUCCEEDED, response
    assert len(response.header.resource.outputs.literals) == 0


def test_inputs_before_header_is_invalid_argument(sync_stub):
    messages = [agent_pb2.ExecuteTaskSyncRequest(inputs=literal_map({"n": 1}))]
    with pytest.raises(grpc.RpcError) as info:
        next(sync_stub.ExecuteTaskSync(iter(messages), timeout=30))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, info.value
    assert "header" in info.value.details()


def test_two_headers_is_invalid_argument(sync_stub):
    header = agent_pb2.ExecuteTaskSyncRequest(
        header=agent_pb2.CreateRequestHeader(
            template=plain_template("echo_sync"), output_prefix=OUTPUT_PREFIX, task_execution_metadata=execution_metadata()
        )
    )
    with pytest.raises(grpc.RpcError) as info:
        next(sync_stub.ExecuteTaskSync(iter([header, header]), timeout=30))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, info.value
    assert "inputs" in info.value.details()
