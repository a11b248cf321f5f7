"""AgentMetadataService (what propeller polls), health and reflection."""

from __future__ import annotations

from types import SimpleNamespace

import grpc
import pytest
from google.protobuf.descriptor_pool import DescriptorPool
from flyteidl.admin import agent_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

FLYTEIDL_SERVICES = {
    "flyteidl.service.AsyncAgentService",
    "flyteidl.service.SyncAgentService",
    "flyteidl.service.AgentMetadataService",
}

# Agent name -> (sorted task types, is_sync), as the plugins describe themselves.
EXPECTED_AGENTS = {
    "echo": (["echo"], False),
    "wait": (["wait"], False),
    "echo_sync": (["echo_sync"], True),
    "faulty": (
        sorted(["fail_permanent", "fail_retryable", "trap_panic", "trap_unreachable", "out_of_bounds", "huge_meta"]),
        False,
    ),
    "faulty-sync": (sorted(["sync_fail_permanent", "sync_fail_retryable", "sync_trap"]), True),
    "observable": (["observed"], False),
    "secret-reader": (["read_secret"], True),
    "http-client": (["http_fetch"], True),
    "misbehave": (
        sorted(["spin", "memory_bomb", "deep_recursion", "huge_output", "open_file", "connect_socket"]
               + ["sleep_then_ok", "sleep", "compute", "ok", "remember", "scan"]),
        True,
    ),
}


def check_agent(agent: agent_pb2.Agent) -> None:
    types, is_sync = EXPECTED_AGENTS[agent.name]
    assert sorted(agent.supported_task_types) == types, agent
    assert sorted((c.name, c.version) for c in agent.supported_task_categories) == [(t, 0) for t in types], agent
    assert agent.is_sync is is_sync, agent


def test_list_agents_lists_every_plugin(metadata_stub, server):
    response = metadata_stub.ListAgents(agent_pb2.ListAgentsRequest(), timeout=10)
    names = [a.name for a in response.agents]
    assert sorted(names) == sorted(EXPECTED_AGENTS), server.diagnostics()
    assert len(names) == len(set(names)), f"an agent is listed twice: {names}"
    for agent in response.agents:
        check_agent(agent)


@pytest.mark.parametrize("name", sorted(EXPECTED_AGENTS))
def test_get_agent(metadata_stub, name):
    response = metadata_stub.GetAgent(agent_pb2.GetAgentRequest(name=name), timeout=10)
    assert response.agent.name == name
    check_agent(response.agent)


def test_get_unknown_agent_is_not_found_and_lists_known_agents(metadata_stub):
    with pytest.raises(grpc.RpcError) as info:
        metadata_stub.GetAgent(agent_pb2.GetAgentRequest(name="no-such-agent"), timeout=10)
    error = info.value
    assert error.code() == grpc.StatusCode.NOT_FOUND, error
    assert "no-such-agent" in error.details()
    for known in EXPECTED_AGENTS:
        assert known in error.details(), error.details()


@pytest.mark.parametrize("service", ["", *sorted(FLYTEIDL_SERVICES)])
def test_health_check_serving(server, service):
    stub = health_pb2_grpc.HealthStub(server.channel)
    response = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
    assert response.status == health_pb2.HealthCheckResponse.SERVING


def test_health_check_unknown_service_is_not_found(server):
    stub = health_pb2_grpc.HealthStub(server.channel)
    with pytest.raises(grpc.RpcError) as info:
        stub.Check(health_pb2.HealthCheckRequest(service="no.such.Service"), timeout=10)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


class V1ReflectionDatabase(ProtoReflectionDescriptorDatabase):
    """grpcio-reflection's database, speaking ``grpc.reflection.v1`` (its
    stub only knows ``v1alpha``; the two protocols have identical messages,
    only the service name differs)."""

    def __init__(self, channel: grpc.Channel):
        super().__init__(channel)
        from grpc_reflection.v1alpha import reflection_pb2

        self._stub = SimpleNamespace(
            ServerReflectionInfo=channel.stream_stream(
                "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
                request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
                response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
            )
        )


REFLECTION_DATABASES = {
    # What grpcio-reflection's client (and e.g. older grpcurl, Postman) speaks.
    "v1alpha": ProtoReflectionDescriptorDatabase,
    "v1": V1ReflectionDatabase,
}


@pytest.mark.parametrize("protocol", sorted(REFLECTION_DATABASES))
def test_reflection_lists_the_agent_services(server, protocol):
    database = REFLECTION_DATABASES[protocol](server.channel)
    services = set(database.get_services())
    missing = FLYTEIDL_SERVICES - services
    assert not missing, f"reflection lists {sorted(services)}"
    assert "grpc.health.v1.Health" in services, sorted(services)


@pytest.mark.parametrize("protocol", sorted(REFLECTION_DATABASES))
def test_reflection_describes_the_agent_methods(server, protocol):
    pool = DescriptorPool(REFLECTION_DATABASES[protocol](server.channel))
    methods = {
        "flyteidl.service.AsyncAgentService": {"CreateTask", "GetTask", "DeleteTask", "GetTaskMetrics", "GetTaskLogs"},
        "flyteidl.service.SyncAgentService": {"ExecuteTaskSync"},
        "flyteidl.service.AgentMetadataService": {"GetAgent", "ListAgents"},
    }
    for service, expected in methods.items():
        descriptor = pool.FindServiceByName(service)
        assert {m.name for m in descriptor.methods} == expected, service
    create = pool.FindServiceByName("flyteidl.service.AsyncAgentService").methods_by_name["CreateTask"]
    assert create.input_type.full_name == "flyteidl.admin.CreateTaskRequest"
    sync = pool.FindServiceByName("flyteidl.service.SyncAgentService").methods_by_name["ExecuteTaskSync"]
    assert sync.client_streaming and sync.server_streaming
