"""The key proof: what flytekit 1.16.31 itself produces goes through Hangar
and comes back as the same Python values.

A flytekit task of type `echo` (async) or `echo_sync` (sync) declares the
same types as inputs and outputs. flytekit serializes its TaskTemplate and
converts Python values to a LiteralMap; Hangar hands the inputs to the guest
as plain JSON, the guest returns them as JSON outputs, and Hangar types them
by the declared outputs. flytekit's TypeEngine must decode the outputs to the
values sent. One parametrized case per type, then all types in one task.
"""

from __future__ import annotations

import pytest
from flyteidl.admin import agent_pb2
from flyteidl.core import execution_pb2

from flyte_tasks import (
    CASES,
    Case,
    comparable,
    create_request,
    echo_template,
    execute_sync,
    from_literal_map,
    get_request,
    to_literal_map,
)

SUCCEEDED = execution_pb2.TaskExecution.SUCCEEDED


def echo_async(server, template, inputs) -> agent_pb2.Resource:
    created = server.async_stub.CreateTask(create_request(template, inputs), timeout=30)
    return server.async_stub.GetTask(get_request("echo", created.resource_meta), timeout=30).resource


def echo_sync(server, template, inputs) -> agent_pb2.Resource:
    response = execute_sync(server.sync_stub, template, inputs)
    assert response.WhichOneof("res") == "header", response
    return response.header.resource


MODES = {"echo": echo_async, "echo_sync": echo_sync}


def round_trip(server, task_type: str, types: dict, values: dict) -> dict:
    template = echo_template(task_type, types)
    assert template.type == task_type and template.task_type_version == 0
    inputs = to_literal_map(values, types)
    resource = MODES[task_type](server, template, inputs)
    assert resource.phase == SUCCEEDED, f"{resource}\n{server.diagnostics()}"
    assert resource.state == agent_pb2.SUCCEEDED, resource
    assert set(resource.outputs.literals) == set(types), resource.outputs
    return from_literal_map(resource.outputs, types)


@pytest.mark.parametrize("task_type", sorted(MODES))
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_each_type_round_trips(server, task_type: str, case: Case):
    types = {"value": case.python_type}
    decoded = round_trip(server, task_type, types, {"value": case.value})
    assert comparable(decoded["value"]) == comparable(case.value), f"sent {case.value!r}, got {decoded['value']!r}"


@pytest.mark.parametrize("task_type", sorted(MODES))
def test_all_types_in_one_task_round_trip(server, task_type: str):
    types = {f"v_{c.id}": c.python_type for c in CASES}
    values = {f"v_{c.id}": c.value for c in CASES}
    decoded = round_trip(server, task_type, types, values)
    mismatched = {
        name: (comparable(values[name]), comparable(decoded[name]))
        for name in types
        if comparable(decoded[name]) != comparable(values[name])
    }
    assert not mismatched, f"sent vs decoded: {mismatched}"


@pytest.mark.parametrize("task_type", sorted(MODES))
def test_outputs_are_the_literals_flytekit_would_produce(server, task_type: str):
    """Beyond decoding equal: for types whose literal has one canonical form,
    Hangar's output literal is byte-for-byte what flytekit produces."""
    canonical = [
        c
        for c in CASES
        if c.id
        in {
            "int",
            "float",
            "float_whole",
            "str",
            "bool",
            "datetime",
            "timedelta",
            "list_int",
            "dict_str_float",
            "nested_list_dict",
            "optional_int_value",
            "optional_int_none",
            "flytefile_csv",
            "enum",
        }
    ]
    types = {c.id: c.python_type for c in canonical}
    values = {c.id: c.value for c in canonical}
    inputs = to_literal_map(values, types)
    resource = MODES[task_type](server, echo_template(task_type, types), inputs)
    assert resource.phase == SUCCEEDED, resource
    differing = {
        name: (str(inputs.literals[name]), str(resource.outputs.literals[name]))
        for name in types
        if resource.outputs.literals[name] != inputs.literals[name]
    }
    assert not differing, f"flytekit literal vs Hangar literal: {differing}"
