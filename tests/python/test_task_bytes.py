"""The protobuf bytes an agent receives with a CreateTask (`task.template.raw`,
`task.inputs-raw`) are the bytes the caller sent, including fields Hangar's
proto subset does not know.

The `observable` test agent hands back, in the job's `custom_info`, the hex of
what it received.
"""

from __future__ import annotations

from flyteidl.admin import agent_pb2
from flyteidl.core import execution_pb2, tasks_pb2

from flyte_tasks import create_request, get_request, literal_map, plain_template

Phase = execution_pb2.TaskExecution

# Field 999 of TaskTemplate, a varint 7: no flyteidl release defines it.
UNKNOWN_FIELD = bytes([0xB8, 0x3E, 0x07])


def received(async_stub, request: agent_pb2.CreateTaskRequest) -> tuple[bytes, bytes]:
    created = async_stub.CreateTask(request, timeout=30)
    resource = async_stub.GetTask(get_request("observed", created.resource_meta), timeout=30).resource
    assert resource.phase == Phase.SUCCEEDED, resource
    info = resource.custom_info
    return bytes.fromhex(info["template_raw"]), bytes.fromhex(info["inputs_raw"])


def test_the_agent_receives_the_template_and_inputs_as_sent(async_stub):
    template = plain_template("observed")
    template.config["b"] = "2"
    template.config["a"] = "1"
    inputs = literal_map({"n": 3, "s": "hi"})
    template_raw, inputs_raw = received(async_stub, create_request(template, inputs))
    assert template_raw == template.SerializeToString()
    assert inputs_raw == inputs.SerializeToString()
    assert tasks_pb2.TaskTemplate.FromString(template_raw) == template


def test_fields_hangar_does_not_know_reach_the_agent(async_stub):
    template = tasks_pb2.TaskTemplate.FromString(plain_template("observed").SerializeToString() + UNKNOWN_FIELD)
    request = create_request(template, literal_map({"n": 1}))
    template_raw, _ = received(async_stub, request)
    assert template_raw.endswith(UNKNOWN_FIELD), template_raw.hex()
    assert template_raw == template.SerializeToString()


def test_no_inputs_are_empty_bytes(async_stub):
    request = create_request(plain_template("observed"))
    request.ClearField("inputs")
    _, inputs_raw = received(async_stub, request)
    assert inputs_raw == b""
