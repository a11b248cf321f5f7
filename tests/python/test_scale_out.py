"""Stateless scale-out: three ``hangar serve`` replicas behind a client that
spreads every call across them, as propeller does with
``defaultServiceConfig: round_robin`` over a Service's endpoints.

Each task is created on one replica, polled on another and deleted on a
third; all a later call needs travels in ``resource_meta``, so any replica
answers any task. One replica is then killed mid-run (SIGKILL, like a node
loss) and the two that remain finish the tasks it created.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import grpc
import pytest
from flyteidl.admin import agent_pb2
from flyteidl.core import execution_pb2
from flyteidl.service import agent_pb2_grpc

from flyte_tasks import (
    create_request,
    delete_request,
    execute_sync,
    get_request,
    int_template,
    literal_map,
    plain_template,
)

SUCCEEDED = execution_pb2.TaskExecution.SUCCEEDED
RUNNING = execution_pb2.TaskExecution.RUNNING

PLUGINS = ["echo", "wait", "echo-sync"]
REPLICAS = 3
ECHO_TASKS = 60
WAIT_TASKS = 20
WAIT_SECONDS = 1
CALL_TIMEOUT_S = 30.0
POLL_INTERVAL_S = 0.1
# Bound on any polling loop: the job length plus generous slack.
POLL_DEADLINE_S = WAIT_SECONDS + 30.0


def echo_inputs(i: int):
    return literal_map({"i": i, "s": f"task-{i}", "x": i / 4, "ok": i % 2 == 0, "xs": [i, i + 1]})


@dataclass
class Replicas:
    """A client over several replicas: ``pick(n)`` names the replica that
    serves the n-th call (round-robin), skipping ones marked dead."""

    servers: list
    dead: set[int] = field(default_factory=set)
    calls: dict[int, int] = field(default_factory=dict)

    def alive(self) -> list[int]:
        return [i for i in range(len(self.servers)) if i not in self.dead]

    def pick(self, n: int) -> int:
        alive = self.alive()
        assert alive, "no replica left"
        return alive[n % len(alive)]

    def stub(self, index: int) -> agent_pb2_grpc.AsyncAgentServiceStub:
        self.calls[index] = self.calls.get(index, 0) + 1
        return self.servers[index].async_stub

    def get(self, index: int, task_type: str, meta: bytes) -> agent_pb2.Resource:
        return self.stub(index).GetTask(get_request(task_type, meta), timeout=CALL_TIMEOUT_S).resource

    def diagnostics(self) -> str:
        return "\n".join(s.diagnostics() for s in self.servers)


@pytest.fixture
def replicas(start_server) -> Replicas:
    servers = [start_server(PLUGINS) for _ in range(REPLICAS)]
    addresses = {s.address for s in servers}
    pids = {s.proc.pid for s in servers}
    assert len(addresses) == REPLICAS and len(pids) == REPLICAS, "replicas must be separate processes"
    return Replicas(servers)


def assert_echo(resource: agent_pb2.Resource, inputs, where: str) -> None:
    assert resource.phase == SUCCEEDED, f"{where}: {resource}"
    assert resource.state == agent_pb2.SUCCEEDED, f"{where}: {resource}"
    assert resource.outputs == inputs, f"{where}: outputs differ from the inputs:\n{resource.outputs}\nvs\n{inputs}"
    assert not resource.HasField("agent_error"), f"{where}: {resource}"


def poll_until_done(
    replicas: Replicas, metas: dict[int, bytes], seen: dict[int, list[tuple[int, int]]], start_call: int = 0
) -> dict[int, agent_pb2.Resource]:
    """Polls every wait job round-robin across the live replicas until none
    is RUNNING (bounded). Records (replica, phase) of every answer in
    ``seen[task]``; returns each job's final resource."""
    final: dict[int, agent_pb2.Resource] = {}
    call = start_call
    deadline = time.monotonic() + POLL_DEADLINE_S
    while len(final) < len(metas):
        for task, meta in metas.items():
            if task in final:
                continue
            index = replicas.pick(call)
            call += 1
            resource = replicas.get(index, "wait", meta)
            seen.setdefault(task, []).append((index, resource.phase))
            if resource.phase == RUNNING:
                assert resource.state == agent_pb2.RUNNING, f"wait task {task} on replica {index}: {resource}"
            else:
                final[task] = resource
        if len(final) < len(metas):
            assert time.monotonic() < deadline, (
                f"{len(metas) - len(final)} wait job(s) still RUNNING after {POLL_DEADLINE_S:.0f}s\n"
                + replicas.diagnostics()
            )
            time.sleep(POLL_INTERVAL_S)
    return final


def test_any_replica_answers_any_task(replicas):
    """60 echo and 20 wait tasks: create, get and delete each land on three
    different replicas; every answer is the same whichever replica gives it."""
    n = REPLICAS

    # Echo: create on r, get on r+1, delete on r+2.
    for task in range(ECHO_TASKS):
        inputs = echo_inputs(task)
        created_on, got_on, deleted_on = task % n, (task + 1) % n, (task + 2) % n
        created = replicas.stub(created_on).CreateTask(
            create_request(plain_template("echo"), inputs), timeout=CALL_TIMEOUT_S
        )
        assert created.resource_meta, f"echo task {task}: empty resource_meta from replica {created_on}"
        got = replicas.get(got_on, "echo", created.resource_meta)
        assert_echo(got, inputs, f"echo task {task} created on {created_on}, got on {got_on}")
        deleted = replicas.stub(deleted_on).DeleteTask(
            delete_request("echo", created.resource_meta), timeout=CALL_TIMEOUT_S
        )
        assert deleted == agent_pb2.DeleteTaskResponse()

    # Wait: create on r; the first get, right away, on r+1 sees RUNNING.
    metas: dict[int, bytes] = {}
    seen: dict[int, list[tuple[int, int]]] = {}
    started = time.monotonic()
    for task in range(WAIT_TASKS):
        created_on, first_get_on = task % n, (task + 1) % n
        created = replicas.stub(created_on).CreateTask(
            create_request(int_template("wait"), literal_map({"seconds": WAIT_SECONDS})), timeout=CALL_TIMEOUT_S
        )
        metas[task] = created.resource_meta
        first = replicas.get(first_get_on, "wait", created.resource_meta)
        assert first.phase == RUNNING, f"wait task {task} created on {created_on}, got on {first_get_on}: {first}"
        assert first.state == agent_pb2.RUNNING, first
        seen[task] = [(first_get_on, first.phase)]

    # Then every poll goes to the next replica in turn until all succeed
    # (starting so that no job's second answer comes from its first's replica).
    final = poll_until_done(replicas, metas, seen, start_call=2)
    assert time.monotonic() - started >= WAIT_SECONDS - 0.5
    for task, resource in final.items():
        assert resource.phase == SUCCEEDED, f"wait task {task}: {resource}"
        assert resource.state == agent_pb2.SUCCEEDED, f"wait task {task}: {resource}"
        assert len(resource.outputs.literals) == 0, resource
        answered_by = {index for index, _ in seen[task]}
        phases = [phase for _, phase in seen[task]]
        assert phases[0] == RUNNING and phases[-1] == SUCCEEDED, (task, seen[task])
        # Each job was polled on more than one replica (round-robin over 3).
        assert len(answered_by) >= 2, (task, seen[task])

    # Delete every finished wait job on yet another replica.
    for task, meta in metas.items():
        index = (task + 2) % n
        assert replicas.stub(index).DeleteTask(
            delete_request("wait", meta), timeout=CALL_TIMEOUT_S
        ) == agent_pb2.DeleteTaskResponse()

    # Sync agent too: one call per replica, same answer from each.
    for index in range(n):
        inputs = echo_inputs(1000 + index)
        response = execute_sync(replicas.servers[index].sync_stub, plain_template("echo_sync"), inputs)
        assert_echo(response.header.resource, inputs, f"echo_sync on replica {index}")

    # Every replica served a fair share, and all are still up.
    assert all(replicas.calls.get(i, 0) >= ECHO_TASKS for i in range(n)), replicas.calls
    for server in replicas.servers:
        server.assert_alive()


def test_survivors_finish_tasks_of_a_killed_replica(replicas):
    """Kill one replica while its wait jobs run: the other two keep
    answering GetTask for every task, including those it created."""
    n = REPLICAS
    victim = 0
    wait_seconds = 3  # long enough that the kill lands while jobs run

    echo_metas: dict[int, tuple[bytes, object]] = {}
    wait_metas: dict[int, bytes] = {}
    created_on: dict[str, int] = {}
    for task in range(12):
        inputs = echo_inputs(task)
        index = task % n
        echo_metas[task] = (
            replicas.stub(index).CreateTask(create_request(plain_template("echo"), inputs), timeout=CALL_TIMEOUT_S).resource_meta,
            inputs,
        )
        created_on[f"echo{task}"] = index
    started = time.monotonic()
    for task in range(12):
        index = task % n
        wait_metas[task] = replicas.stub(index).CreateTask(
            create_request(int_template("wait"), literal_map({"seconds": wait_seconds})), timeout=CALL_TIMEOUT_S
        ).resource_meta
        created_on[f"wait{task}"] = index
    assert sum(1 for i in created_on.values() if i == victim) == 8, created_on

    # Kill the victim while the jobs still run.
    server = replicas.servers[victim]
    server.proc.kill()
    server.proc.wait(timeout=10)
    assert time.monotonic() - started < wait_seconds, "too slow: the jobs ended before the kill"

    # The dead replica refuses calls (a client's round-robin drops it) ...
    with pytest.raises(grpc.RpcError) as failure:
        replicas.get(victim, "wait", wait_metas[0])
    assert failure.value.code() == grpc.StatusCode.UNAVAILABLE, failure.value
    replicas.dead.add(victim)

    # ... and the survivors answer for every task, the victim's included.
    for task, (meta, inputs) in echo_metas.items():
        index = replicas.pick(task)
        assert_echo(
            replicas.get(index, "echo", meta),
            inputs,
            f"echo task {task} created on {created_on[f'echo{task}']}, got on survivor {index}",
        )
    seen: dict[int, list[tuple[int, int]]] = {}
    final = poll_until_done(replicas, wait_metas, seen)
    for task, resource in final.items():
        where = f"wait task {task} created on {created_on[f'wait{task}']}, answers {seen[task]}"
        assert resource.phase == SUCCEEDED, f"{where}: {resource}"
        assert resource.state == agent_pb2.SUCCEEDED, where
        assert seen[task][0][1] == RUNNING, f"{where}: the first poll after the kill should still be RUNNING"
        assert {index for index, _ in seen[task]} <= {1, 2}, where

    # Deleting the victim's tasks works on a survivor too.
    for task, meta in wait_metas.items():
        if created_on[f"wait{task}"] == victim:
            index = replicas.pick(task)
            assert replicas.stub(index).DeleteTask(
                delete_request("wait", meta), timeout=CALL_TIMEOUT_S
            ) == agent_pb2.DeleteTaskResponse()
    for index in replicas.alive():
        replicas.servers[index].assert_alive()


def test_grpc_round_robin_channel_over_replicas(replicas):
    """The client side propeller uses: one gRPC channel, round_robin load
    balancing over every replica's address. Jobs created through it finish
    through it, also after one replica is killed."""
    target = "ipv4:" + ",".join(s.address for s in replicas.servers)
    options = [
        ("grpc.service_config", '{"loadBalancingConfig": [{"round_robin":{}}]}'),
        # An ipv4: list has no single authority; name one, as a DNS name would.
        ("grpc.default_authority", "hangar.test:8000"),
    ]
    with grpc.insecure_channel(target, options=options) as channel:
        grpc.channel_ready_future(channel).result(timeout=10)
        stub = agent_pb2_grpc.AsyncAgentServiceStub(channel)

        def run_echo(task: int) -> None:
            inputs = echo_inputs(task)
            meta = stub.CreateTask(create_request(plain_template("echo"), inputs), timeout=CALL_TIMEOUT_S).resource_meta
            got = stub.GetTask(get_request("echo", meta), timeout=CALL_TIMEOUT_S).resource
            assert_echo(got, inputs, f"echo task {task} through the round_robin channel")

        for task in range(9):
            run_echo(task)
        wait_meta = stub.CreateTask(
            create_request(int_template("wait"), literal_map({"seconds": WAIT_SECONDS})), timeout=CALL_TIMEOUT_S
        ).resource_meta

        replicas.servers[1].proc.kill()
        replicas.servers[1].proc.wait(timeout=10)
        # Let the channel see the connection close (propeller would retry a
        # call that raced it, as for any transient error).
        time.sleep(0.5)

        # wait_for_ready: a call picked for the dead address waits for the
        # balancer to drop it instead of failing at once.
        for task in range(9, 18):
            inputs = echo_inputs(task)
            meta = stub.CreateTask(
                create_request(plain_template("echo"), inputs), timeout=CALL_TIMEOUT_S, wait_for_ready=True
            ).resource_meta
            got = stub.GetTask(get_request("echo", meta), timeout=CALL_TIMEOUT_S, wait_for_ready=True).resource
            assert_echo(got, inputs, f"echo task {task} after a replica died")

        deadline = time.monotonic() + POLL_DEADLINE_S
        while True:
            resource = stub.GetTask(get_request("wait", wait_meta), timeout=CALL_TIMEOUT_S, wait_for_ready=True).resource
            if resource.phase != RUNNING:
                break
            assert time.monotonic() < deadline, resource
            time.sleep(POLL_INTERVAL_S)
        assert resource.phase == SUCCEEDED, resource
        assert resource.state == agent_pb2.SUCCEEDED, resource
