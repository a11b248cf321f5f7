"""The `chat` example (guest-examples/python/chat): a Python sync agent that
calls an OpenAI-compatible chat-completions endpoint, here a local stub
(`openai_stub.py`).

Natively first (the agent's code in this CPython through
`hangar_agent.testing`), then as a component in a real `hangar serve`,
through ExecuteTaskSync: the manifest allows the stub's address and injects
the API key (from the server's env `_FSEC_openai_api_key`) as `Authorization:
Bearer ...`; the guest never reads it, and it appears in no output or log.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest
from flyteidl.core import execution_pb2

from conftest import REPO_ROOT, ServerStartError, launch_server
from flyte_tasks import execute_sync, literal_map, plain_template
from openai_stub import start_openai_stub

sys.path.insert(0, str(REPO_ROOT / "sdk" / "python"))

from hangar_agent import AgentError, HttpError, RetryableError  # noqa: E402
from hangar_agent.testing import AgentHarness  # noqa: E402

Phase = execution_pb2.TaskExecution
CHAT_WASM = REPO_ROOT / "plugins" / "chat.wasm"
API_KEY = "sk-test-5f0c2a9e71d4-only-the-host-knows"


def load_chat():
    spec = importlib.util.spec_from_file_location("chat_app", REPO_ROOT / "guest-examples/python/chat/app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Chat


Chat = load_chat()


@pytest.fixture(scope="module")
def stub():
    s = start_openai_stub(API_KEY)
    yield s
    s.stop()


# --------------------------------------------------------------------------
# Natively (no Wasm): the agent's logic against the stub


@pytest.fixture(scope="module")
def open_stub():
    """A stub that accepts requests without a key (nothing injects one natively)."""
    s = start_openai_stub(None)
    yield s
    s.stop()


def test_native_answer_and_request_shape(open_stub):
    agent = AgentHarness(Chat, config={"base_url": open_stub.base_url, "model": "cfg-model"})
    resource = agent.do({"prompt": "hi", "system": "be brief"}, {"temperature": 0.2, "max_tokens": 5})
    assert resource.outputs == {"answer": "You said: hi", "model": "cfg-model", "total_tokens": 9}
    body = open_stub.requests[-1].body
    assert body["messages"] == [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
    assert body["temperature"] == 0.2 and body["max_tokens"] == 5 and body["model"] == "cfg-model"


def test_native_flytekit_chatgpt_shape_is_accepted(open_stub):
    agent = AgentHarness(Chat)
    custom = {"base_url": open_stub.base_url, "chatgpt_config": {"model": "gpt-x", "temperature": 0.7}}
    assert agent.do({"message": "yo"}, custom).outputs["answer"] == "You said: yo"
    assert open_stub.requests[-1].body["model"] == "gpt-x"


@pytest.mark.parametrize("status, error", [(429, RetryableError), (503, RetryableError), (400, AgentError)])
def test_native_endpoint_errors(open_stub, status, error):
    with pytest.raises(error) as info:
        AgentHarness(Chat).do({"prompt": f"status:{status}"}, {"base_url": open_stub.base_url})
    assert info.value.code == f"Http{status}"
    assert f"stub error {status}" in str(info.value) and info.value.retryable == (error is RetryableError)


def test_native_bad_answers_and_inputs(open_stub):
    agent = AgentHarness(Chat, config={"base_url": open_stub.base_url})
    with pytest.raises(AgentError) as info:
        agent.do({"prompt": "not-json"})
    assert info.value.code == "BadJson"
    with pytest.raises(AgentError) as info:
        agent.do({"prompt": "no-choices"})
    assert info.value.code == "BadResponse"
    with pytest.raises(AgentError) as info:
        agent.do({"n": 1})
    assert info.value.code == "MissingInput"
    with pytest.raises(HttpError) as info:
        agent.do({"prompt": "slow:2"}, {"timeout_s": 0.3})
    assert info.value.code == "HttpTimeout" and info.value.retryable


# --------------------------------------------------------------------------
# In hangar: the component, the manifest's grants, the injected key


def manifest(stub_port: int, config: str = "") -> str:
    origin = f"http://127.0.0.1:{stub_port}/"
    return (
        f'[[http.allow]]\nurl = "{origin}"\nmethods = ["POST"]\n\n'
        f'[[secrets.inject]]\nsecret = "openai_api_key"\nurl = "{origin}"\n'
        'header = "Authorization"\nformat = "Bearer {secret}"\n\n' + config
    )


def serve_chat(hangar_bin, cache_dir, tmp_path_factory, manifest_text: str):
    if not CHAT_WASM.is_file():
        pytest.fail(f"{CHAT_WASM} is missing: build it with `bash build/guests-python.sh`", pytrace=False)
    plugins = tmp_path_factory.mktemp("chat-plugins")
    (plugins / "chat.wasm").write_bytes(CHAT_WASM.read_bytes())
    (plugins / "chat.toml").write_text(manifest_text)
    previous = os.environ.get("_FSEC_openai_api_key")
    os.environ["_FSEC_openai_api_key"] = API_KEY
    try:
        return launch_server(hangar_bin, plugins, cache_dir, log_dir=tmp_path_factory.mktemp("logs"))
    except ServerStartError as e:
        pytest.fail(str(e), pytrace=False)
    finally:
        if previous is None:
            del os.environ["_FSEC_openai_api_key"]
        else:
            os.environ["_FSEC_openai_api_key"] = previous


@pytest.fixture(scope="module")
def chat_server(hangar_bin, cache_dir, tmp_path_factory, stub):
    server = serve_chat(hangar_bin, cache_dir, tmp_path_factory, manifest(stub.port))
    yield server
    server.stop()


def chat(server, inputs: dict, custom: dict | None = None):
    template = plain_template("chat", name="tests.chat")
    if custom:
        template.custom.update(custom)
    response = execute_sync(server.sync_stub, template, literal_map(inputs), timeout=60)
    assert response.WhichOneof("res") == "header", response
    return response.header.resource


def outputs(resource) -> dict:
    assert resource.phase == Phase.SUCCEEDED, resource
    values = {}
    for name, lit in resource.outputs.literals.items():
        primitive = lit.scalar.primitive
        values[name] = getattr(primitive, primitive.WhichOneof("value"))
    return values


def assert_no_key(server, *texts: str) -> None:
    for text in texts:
        assert API_KEY not in text
    assert API_KEY not in server.stderr(), "the API key leaked into hangar's stderr"


def test_answer_comes_back_and_the_key_is_injected_by_the_host(chat_server, stub):
    before = len(stub.requests)
    resource = chat(chat_server, {"prompt": "hello there", "system": "be kind"},
                    {"base_url": stub.base_url, "model": "stub-model", "temperature": 0.5})
    out = outputs(resource)
    assert out == {"answer": "You said: hello there", "model": "stub-model", "total_tokens": 9}, out
    seen = stub.requests[before:]
    assert len(seen) == 1 and seen[0].path == "/v1/chat/completions"
    assert seen[0].headers["authorization"] == f"Bearer {API_KEY}"
    assert seen[0].body["temperature"] == 0.5
    assert seen[0].body["messages"][0] == {"role": "system", "content": "be kind"}
    assert_no_key(chat_server, str(resource))


def test_base_url_from_the_manifest_config(hangar_bin, cache_dir, tmp_path_factory, stub):
    config = f'[config]\nbase_url = "{stub.base_url}"\nmodel = "configured-model"\n'
    server = serve_chat(hangar_bin, cache_dir, tmp_path_factory, manifest(stub.port, config))
    try:
        before = len(stub.requests)
        out = outputs(chat(server, {"prompt": "from config"}))
        assert out["answer"] == "You said: from config" and out["model"] == "configured-model", out
        assert stub.requests[before].headers["authorization"] == f"Bearer {API_KEY}"
        assert_no_key(server, str(out))
    finally:
        server.stop()


@pytest.mark.parametrize(
    "status, phase",
    [(429, Phase.RETRYABLE_FAILED), (500, Phase.RETRYABLE_FAILED), (401, Phase.FAILED), (404, Phase.FAILED)],
)
def test_endpoint_errors_fail_the_task_with_its_message(chat_server, stub, status, phase):
    resource = chat(chat_server, {"prompt": f"status:{status}"}, {"base_url": stub.base_url})
    assert resource.phase == phase, resource
    assert f"stub error {status}" in resource.message and f"HTTP {status}" in resource.message, resource
    assert resource.agent_error.code == f"Http{status}", resource
    assert_no_key(chat_server, str(resource))


def test_wrong_key_is_the_endpoints_401(hangar_bin, cache_dir, tmp_path_factory):
    other = start_openai_stub("sk-some-other-key")
    try:
        server = serve_chat(hangar_bin, cache_dir, tmp_path_factory, manifest(other.port))
        try:
            resource = chat(server, {"prompt": "hi"}, {"base_url": other.base_url})
            assert resource.phase == Phase.FAILED, resource
            assert "Incorrect API key provided" in resource.message and resource.agent_error.code == "Http401"
            assert other.requests[-1].headers["authorization"] == f"Bearer {API_KEY}"
            assert_no_key(server, str(resource))
        finally:
            server.stop()
    finally:
        other.stop()


def test_timeout_is_retryable(chat_server, stub):
    resource = chat(chat_server, {"prompt": "slow:3"}, {"base_url": stub.base_url, "timeout_s": 1})
    assert resource.phase == Phase.RETRYABLE_FAILED, resource
    assert resource.agent_error.code == "HttpTimeout", resource


def test_bad_json_and_non_completions_fail(chat_server, stub):
    bad = chat(chat_server, {"prompt": "not-json"}, {"base_url": stub.base_url})
    assert bad.phase == Phase.FAILED and bad.agent_error.code == "BadJson", bad
    assert "<html>" in bad.message
    empty = chat(chat_server, {"prompt": "no-choices"}, {"base_url": stub.base_url})
    assert empty.phase == Phase.FAILED and empty.agent_error.code == "BadResponse", empty


def test_a_url_the_manifest_does_not_allow_is_denied(chat_server):
    other = start_openai_stub(None)
    try:
        resource = chat(chat_server, {"prompt": "hi"}, {"base_url": other.base_url})
        assert resource.phase == Phase.FAILED, resource
        assert resource.agent_error.code == "HttpRequestDenied", resource
        assert "[[http.allow]]" in resource.message, resource
        assert other.requests == [], "a denied request reached the server"
    finally:
        other.stop()
