"""The protobuf bytes an agent receives with a CreateTask (`task.template.raw`,
`task.inputs-raw`) are the bytes the caller sent, including fields Hangar's
proto subset does not know.

The `observable` test agent hands back, in the job's `custom_info`, the hex of
what it received. Python's protobuf writes map entries in an order of its
own, which may change from one serialization to the next, so the tests that
compare bytes send a request serialized once, through the flyteidl client's
method path with an identity serializer.
"""

from __future__ import annotations

from flyteidl.admin import agent_pb2
from flyteidl.core import execution_pb2, literals_pb2, tasks_pb2

from flyte_tasks import create_request, get_request, literal_map, plain_template

Phase = execution_pb2.TaskExecution

# Field 999 of TaskTemplate, a varint 7: no flyteidl release defines it.
UNKNOWN_FIELD = bytes([0xB8, 0x3E, 0x07])


def create_task_as_bytes(server, request: bytes) -> agent_pb2.CreateTaskResponse:
    create = server.channel.unary_unary(
        "/flyteidl.service.AsyncAgentService/CreateTask",
        request_serializer=lambda raw: raw,
        response_deserializer=agent_pb2.CreateTaskResponse.FromString,
    )
    return create(request, timeout=30)


def received(server, request: agent_pb2.CreateTaskRequest | bytes) -> tuple[bytes, bytes]:
    if isinstance(request, bytes):
        created = create_task_as_bytes(server, request)
    else:
        created = server.async_stub.CreateTask(request, timeout=30)
    resource = server.async_stub.GetTask(get_request("observed", created.resource_meta), timeout=30).resource
    assert resource.phase == Phase.SUCCEEDED, resource
    info = resource.custom_info
    return bytes.fromhex(info["template_raw"]), bytes.fromhex(info["inputs_raw"])


def test_the_agent_receives_the_template_and_inputs_as_sent(server):
    # Config entries "b" then "a", each written alone (so in a known order),
    # after the rest of the template: a decoder merges them into one map.
    template = b"".join(
        t.SerializeToString()
        for t in (
            plain_template("observed"),
            tasks_pb2.TaskTemplate(config={"b": "2"}),
            tasks_pb2.TaskTemplate(config={"a": "1"}),
        )
    )
    inputs = literal_map({"n": 3}).SerializeToString()
    request = agent_pb2.CreateTaskRequest(
        inputs=literals_pb2.LiteralMap.FromString(inputs),
        template=tasks_pb2.TaskTemplate.FromString(template),
        output_prefix="s3://bucket/out",
    )
    # The same request with its two fields as bytes of our making.
    rest = agent_pb2.CreateTaskRequest(output_prefix=request.output_prefix).SerializeToString()
    as_sent = field(1, inputs) + field(2, template) + rest
    assert agent_pb2.CreateTaskRequest.FromString(as_sent) == request
    template_raw, inputs_raw = received(server, as_sent)
    assert template_raw == template
    assert inputs_raw == inputs
    assert dict(tasks_pb2.TaskTemplate.FromString(template_raw).config) == {"a": "1", "b": "2"}


def field(number: int, payload: bytes) -> bytes:
    """A length-delimited field (payloads here are under 128 bytes)."""
    assert len(payload) < 128
    return bytes([number << 3 | 2, len(payload)]) + payload


def test_fields_hangar_does_not_know_reach_the_agent(server):
    template = tasks_pb2.TaskTemplate.FromString(plain_template("observed").SerializeToString() + UNKNOWN_FIELD)
    request = create_request(template, literal_map({"n": 1}))
    template_raw, _ = received(server, request)
    assert template_raw.endswith(UNKNOWN_FIELD), template_raw.hex()
    assert tasks_pb2.TaskTemplate.FromString(template_raw) == template


def test_no_inputs_are_empty_bytes(server):
    request = create_request(plain_template("observed"))
    request.ClearField("inputs")
    _, inputs_raw = received(server, request)
    assert inputs_raw == b""
