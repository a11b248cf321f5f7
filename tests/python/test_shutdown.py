"""Graceful shutdown: on SIGTERM health turns NOT_SERVING, new calls are
refused after the drain delay, calls in flight finish, and the process
exits 0. No accepted call is ever cut off."""

from __future__ import annotations

import signal
import threading
import time

import grpc
from flyteidl.core import execution_pb2
from flyteidl.service import agent_pb2_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from flyte_tasks import execute_sync, literal_map, plain_template

SUCCEEDED = execution_pb2.TaskExecution.SUCCEEDED
CALL_MS = 1000
WORKERS = 6


def test_sigterm_drains_calls_in_flight_and_exits_0(start_server):
    srv = start_server(["misbehave"], "--shutdown-drain-ms", "1500", "--shutdown-grace-seconds", "30")
    lock = threading.Lock()
    # (started, outcome) per call; outcome "OK" or a status code name.
    calls: list[tuple[float, str, str]] = []
    done = threading.Event()

    def worker() -> None:
        channel = grpc.insecure_channel(srv.address)
        stub = agent_pb2_grpc.SyncAgentServiceStub(channel)
        try:
            while not done.is_set():
                started = time.monotonic()
                try:
                    response = execute_sync(
                        stub, plain_template("sleep_then_ok"), literal_map({"ms": CALL_MS}), timeout=30
                    )
                except grpc.RpcError as e:
                    outcome, detail = e.code().name, e.details() or ""
                else:
                    phase = response.header.resource.phase
                    outcome, detail = ("OK", "") if phase == SUCCEEDED else (f"phase {phase}", "")
                with lock:
                    calls.append((started, outcome, detail))
                if outcome != "OK":
                    return
        finally:
            channel.close()

    health_seen: list[str] = []

    def health_poller() -> None:
        channel = grpc.insecure_channel(srv.address)
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            while not done.is_set():
                try:
                    status = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=2).status
                    health_seen.append(health_pb2.HealthCheckResponse.ServingStatus.Name(status))
                except grpc.RpcError as e:
                    health_seen.append(e.code().name)
                    if srv.proc.poll() is not None:
                        return
                time.sleep(0.05)
        finally:
            channel.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(WORKERS)]
    threads.append(threading.Thread(target=health_poller, daemon=True))
    for thread in threads:
        thread.start()
    time.sleep(2.5)
    sigterm_at = time.monotonic()
    srv.proc.send_signal(signal.SIGTERM)
    returncode = srv.proc.wait(timeout=40)
    done.set()
    for thread in threads:
        thread.join(timeout=40)

    stderr = srv.stderr()
    assert returncode == 0, srv.diagnostics()
    assert "SERVING" in health_seen and "NOT_SERVING" in health_seen, health_seen
    assert health_seen.index("NOT_SERVING") > health_seen.index("SERVING")
    ok = [c for c in calls if c[1] == "OK"]
    refused = [c for c in calls if c[1] != "OK"]
    # Every call started before SIGTERM was accepted and must have finished.
    cut_off = [c for c in refused if c[0] < sigterm_at]
    assert not cut_off, f"accepted calls cut off: {cut_off}\n{srv.diagnostics()}"
    # Calls after it either ran to completion (during the drain) or were
    # refused at the door.
    assert all(c[1] == "UNAVAILABLE" for c in refused), refused
    assert len([c for c in ok if c[0] < sigterm_at]) >= WORKERS, calls
    assert any(c[0] > sigterm_at for c in ok), "calls during the drain delay are still served"
    assert "dropping the calls still running" not in stderr
