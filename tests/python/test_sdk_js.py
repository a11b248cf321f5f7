"""The JavaScript SDK (sdk/js): its own unit tests under plain Node, then
end to end through Hangar's gRPC API with the JS fixtures built by
`bash build/guests-js.sh`:

* `echo_js` (async, tests/plugins/js/echo -> target/test-plugins/echo-js.wasm)
* `echo_sync_js` (sync, tests/plugins/js/echo-sync -> echo-sync-js.wasm)

Each is built for both engines of `hangar-js-build --engine`: SpiderMonkey
(componentize-js, echo-js.wasm) and QuickJS (componentize-qjs,
echo-qjs.wasm and echo-sync-qjs.wasm), and every end-to-end test runs
against both. They prove what flytekit produces round-trips through the
SDK's JSON handling, that errors thrown in JS become FAILED /
RETRYABLE_FAILED resources with their message and code, and that config
and secrets reach the agent through the SDK.
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
NON_RECOVERABLE = agent_pb2.AgentError.NON_RECOVERABLE
RECOVERABLE = agent_pb2.AgentError.RECOVERABLE

# Engine -> the fixtures built for it, keyed by the name each is served as
# (the manifests below are named after it).
FIXTURES = {
    engine: {
        "echo-js": REPO_ROOT / "target" / "test-plugins" / f"echo-{suffix}.wasm",
        "echo-sync-js": REPO_ROOT / "target" / "test-plugins" / f"echo-sync-{suffix}.wasm",
    }
    for engine, suffix in (("spidermonkey", "js"), ("quickjs", "qjs"))
}
SECRET_NAME = "js_token"
SECRET_VALUE = "seven77"


def node_binary() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not on PATH: install Node.js 20+ (Debian: apt-get install nodejs)", pytrace=False)
    return node


def test_sdk_unit_tests_pass_under_node():
    proc = subprocess.run(
        [node_binary(), "--test", "sdk/js/test/"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, NODE_OPTIONS=""),
    )
    assert proc.returncode == 0, f"node --test sdk/js/test/ failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"
    assert "# fail 0" in proc.stdout and "# pass " in proc.stdout, proc.stdout[-2000:]


# --------------------------------------------------------------------------
# One Hangar per engine with both JS fixtures; echo-sync-js gets config and
# one secret.


@pytest.fixture(scope="module", params=sorted(FIXTURES))
def js_server(request, hangar_bin, cache_dir, tmp_path_factory):
    fixtures = FIXTURES[request.param]
    missing = [str(p) for p in fixtures.values() if not p.is_file()]
    if missing:
        pytest.fail(
            "JS fixtures missing (build them with `bash build/guests-js.sh`): " + ", ".join(missing), pytrace=False
        )
    root = tmp_path_factory.mktemp(f"js-sdk-{request.param}")
    plugins = root / "plugins"
    plugins.mkdir()
    for name, path in fixtures.items():
        shutil.copy(path, plugins / f"{name}.wasm")
    (plugins / "echo-sync-js.toml").write_text(
        f'[config]\ngreeting = "hej"\n\n[secrets]\nnames = ["{SECRET_NAME}", "js_absent"]\n'
    )
    secrets_dir = root / "secrets"
    secrets_dir.mkdir()
    (secrets_dir / SECRET_NAME).write_text(SECRET_VALUE + "\n")
    config = root / "hangar.toml"
    config.write_text(f'[secrets]\nenv_prefix = ""\ndir = "{secrets_dir}"\n[audit]\ndestination = "off"\n')
    try:
        server = launch_server(hangar_bin, plugins, cache_dir, ["--config", str(config)], log_dir=root)
    except ServerStartError as e:
        pytest.fail(str(e), pytrace=False)
    yield server
    server.stop()


def echo_async(server, template, inputs) -> agent_pb2.Resource:
    created = server.async_stub.CreateTask(create_request(template, inputs), timeout=60)
    return server.async_stub.GetTask(get_request(template.type, created.resource_meta), timeout=60).resource


def echo_sync(server, template, inputs) -> agent_pb2.Resource:
    response = execute_sync(server.sync_stub, template, inputs, timeout=60)
    assert response.WhichOneof("res") == "header", response
    return response.header.resource


MODES = {"echo_js": echo_async, "echo_sync_js": echo_sync}


def test_agents_are_listed(js_server):
    agents = {a.name: a for a in js_server.metadata_stub.ListAgents(agent_pb2.ListAgentsRequest(), timeout=30).agents}
    assert "echo-js" in agents and "echo-sync-js" in agents, agents
    assert [c.name for c in agents["echo-js"].supported_task_categories] == ["echo_js"]
    assert not agents["echo-js"].is_sync
    assert agents["echo-sync-js"].is_sync


@pytest.mark.parametrize("task_type", sorted(MODES))
def test_every_input_type_round_trips(js_server, task_type):
    """What flytekit serialises, through JSON.parse/JSON.stringify in the
    guest, comes back as the same Python values."""
    types = {f"v_{c.id}": c.python_type for c in CASES}
    values = {f"v_{c.id}": c.value for c in CASES}
    template = echo_template(task_type, types)
    resource = MODES[task_type](js_server, template, to_literal_map(values, types))
    assert resource.phase == Phase.SUCCEEDED, f"{resource}\n{js_server.diagnostics()}"
    decoded = from_literal_map(resource.outputs, types)
    mismatched = {
        name: (comparable(values[name]), comparable(decoded[name]))
        for name in types
        if comparable(decoded[name]) != comparable(values[name])
    }
    assert not mismatched, f"sent vs decoded: {mismatched}"


def test_plain_values_round_trip_without_an_interface(js_server):
    # (A JSON object output with no declared type becomes a generic dict
    # literal on the host, so the plain case sticks to scalars and lists.)
    inputs = literal_map({"n": 3, "x": 0.5, "s": "ünï ✈", "ok": False, "xs": [1, 2, 3], "big": -(2**62)})
    assert echo_async(js_server, plain_template("echo_js"), inputs).outputs == inputs
    assert echo_sync(js_server, plain_template("echo_sync_js"), inputs).outputs == inputs


def assert_failed(resource, *, retryable: bool, message: str, code: str) -> None:
    if retryable:
        assert resource.phase == Phase.RETRYABLE_FAILED, resource
        assert resource.agent_error.kind == RECOVERABLE, resource
    else:
        assert resource.phase == Phase.FAILED, resource
        assert resource.agent_error.kind == NON_RECOVERABLE, resource
    assert resource.message == message, resource
    assert resource.agent_error.code == code, resource
    assert len(resource.outputs.literals) == 0, resource


ERRORS = [
    ("permanent", False, "AskedToFail"),
    ("retryable", True, "AskedToRetry"),
    ("throw", False, "TypeError"),
]


@pytest.mark.parametrize("fail_in", ["create", "get"])
@pytest.mark.parametrize("fail, retryable, code", ERRORS, ids=[e[0] for e in ERRORS])
def test_async_errors_become_failed_resources(js_server, fail, retryable, code, fail_in):
    stub = js_server.async_stub
    created = stub.CreateTask(create_request(plain_template("echo_js"), literal_map({"fail": fail, "fail_in": fail_in})), timeout=60)
    resource = stub.GetTask(get_request("echo_js", created.resource_meta), timeout=60).resource
    message = {
        "permanent": f"echo_js asked to fail in {fail_in}",
        "retryable": f"echo_js asked to retry in {fail_in}",
        "throw": f"TypeError: echo_js threw in {fail_in}",
    }[fail]
    assert_failed(resource, retryable=retryable, message=message, code=code)
    stub.DeleteTask(delete_request("echo_js", created.resource_meta), timeout=60)
    js_server.assert_alive()


@pytest.mark.parametrize("fail, retryable, code", ERRORS, ids=[e[0] for e in ERRORS])
def test_sync_errors_become_failed_resources(js_server, fail, retryable, code):
    resource = echo_sync(js_server, plain_template("echo_sync_js"), literal_map({"fail": fail}))
    message = {
        "permanent": "echo_sync_js asked to fail",
        "retryable": "echo_sync_js asked to retry",
        "throw": "TypeError: echo_sync_js threw",
    }[fail]
    assert_failed(resource, retryable=retryable, message=message, code=code)


def outputs_of(resource) -> dict:
    assert resource.phase == Phase.SUCCEEDED, resource
    values = {}
    for name, lit in resource.outputs.literals.items():
        if lit.scalar.HasField("primitive"):
            primitive = lit.scalar.primitive
            values[name] = getattr(primitive, primitive.WhichOneof("value"))
        else:
            values[name] = None
    return values


def test_config_reaches_the_agent(js_server):
    out = outputs_of(echo_sync(js_server, plain_template("echo_sync_js"), literal_map({"read_config": "greeting"})))
    assert out["config_value"] == "hej", out
    out = outputs_of(echo_sync(js_server, plain_template("echo_sync_js"), literal_map({"read_config": "nope"})))
    assert out["config_value"] is None, out


@pytest.mark.parametrize(
    "name, expect",
    [(SECRET_NAME, ("secret_length", len(SECRET_VALUE))), ("js_absent", ("secret_error", "SecretNotFound")),
     ("js_not_granted", ("secret_error", "SecretNotGranted"))],
    ids=["granted", "granted-but-absent", "not-granted"],
)
def test_secrets_reach_the_agent_through_the_sdk(js_server, name, expect):
    out = outputs_of(echo_sync(js_server, plain_template("echo_sync_js"), literal_map({"read_secret": name})))
    key, value = expect
    assert out[key] == value, out
