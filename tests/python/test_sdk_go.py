"""The Go guest SDK (sdk/go, module `hangar.local/hangar`).

First natively: `go test` of the SDK and of the http-job example (their
logic runs without WebAssembly), `go vet` of the wasip1 side, and the check
that the committed wit-bindgen bindings match the WIT. Then end to end: the
echo fixtures (`bash build/guests-go.sh`) served by a real `hangar serve`
and driven through the flyteidl gRPC API: every flytekit type round-trips,
agent errors and panics become FAILED / RETRYABLE_FAILED, and the host
imports (secrets, config, logging) answer.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from flyteidl.admin import agent_pb2
from flyteidl.core import execution_pb2

from conftest import REPO_ROOT, ServerStartError, launch_server
from flyte_tasks import (
    CASES,
    comparable,
    create_request,
    delete_request,
    echo_template,
    execute_sync,
    from_literal_map,
    get_request,
    literal_map,
    plain_template,
    to_literal_map,
)

Phase = execution_pb2.TaskExecution
BUILD = "bash build/guests-go.sh"
SDK = REPO_ROOT / "sdk" / "go"
TOOLS = REPO_ROOT / "target" / "tools" / "go"
WIT_BINDGEN_VERSION = "0.61.1"
# A config value larger than a whole task, for the arena test below.
LONG_CONFIG = "L" * 8192
ECHO_WASM = REPO_ROOT / "target" / "test-plugins" / "echo-go.wasm"
ECHO_SYNC_WASM = REPO_ROOT / "target" / "test-plugins" / "echo-sync-go.wasm"
# The SDK's packages that compile natively (internal/wit is wasip1 only).
NATIVE_PACKAGES = [".", "./fetch", "./secrets", "./config", "./log", "./internal/witruntime", "./internal/wittypes"]


def go() -> str:
    found = shutil.which("go") or ("/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").exists() else None)
    if found is None:
        pytest.fail("go is not on PATH: install Go 1.25+ (https://go.dev/dl/)", pytrace=False)
    return found


def run(argv: list[str], cwd: Path, timeout: float = 300, env: dict | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        argv, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=dict(os.environ, **(env or {}))
    )
    assert proc.returncode == 0, f"{' '.join(argv)} (in {cwd}) exited with {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    return proc


# --------------------------------------------------------------------------
# Natively


def test_sdk_unit_tests_pass_natively():
    out = run([go(), "test", "-count=1", *NATIVE_PACKAGES], SDK).stdout
    for package in (
        "hangar.local/hangar\t",
        "hangar.local/hangar/fetch",
        "hangar.local/hangar/secrets",
        "hangar.local/hangar/internal/witruntime",
        "hangar.local/hangar/internal/wittypes",
    ):
        assert f"ok  \t{package}" in out, out


def test_http_job_agent_unit_tests_pass_natively():
    out = run([go(), "test", "-count=1", "./..."], REPO_ROOT / "guest-examples" / "go" / "http-job").stdout
    assert "ok  \thangar.local/examples/http-job" in out, out


@pytest.mark.parametrize("directory", ["sdk/go", "guest-examples/go/http-job", "tests/plugins/go/echo", "tests/plugins/go/echo-sync"])
def test_wasip1_side_vets_clean(directory: str):
    # -unsafeptr=false: the generated bindings (internal/wit) turn the
    # addresses the host hands over in linear memory into pointers, which is
    # what that check flags; every other vet analyzer runs.
    run([go(), "vet", "-unsafeptr=false", "./..."], REPO_ROOT / directory, env={"GOOS": "wasip1", "GOARCH": "wasm"})


def wit_bindgen() -> Path:
    """wit-bindgen-cli at the version the bindings come from; installed into
    target/tools/go/wit-bindgen on first use (about 5 minutes)."""
    path = TOOLS / "wit-bindgen" / "bin" / "wit-bindgen"
    if not path.exists():
        proc = subprocess.run(
            ["cargo", "install", "--locked", f"wit-bindgen-cli@{WIT_BINDGEN_VERSION}", "--root", str(path.parent.parent)],
            capture_output=True,
            text=True,
            timeout=1800,
        )
        assert proc.returncode == 0, f"installing wit-bindgen-cli failed:\n{proc.stderr[-3000:]}"
    return path


def test_committed_bindings_match_the_wit():
    """sdk/go/internal/wit is generated: regenerating it must change nothing
    (else run sdk/go/generate-bindings.sh and commit the result)."""
    tool = wit_bindgen()
    env = {"PATH": f"{tool.parent}:{os.environ['PATH']}"}
    out = run(["bash", str(SDK / "generate-bindings.sh"), "--check"], SDK, env=env).stdout
    assert "match the WIT" in out, out


# --------------------------------------------------------------------------
# End to end through hangar serve


@pytest.fixture(scope="module")
def go_server(hangar_bin, cache_dir, tmp_path_factory):
    """One server with both Go echo fixtures; secret `go_token` and
    [config] greeting granted to echo-sync-go."""
    missing = [str(p) for p in (ECHO_WASM, ECHO_SYNC_WASM) if not p.is_file()]
    if missing:
        pytest.fail(f"Go fixtures missing (build them with `{BUILD}`): {', '.join(missing)}", pytrace=False)
    plugins = tmp_path_factory.mktemp("go-plugins")
    shutil.copy(ECHO_WASM, plugins / ECHO_WASM.name)
    shutil.copy(ECHO_SYNC_WASM, plugins / ECHO_SYNC_WASM.name)
    (plugins / "echo-sync-go.toml").write_text(
        f'[secrets]\nnames = ["go_token"]\n\n[config]\ngreeting = "hej"\nlong = "{LONG_CONFIG}"\n'
    )
    os.environ["_FSEC_go_token"] = "tok-go-123"
    try:
        server = launch_server(hangar_bin, plugins, cache_dir, log_dir=tmp_path_factory.mktemp("go-logs"))
    except ServerStartError as e:
        pytest.fail(str(e), pytrace=False)
    finally:
        del os.environ["_FSEC_go_token"]
    yield server
    server.stop()


def echo_async(server, template, inputs) -> agent_pb2.Resource:
    created = server.async_stub.CreateTask(create_request(template, inputs), timeout=30)
    assert created.resource_meta, created
    resource = server.async_stub.GetTask(get_request("echo_go", created.resource_meta), timeout=30).resource
    server.async_stub.DeleteTask(delete_request("echo_go", created.resource_meta), timeout=30)
    return resource


def echo_sync(server, template, inputs) -> agent_pb2.Resource:
    response = execute_sync(server.sync_stub, template, inputs)
    assert response.WhichOneof("res") == "header", response
    return response.header.resource


MODES = {"echo_go": echo_async, "echo_sync_go": echo_sync}


def run_task(server, task_type, template, inputs) -> agent_pb2.Resource:
    """A failing create answers resource_meta all the same (the host keeps
    the error in it); the following GetTask reports the failure."""
    if task_type == "echo_go":
        created = server.async_stub.CreateTask(create_request(template, inputs), timeout=30)
        return server.async_stub.GetTask(get_request("echo_go", created.resource_meta), timeout=30).resource
    return echo_sync(server, template, inputs)


def test_agents_are_listed(go_server):
    agents = go_server.metadata_stub.ListAgents(agent_pb2.ListAgentsRequest(), timeout=30).agents
    by_name = {a.name: a for a in agents}
    assert by_name["Echo (Go)"].supported_task_categories[0].name == "echo_go", agents
    assert not by_name["Echo (Go)"].is_sync
    assert by_name["Echo Sync (Go)"].is_sync, agents


@pytest.mark.parametrize("task_type", sorted(MODES))
def test_every_type_round_trips(go_server, task_type):
    types = {f"v_{c.id}": c.python_type for c in CASES}
    values = {f"v_{c.id}": c.value for c in CASES}
    inputs = to_literal_map(values, types)
    resource = MODES[task_type](go_server, echo_template(task_type, types), inputs)
    assert resource.phase == Phase.SUCCEEDED, f"{resource}\n{go_server.diagnostics()}"
    decoded = from_literal_map(resource.outputs, types)
    mismatched = {
        name: (comparable(values[name]), comparable(decoded[name]))
        for name in types
        if comparable(decoded[name]) != comparable(values[name])
    }
    assert not mismatched, f"sent vs decoded: {mismatched}"


@pytest.mark.parametrize("task_type", sorted(MODES))
@pytest.mark.parametrize(
    "kind, phase, code, error_kind",
    [
        ("non-recoverable", Phase.FAILED, "EchoFailure", agent_pb2.AgentError.NON_RECOVERABLE),
        ("recoverable", Phase.RETRYABLE_FAILED, "EchoRetry", agent_pb2.AgentError.RECOVERABLE),
    ],
)
def test_agent_errors_become_failed_resources(go_server, task_type, kind, phase, code, error_kind):
    inputs = literal_map({"fail": kind, "message": f"asked to fail ({kind})"})
    template = plain_template(task_type)
    resource = run_task(go_server, task_type, template, inputs)
    assert resource.phase == phase, resource
    assert resource.agent_error.code == code, resource
    assert resource.agent_error.kind == error_kind, resource
    assert f"asked to fail ({kind})" in resource.message, resource


@pytest.mark.parametrize("task_type", sorted(MODES))
def test_a_panic_fails_the_task_and_the_plugin_keeps_serving(go_server, task_type):
    template = plain_template(task_type)
    inputs = literal_map({"panic": True})
    resource = run_task(go_server, task_type, template, inputs)
    assert resource.phase == Phase.FAILED, resource
    assert resource.agent_error.code == "Panic", resource
    assert "asked to panic" in resource.message, resource
    again = echo_sync(go_server, plain_template("echo_sync_go"), literal_map({"n": 1}))
    assert again.phase == Phase.SUCCEEDED, again
    go_server.assert_alive()


def test_host_imports_secrets_config_and_logs(go_server):
    resource = echo_sync(
        go_server, plain_template("echo_sync_go"), literal_map({"read_secret": "go_token", "read_config": "greeting"})
    )
    assert resource.phase == Phase.SUCCEEDED, resource
    outputs = {k: v.scalar.primitive.string_value for k, v in resource.outputs.literals.items()}
    assert outputs["secret"] == "tok-go-123" and outputs["config"] == "hej", outputs
    assert "echo_sync_go answered" in go_server.stderr(), go_server.diagnostics()


def test_the_task_stays_intact_after_an_import_answers_more_than_it(go_server):
    """The host writes a call's arguments into the guest's memory, and later
    each import's answer. The Go SDK's cabi_realloc serves both from one
    arena (sdk/go/internal/witruntime): an answer larger than the whole task
    must land beside the task's strings, never over them."""
    template = plain_template("echo_sync_go")
    resource = echo_sync(go_server, template, literal_map({"read_config": "long"}))
    assert resource.phase == Phase.SUCCEEDED, resource
    outputs = {k: v.scalar.primitive.string_value for k, v in resource.outputs.literals.items()}
    assert outputs["config"] == LONG_CONFIG, len(outputs["config"])
    assert outputs["category_after_imports"] == "echo_sync_go", outputs["category_after_imports"][:200]


def test_an_ungranted_secret_fails_with_the_fix(go_server):
    resource = echo_sync(go_server, plain_template("echo_sync_go"), literal_map({"read_secret": "other"}))
    assert resource.phase == Phase.FAILED, resource
    assert resource.agent_error.code == "SecretNotGranted", resource
    assert "[secrets] names" in resource.message, resource


@pytest.mark.parametrize("task_type", sorted(MODES))
def test_inputs_larger_than_the_arena_round_trip(go_server, task_type):
    """The SDK's cabi_realloc serves the host's buffers from a 64 KiB arena
    and from the heap once that is used up: a 200 KB input takes the heap,
    the small strings around it the arena, and every one arrives whole."""
    big = "".join(chr(ord("a") + i % 26) for i in range(200_000))
    values = {"big": big, "small": "s", "n": 7}
    types = {"big": str, "small": str, "n": int}
    inputs = to_literal_map(values, types)
    resource = MODES[task_type](go_server, echo_template(task_type, types), inputs)
    assert resource.phase == Phase.SUCCEEDED, f"{resource}\n{go_server.diagnostics()}"
    assert from_literal_map(resource.outputs, types) == values


@pytest.mark.parametrize("task_type", sorted(MODES))
def test_a_task_without_inputs_succeeds_with_no_outputs(go_server, task_type):
    if task_type == "echo_go":
        created = go_server.async_stub.CreateTask(create_request(plain_template(task_type)), timeout=30)
        resource = go_server.async_stub.GetTask(get_request(task_type, created.resource_meta), timeout=30).resource
    else:
        resource = echo_sync(go_server, plain_template(task_type), None)
    assert resource.phase == Phase.SUCCEEDED, resource
    assert len(resource.outputs.literals) == 0, resource
