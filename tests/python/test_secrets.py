"""The secrets capability, end to end: the `secret-reader` fixture asks the
host for the secret named in its input through `flyte:agent/secrets`, and
the host answers from its configured sources (``--config``: an environment
prefix and a directory of files, the way Kubernetes mounts a Secret) only for
names the plugin's manifest grants.

Every test gets its own server, plugin directory, secret directory and audit
file, so each test sees exactly the accesses it made.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from flyteidl.admin import agent_pb2
from flyteidl.core import execution_pb2

from conftest import HangarServer
from flyte_tasks import execute_sync, literal_map, plain_template

Phase = execution_pb2.TaskExecution

ENV_PREFIX = "_HANGAR_TEST_"
GRANTED = "granted_one"
FILE_VALUE = "s3cr3t-from-the-file-7f3a9c"
ENV_VALUE = "s3cr3t-from-the-env-b81e44"
OTHER_VALUE = "s3cr3t-not-granted-5d20e1"
OUTSIDE_VALUE = "s3cr3t-outside-the-dir-c9d3aa"
ALL_VALUES = [FILE_VALUE, ENV_VALUE, OTHER_VALUE, OUTSIDE_VALUE]
# The host's per-call limit (host/src/secrets/guest_access.rs).
MAX_READS_PER_CALL = 64


@dataclass
class SecretsHost:
    server: HangarServer
    root: Path
    secrets_dir: Path
    audit_path: Path

    def read(self, name: str, **inputs) -> agent_pb2.Resource:
        response = execute_sync(
            self.server.sync_stub, plain_template("read_secret"), literal_map({"name": name, **inputs})
        )
        assert response.WhichOneof("res") == "header", response
        return response.header.resource

    def audit(self) -> list[dict]:
        """The secret_access events so far."""
        if not self.audit_path.exists():
            return []
        events = [json.loads(line) for line in self.audit_path.read_text().splitlines() if line.strip()]
        return [e for e in events if e["event"] == "secret_access"]


def kubernetes_mount(secrets_dir: Path, files: dict[str, str]) -> None:
    """Writes `files` the way the kubelet mounts a Secret: the values live in
    a timestamped directory, `..data` points at it, and each NAME is a
    symlink to `..data/NAME`."""
    version = secrets_dir / "..2025_01_01_00_00_00.000000001"
    version.mkdir(parents=True)
    for name, value in files.items():
        (version / name).write_text(value)
        os.symlink(f"..data/{name}", secrets_dir / name)
    os.symlink(version.name, secrets_dir / "..data")


@pytest.fixture
def secrets_host(start_server, plugin_files, tmp_path, monkeypatch):
    """Factory: ``secrets_host(manifest=..., env=...)`` → SecretsHost.

    The secret directory holds ``granted_one`` and ``not_granted`` (mounted
    Kubernetes-style); a file ``x`` sits just outside it.
    """
    counter = iter(range(100))

    def make(manifest: str | None = f'[secrets]\nnames = ["{GRANTED}"]\n', env: dict[str, str] | None = None,
             rust_log: str | None = None) -> SecretsHost:
        root = tmp_path / f"host{next(counter)}"
        plugins = root / "plugins"
        plugins.mkdir(parents=True)
        (plugins / "secret-reader.wasm").write_bytes(plugin_files["secret-reader"].read_bytes())
        if manifest is not None:
            (plugins / "secret-reader.toml").write_text(manifest)
        secrets_dir = root / "secrets"
        kubernetes_mount(secrets_dir, {GRANTED: FILE_VALUE + "\n", "not_granted": OTHER_VALUE})
        (root / "x").write_text(OUTSIDE_VALUE)
        audit_path = root / "audit.jsonl"
        config = root / "hangar.toml"
        config.write_text(
            f'[secrets]\nenv_prefix = "{ENV_PREFIX}"\ndir = "{secrets_dir}"\n'
            f'[audit]\ndestination = "{audit_path}"\n'
        )
        for key, value in (env or {}).items():
            monkeypatch.setenv(key, value)
        if rust_log is not None:
            monkeypatch.setenv("RUST_LOG", rust_log)
        server = start_server(plugins, "--config", str(config))
        return SecretsHost(server=server, root=root, secrets_dir=secrets_dir, audit_path=audit_path)

    return make


def assert_value(resource: agent_pb2.Resource, value: str) -> None:
    assert resource.phase == Phase.SUCCEEDED, resource
    assert resource.outputs.literals["value"].scalar.primitive.string_value == value, resource


def assert_refused(resource: agent_pb2.Resource, code: str) -> None:
    assert resource.phase == Phase.FAILED, resource
    assert resource.state == agent_pb2.PERMANENT_FAILURE, resource
    assert resource.agent_error.code == code, resource
    assert resource.agent_error.kind == agent_pb2.AgentError.NON_RECOVERABLE, resource
    assert len(resource.outputs.literals) == 0, resource
    for value in ALL_VALUES:
        assert value not in resource.message, resource


def test_granted_secret_from_a_kubernetes_style_mount(secrets_host):
    host = secrets_host()
    assert os.path.islink(host.secrets_dir / GRANTED)
    # The file's trailing newline is dropped.
    assert_value(host.read(GRANTED), FILE_VALUE)


def test_granted_secret_from_the_environment_wins_over_the_file(secrets_host):
    host = secrets_host(env={ENV_PREFIX + GRANTED: ENV_VALUE})
    assert_value(host.read(GRANTED), ENV_VALUE)


def test_a_secret_the_manifest_does_not_grant_is_refused_even_if_present(secrets_host):
    host = secrets_host(env={ENV_PREFIX + "not_granted": OTHER_VALUE})
    assert (host.secrets_dir / "not_granted").exists()
    resource = host.read("not_granted")
    assert_refused(resource, "SecretNotGranted")
    assert "not_granted" in resource.message, resource


def test_a_granted_secret_without_a_value_is_not_found(secrets_host):
    host = secrets_host(manifest=f'[secrets]\nnames = ["{GRANTED}", "missing_one"]\n')
    resource = host.read("missing_one")
    assert_refused(resource, "SecretNotFound")
    # The guest is not told where the host looked.
    assert str(host.secrets_dir) not in resource.message and ENV_PREFIX not in resource.message, resource


@pytest.mark.parametrize(
    "name", ["../x", "..", "../secrets/granted_one", "/etc/passwd", f"./{GRANTED}", f"sub/{GRANTED}", ""]
)
def test_names_that_could_escape_the_directory_are_refused(secrets_host, name):
    host = secrets_host()
    assert_refused(host.read(name), "SecretNotGranted")
    [event] = host.audit()
    assert event["allowed"] is False and event["name"] == name, event


def test_a_plugin_without_a_manifest_can_read_nothing(secrets_host):
    host = secrets_host(manifest=None, env={ENV_PREFIX + GRANTED: ENV_VALUE})
    for name in [GRANTED, "not_granted", "missing_one"]:
        assert_refused(host.read(name), "SecretNotGranted")
    assert [e["allowed"] for e in host.audit()] == [False, False, False]


def test_every_access_is_audited_without_values(secrets_host):
    host = secrets_host(manifest=f'[secrets]\nnames = ["{GRANTED}", "missing_one"]\n')
    assert_value(host.read(GRANTED), FILE_VALUE)
    assert_refused(host.read("not_granted"), "SecretNotGranted")
    assert_refused(host.read("missing_one"), "SecretNotFound")
    assert_refused(host.read("../x"), "SecretNotGranted")
    events = host.audit()
    assert [(e["name"], e["allowed"]) for e in events] == [
        (GRANTED, True),
        ("not_granted", False),
        ("missing_one", True),
        ("../x", False),
    ], events
    for event in events:
        assert event["plugin"] == "secret-reader", event
        assert event["task"], event
        assert event["reason"], event
        assert event["ts"].endswith("Z"), event
    text = host.audit_path.read_text()
    for value in ALL_VALUES:
        assert value not in text


def test_values_never_reach_the_server_log(secrets_host):
    host = secrets_host(
        env={ENV_PREFIX + GRANTED: ENV_VALUE},
        rust_log="info,hangar=trace,secrets=trace,plugin=trace",
    )
    assert_value(host.read(GRANTED), ENV_VALUE)
    assert_refused(host.read("not_granted"), "SecretNotGranted")
    host.server.stop()
    log = host.server.stderr()
    # The refusal is logged, with its reason, by name.
    assert "not_granted" in log and "not granted" in log, log
    for value in ALL_VALUES:
        assert value not in log, log


def test_reads_per_call_are_limited(secrets_host):
    host = secrets_host()
    assert_value(host.read(GRANTED, times=MAX_READS_PER_CALL), FILE_VALUE)
    assert len(host.audit()) == MAX_READS_PER_CALL
    # One read more in the same call is refused; the next call starts afresh.
    assert_refused(host.read(GRANTED, times=MAX_READS_PER_CALL + 1), "TooManySecretReads")
    assert_value(host.read(GRANTED), FILE_VALUE)


def test_a_plugin_that_keeps_reading_past_the_limit_is_stopped(secrets_host):
    host = secrets_host()
    with pytest.raises(grpc.RpcError) as info:
        host.read(GRANTED, times=MAX_READS_PER_CALL + 10, ignore_errors=True)
    assert info.value.code() == grpc.StatusCode.INTERNAL, info.value
    assert "kept reading secrets" in info.value.details(), info.value.details()
    # The read that was refused and the one that stopped the call are both audited, no more.
    events = host.audit()
    assert len(events) == MAX_READS_PER_CALL + 2, len(events)
    assert [e["allowed"] for e in events[-2:]] == [False, False]
    host.server.assert_alive()
    assert_value(host.read(GRANTED), FILE_VALUE)
