"""`hangar run`: one plugin, locally, the way propeller would drive it."""

from __future__ import annotations

import json

import pytest
from google.protobuf import json_format

from flyte_tasks import CASES, echo_template, to_literal_map

PLAIN_INPUTS = {"n": 3, "x": 1.5, "s": "héllo", "ok": True, "xs": [1, 2, 3], "m": {"k": [1, "a", None]}}


def write_json(path, value) -> str:
    path.write_text(json.dumps(value))
    return str(path)


def stdout_json(result):
    assert result.returncode == 0, result.describe()
    try:
        return json.loads(result.stdout)
    except json.JSONDecodeError as e:
        pytest.fail(f"stdout is not JSON ({e}).\n{result.describe()}")


def test_run_echo_prints_the_inputs(hangar_run, plugin_files, tmp_path):
    inputs = write_json(tmp_path / "inputs.json", PLAIN_INPUTS)
    result = hangar_run(plugin_files["echo"], "--inputs", inputs, "--poll-seconds", "0.1")
    assert stdout_json(result) == PLAIN_INPUTS
    assert "SUCCEEDED" in result.stderr, result.describe()


def test_run_echo_without_inputs(hangar_run, plugin_files):
    result = hangar_run(plugin_files["echo"], "--poll-seconds", "0.1")
    assert stdout_json(result) == {}


def test_run_echo_sync_prints_the_inputs(hangar_run, plugin_files, tmp_path):
    inputs = write_json(tmp_path / "inputs.json", PLAIN_INPUTS)
    result = hangar_run(plugin_files["echo-sync"], "--inputs", inputs)
    assert stdout_json(result) == PLAIN_INPUTS
    assert "sync" in result.stderr, result.describe()


def test_run_wait_polls_until_done(hangar_run, plugin_files, tmp_path):
    inputs = write_json(tmp_path / "inputs.json", {"seconds": 1})
    result = hangar_run(plugin_files["wait"], "--inputs", inputs, "--poll-seconds", "0.2", timeout=30)
    assert stdout_json(result) == {}
    assert "RUNNING" in result.stderr, result.describe()  # it polled at least once
    assert "SUCCEEDED" in result.stderr, result.describe()


def test_run_wait_gives_up_after_max_wait(hangar_run, plugin_files, tmp_path):
    inputs = write_json(tmp_path / "inputs.json", {"seconds": 60})
    result = hangar_run(
        plugin_files["wait"], "--inputs", inputs, "--poll-seconds", "0.1", "--max-wait-seconds", "0.5", timeout=30
    )
    assert result.returncode not in (0, 2), result.describe()
    assert "deleting the job" in result.stderr, result.describe()
    assert result.stdout == "", result.describe()


@pytest.mark.parametrize(
    "plugin, task_type, fragment",
    [
        ("faulty", "fail_permanent", "FAILED [Broken]: the job is broken"),
        ("faulty", "fail_retryable", "RETRYABLE_FAILED [Busy]: try again later"),
        ("faulty-sync", "sync_fail_permanent", "FAILED [Broken]: the job is broken"),
        ("faulty-sync", "sync_fail_retryable", "RETRYABLE_FAILED [Busy]: try again later"),
    ],
)
def test_run_failing_task_exits_2(hangar_run, plugin_files, plugin, task_type, fragment):
    result = hangar_run(plugin_files[plugin], "--task-type", task_type, "--poll-seconds", "0.1")
    assert result.returncode == 2, result.describe()
    assert fragment in result.stderr, result.describe()
    assert result.stdout == "", result.describe()


def test_run_trap_exits_1_with_a_clear_error(hangar_run, plugin_files):
    result = hangar_run(plugin_files["faulty"], "--task-type", "trap_unreachable")
    assert result.returncode == 1, result.describe()
    assert "error: plugin faulty trapped: wasm trap: wasm `unreachable` instruction executed" in result.stderr, (
        result.describe()
    )


def test_run_unknown_task_type(hangar_run, plugin_files):
    result = hangar_run(plugin_files["echo"], "--task-type", "nope")
    assert result.returncode == 1, result.describe()
    assert 'no agent serves task type "nope"' in result.stderr and "echo (v0)" in result.stderr, result.describe()


def test_run_rejects_non_object_inputs(hangar_run, plugin_files, tmp_path):
    inputs = write_json(tmp_path / "inputs.json", [1, 2])
    result = hangar_run(plugin_files["echo"], "--inputs", inputs)
    assert result.returncode == 1, result.describe()
    assert "must hold a JSON object" in result.stderr, result.describe()


# --------------------------------------------------------------------------
# --template from flytekit

# Types with one JSON form (what `task.inputs` documents), so the printed
# outputs can be compared with the JSON inputs.
TEMPLATE_JSON_INPUTS = {
    "int": 42,
    "float": 2.5,
    "str": "hello, wörld ✈",
    "bool": True,
    "list_int": [1, 2, 3],
    "dict_str_float": {"a": 1.5, "b": 2.0},
    "optional_int_value": 7,
    "optional_int_none": None,
    "enum": "green",
    "dict_untyped": {"k": [1, "x", {"n": None}], "z": 2.5, "flag": False, "i": 7},
    "datetime": "2024-01-02T03:04:05.123456Z",
    "timedelta": "90.500s",
    "flytefile_csv": {"uri": "s3://bucket/typed.csv", "format": "csv", "dimensionality": "single"},
}


def flytekit_template(task_type: str):
    types = {c.id: c.python_type for c in CASES if c.id in TEMPLATE_JSON_INPUTS}
    return echo_template(task_type, types, name=f"tests.run.{task_type}")


@pytest.mark.parametrize("plugin, task_type", [("echo", "echo"), ("echo-sync", "echo_sync")])
@pytest.mark.parametrize("form", ["pb", "json"])
def test_run_with_a_flytekit_template(hangar_run, plugin_files, tmp_path, plugin, task_type, form):
    template = flytekit_template(task_type)
    path = tmp_path / f"template.{form}"
    if form == "pb":
        path.write_bytes(template.SerializeToString())
    else:
        path.write_text(json_format.MessageToJson(template))
    inputs = write_json(tmp_path / "inputs.json", TEMPLATE_JSON_INPUTS)
    result = hangar_run(plugin_files[plugin], "--template", path, "--inputs", inputs, "--poll-seconds", "0.1")
    outputs = stdout_json(result)
    assert outputs == TEMPLATE_JSON_INPUTS, result.describe()
    assert f'running task type "{task_type}" (v0)' in result.stderr, result.describe()


@pytest.mark.parametrize("plugin, task_type", [("echo", "echo"), ("echo-sync", "echo_sync")])
def test_run_with_flytekit_template_and_literal_map_inputs(hangar_run, plugin_files, tmp_path, plugin, task_type):
    """Inputs as a flytekit-made LiteralMap (.pb) with every test type."""
    types = {c.id: c.python_type for c in CASES}
    values = {c.id: c.value for c in CASES}
    template_path = tmp_path / "template.pb"
    template_path.write_bytes(echo_template(task_type, types, name=f"tests.run.all.{task_type}").SerializeToString())
    inputs_path = tmp_path / "inputs.pb"
    inputs_path.write_bytes(to_literal_map(values, types).SerializeToString())
    result = hangar_run(
        plugin_files[plugin], "--template", template_path, "--inputs", inputs_path, "--poll-seconds", "0.1"
    )
    outputs = stdout_json(result)
    assert set(outputs) == set(types), result.describe()
    assert outputs["int"] == 42 and outputs["enum"] == "green" and outputs["optional_int_none"] is None
    assert outputs["datetime"] == "2024-01-02T03:04:05.123456Z"
    assert outputs["timedelta"] == "90.500s"
    assert outputs["dataclass"] == {
        "x": 1,
        "y": 2.5,
        "label": "pt",
        "inner": {"tags": ["a", "b"], "weight": 0.5},
        "scores": {"s": 3},
    }
    assert outputs["flytefile"]["uri"] == "s3://bucket/key.csv"
    assert outputs["structured_dataset"]["uri"] == "s3://bucket/ds"


def test_run_rejects_a_template_that_is_not_one(hangar_run, plugin_files, tmp_path):
    path = tmp_path / "template.json"
    path.write_text('{"notAField": 1}')
    result = hangar_run(plugin_files["echo"], "--template", path)
    assert result.returncode == 1, result.describe()
    assert "not a TaskTemplate in protobuf JSON" in result.stderr, result.describe()
