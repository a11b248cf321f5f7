"""`hangar new`: every language's template builds and passes its own test
out of the box, and the agent it builds serves through the gRPC API.

For each language: `hangar new --lang L demo`, then `make test build` in the
new project (with the toolchains `build/guests.sh` installed under
target/tools/ on PATH, as a user would have them on theirs), then serve
demo.wasm and run CreateTask/GetTask expecting "Hello, World!". The
JavaScript template is built a second time with `make build ENGINE=quickjs`.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from flyteidl.admin import agent_pb2
from flyteidl.core import execution_pb2
from flyteidl.service import agent_pb2_grpc

from conftest import REPO_ROOT
from flyte_tasks import create_request, get_request, literal_map, plain_template

LANGUAGES = ["rust", "python", "js", "go"]
TOOLS = REPO_ROOT / "target" / "tools"
# Every language's build toolchain must finish within this (first Rust
# build compiles std from source on machines without rustup's wasm target).
BUILD_TIMEOUT_S = 1500


def tool_path(lang: str) -> str:
    """PATH with the toolchain dirs build/guests-<lang>.sh installs."""
    base = TOOLS / lang
    candidates = [
        base / "bin",
        base / "venv" / "bin",
        base / "node_modules" / ".bin",
        base / "go" / "bin",
    ]
    dirs = [str(d) for d in candidates if d.is_dir()]
    return os.pathsep.join(dirs + [os.environ.get("PATH", "")])


def hangar_new(hangar_bin: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(hangar_bin), "new", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def is_component(path: Path) -> bool:
    head = path.read_bytes()[:8]
    return head[:4] == b"\0asm" and head[4:8] == b"\x0d\x00\x01\x00"


# (language, extra make arguments): every language as generated, and the
# JavaScript template on its second engine.
BUILDS = [(lang, []) for lang in LANGUAGES] + [("js", ["ENGINE=quickjs"])]


@pytest.mark.parametrize(
    "lang, make_args", BUILDS, ids=[lang + "".join(f"-{a.split('=')[1]}" for a in args) for lang, args in BUILDS]
)
def test_template_builds_tests_and_serves(lang, make_args, hangar_bin, tmp_path, start_server):
    created = hangar_new(hangar_bin, "--lang", lang, "demo", "--dir", str(tmp_path), cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    project = tmp_path / "demo"
    assert "make build" in created.stdout and "demo.wasm" in created.stdout, created.stdout
    assert (project / "Makefile").is_file()
    assert (project / "README.md").is_file()
    assert (project / "hangar" / "wit" / "agent.wit").read_bytes() == (REPO_ROOT / "wit" / "agent.wit").read_bytes()
    assert not list(project.rglob("*.tmpl")), "a .tmpl suffix was left in the project"
    leftovers = [p for p in project.rglob("*") if p.is_file() and "{{name" in p.read_text(errors="replace")]
    assert not leftovers, f"unfilled placeholders in {leftovers}"

    env = dict(os.environ, PATH=tool_path(lang))
    env.pop("CARGO_TARGET_DIR", None)
    built = subprocess.run(
        ["make", "-C", str(project), "test", "build", *make_args],
        env=env,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_S,
    )
    assert built.returncode == 0, f"make test build failed:\n{built.stdout[-4000:]}\n{built.stderr[-4000:]}"
    wasm = project / "demo.wasm"
    assert wasm.is_file(), f"make build did not produce {wasm}:\n{built.stdout[-2000:]}"
    assert is_component(wasm), f"{wasm} is not a component"

    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "demo.wasm").write_bytes(wasm.read_bytes())
    server = start_server(plugins)
    stub = agent_pb2_grpc.AsyncAgentServiceStub(server.channel)
    created_task = stub.CreateTask(
        create_request(plain_template("demo"), literal_map({"name": "World"})), timeout=60
    )
    got = stub.GetTask(get_request("demo", created_task.resource_meta), timeout=60).resource
    assert got.phase == execution_pb2.TaskExecution.SUCCEEDED, got
    assert got.state == agent_pb2.SUCCEEDED, got
    greeting = got.outputs.literals["greeting"].scalar.primitive.string_value
    assert greeting == "Hello, World!", got.outputs
    server.assert_alive()


@pytest.mark.parametrize(
    "name",
    ["My-Agent", "1agent", "agent-", "my--agent", "my_agent", "../escape", "a" * 64],
)
def test_bad_names_are_refused_and_nothing_is_written(name, hangar_bin, tmp_path):
    result = hangar_new(hangar_bin, "--lang", "python", name, cwd=tmp_path)
    assert result.returncode != 0
    assert "is not a valid agent name" in result.stderr, result.stderr
    assert list(tmp_path.iterdir()) == []


def test_an_existing_directory_is_never_touched(hangar_bin, tmp_path):
    existing = tmp_path / "demo"
    existing.mkdir()
    (existing / "keep.txt").write_text("mine")
    result = hangar_new(hangar_bin, "--lang", "go", "demo", cwd=tmp_path)
    assert result.returncode != 0
    assert "already exists" in result.stderr, result.stderr
    assert [p.name for p in existing.iterdir()] == ["keep.txt"]
    assert (existing / "keep.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo"], "a staging dir was left behind"


def test_unknown_language_lists_the_known_ones(hangar_bin, tmp_path):
    result = hangar_new(hangar_bin, "--lang", "cobol", "demo", cwd=tmp_path)
    assert result.returncode == 2
    for lang in LANGUAGES:
        assert lang in result.stderr, result.stderr
