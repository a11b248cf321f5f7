"""Wire compatibility of Hangar's flyteidl2 subset with flyteidl2 2.0.53.

The same checks as ``test_wire_compat.py`` (whose helpers this reuses), for
Flyte 2's connector API (``proto/flyteidl2/``) against the PyPI package
``flyteidl2==2.0.53``:

* ``test_roundtrip_v2``: fully populated messages (every field, one case per
  oneof alternative) survive Python -> Rust (decode, encode) -> Python.
* ``test_descriptors_match_flyteidl2``: every flyteidl2 message, field, oneof,
  enum and service in the descriptor set gRPC reflection serves has the same
  names, numbers, types and labels as upstream, and lives in the same file.

It also pins what the translation in ``host/src/grpc/connector_v2.rs`` relies
on: the flyteidl2 types it re-decodes as their flyteidl 1.16.8 twins really
share field numbers and types.
"""

from __future__ import annotations

from functools import cache

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool

# Importing the service modules registers every file they depend on.
from flyteidl2.connector import service_pb2 as _v2_service_pb2  # noqa: F401
from flyteidl.service import agent_pb2 as _v1_service_pb2  # noqa: F401

from test_wire_compat import (
    cases_for,
    results_for,
    assert_survives_rust,
    Case,
    field_signature,
    is_repeated,
    reachable,
    run_tool,
    rust_descriptor_set,
    rust_messages,
    upstream_file,
    walk_enums,
    walk_messages,
)

SERVICES = [
    "flyteidl2.connector.AsyncConnectorService",
    "flyteidl2.connector.ConnectorMetadataService",
]

REQUIRED_MESSAGES = [
    "flyteidl2.connector.CreateTaskRequest",
    "flyteidl2.connector.CreateTaskResponse",
    "flyteidl2.connector.GetTaskRequest",
    "flyteidl2.connector.GetTaskResponse",
    "flyteidl2.connector.DeleteTaskRequest",
    "flyteidl2.connector.DeleteTaskResponse",
    "flyteidl2.connector.GetTaskMetricsRequest",
    "flyteidl2.connector.GetTaskMetricsResponse",
    "flyteidl2.connector.GetTaskLogsRequest",
    "flyteidl2.connector.GetTaskLogsResponse",
    "flyteidl2.connector.ListConnectorsRequest",
    "flyteidl2.connector.ListConnectorsResponse",
    "flyteidl2.connector.GetConnectorRequest",
    "flyteidl2.connector.GetConnectorResponse",
    "flyteidl2.connector.Resource",
    "flyteidl2.core.TaskTemplate",
    "flyteidl2.task.Inputs",
    "flyteidl2.task.Outputs",
    "flyteidl2.connector.TaskExecutionMetadata",
]

# flyteidl2 type -> flyteidl 1.16.8 type that connector_v2.rs converts it to
# (or from) by re-decoding its bytes. Fields only flyteidl2 has may be
# dropped; every field both have must agree.
TRANSCODED = {
    "flyteidl2.core.TaskTemplate": "flyteidl.core.TaskTemplate",
    "flyteidl2.core.Literal": "flyteidl.core.Literal",
    "flyteidl2.connector.TaskExecutionMetadata": "flyteidl.admin.TaskExecutionMetadata",
    "flyteidl2.core.TaskLog": "flyteidl.core.TaskLog",
    "flyteidl2.task.Inputs": "flyteidl.core.LiteralMap",
    "flyteidl2.task.Outputs": "flyteidl.core.LiteralMap",
}


def expected_message_names() -> list[str]:
    """Every flyteidl2 message the connector services reach (plus holders of
    reached enums), without map entries."""
    pool = descriptor_pool.Default()
    names: set[str] = set()
    for service in SERVICES:
        for method in pool.FindServiceByName(service).methods:
            reachable(method.input_type, names)
            reachable(method.output_type, names)
    for name in list(names):
        for field in pool.FindMessageTypeByName(name).fields:
            holder = field.enum_type.containing_type if field.enum_type else None
            if holder is not None:
                names.add(holder.full_name)
    return sorted(
        n
        for n in names
        if n.startswith("flyteidl2.") and not pool.FindMessageTypeByName(n).GetOptions().map_entry
    )


@cache
def all_cases() -> dict[str, Case]:
    return cases_for(expected_message_names())


@cache
def all_results() -> dict[str, str]:
    return results_for(all_cases())


def rust_v2_files() -> list[descriptor_pb2.FileDescriptorProto]:
    return [f for f in rust_descriptor_set().file if f.package.startswith("flyteidl2.")]


# --------------------------------------------------------------------------
# Tests


def test_proto_subset_defines_every_reached_message():
    ours = {n for n in rust_messages() if n.startswith("flyteidl2.")}
    assert not set(expected_message_names()) - ours


def test_tool_knows_every_message():
    known = set(run_tool(["--list"]))
    assert not set(expected_message_names()) - known
    assert not set(REQUIRED_MESSAGES) - known
    ours = {n for n, m in rust_messages().items() if n.startswith("flyteidl2.") and not m.options.map_entry}
    assert not ours - known


def test_populator_sets_every_field():
    pool = descriptor_pool.Default()
    covered = set().union(*(case.covered for case in all_cases().values()))
    missing = [
        field.full_name
        for name in expected_message_names()
        for field in pool.FindMessageTypeByName(name).fields
        if (name, field.name) not in covered
    ]
    assert not missing


@pytest.mark.parametrize("case_id", list(all_cases()))
def test_roundtrip_v2(case_id: str):
    assert_survives_rust(all_cases()[case_id].message, all_results()[case_id])


def test_descriptors_match_flyteidl2():
    """Names, numbers, types, labels, oneofs, enums and services match."""
    pool = descriptor_pool.Default()
    problems = []
    files: dict[str, descriptor_pb2.FileDescriptorProto] = {}
    for file in rust_v2_files():
        for name, msg in walk_messages(file.package, file.message_type):
            try:
                up_desc = pool.FindMessageTypeByName(name)
            except KeyError:
                problems.append(f"{name}: not in flyteidl2 2.0.53")
                continue
            if up_desc.file.name != file.name:
                problems.append(f"{name}: in {file.name}, upstream in {up_desc.file.name}")
            up_file = files.setdefault(up_desc.file.name, upstream_file(up_desc.file.name))
            up = dict(walk_messages(up_file.package, up_file.message_type))[name]
            ours, theirs = set(field_signature(msg)), set(field_signature(up))
            if ours != theirs:
                problems.append(
                    f"{name}: fields differ\n"
                    f"  only in hangar:    {sorted(ours - theirs, key=str)}\n"
                    f"  only in flyteidl2: {sorted(theirs - ours, key=str)}"
                )
            ours = sorted(n.name for n in msg.nested_type) + sorted(e.name for e in msg.enum_type)
            theirs = sorted(n.name for n in up.nested_type) + sorted(e.name for e in up.enum_type)
            if ours != theirs:
                problems.append(f"{name}: nested types {ours} != {theirs}")
        for name, enum in walk_enums(file.package, file.message_type, file.enum_type):
            try:
                up_enum = pool.FindEnumTypeByName(name)
            except KeyError:
                problems.append(f"{name}: not in flyteidl2 2.0.53")
                continue
            if [(v.name, v.number) for v in enum.value] != [(v.name, v.number) for v in up_enum.values]:
                problems.append(f"{name}: enum values differ")
        for service in file.service:
            full = f"{file.package}.{service.name}"
            try:
                up_service = pool.FindServiceByName(full)
            except KeyError:
                problems.append(f"{full}: not in flyteidl2 2.0.53")
                continue
            ours = sorted(
                (m.name, m.input_type.lstrip("."), m.output_type.lstrip("."), m.client_streaming, m.server_streaming)
                for m in service.method
            )
            theirs = sorted(
                (m.name, m.input_type.full_name, m.output_type.full_name, m.client_streaming, m.server_streaming)
                for m in up_service.methods
            )
            if ours != theirs:
                problems.append(f"{full}: methods {ours} != {theirs}")
    assert not problems, "\n".join(problems)


def test_services_are_complete():
    names = {f"{f.package}.{s.name}" for f in rust_v2_files() for s in f.service}
    assert names == set(SERVICES)


def test_descriptor_set_is_self_contained():
    """A reflection client can rebuild the connector services from the set."""
    pool = descriptor_pool.DescriptorPool()
    pending = list(rust_descriptor_set().file)
    while pending:
        added = []
        for f in pending:
            try:
                for d in f.dependency:
                    pool.FindFileByName(d)
            except KeyError:
                continue
            added.append(f)
        assert added, f"unresolvable imports in {[f.name for f in pending]}"
        for file in added:
            pool.Add(file)
        pending = [f for f in pending if f not in added]
    for service in SERVICES:
        assert pool.FindServiceByName(service).methods


def _shared_field_problems(v2_name: str, v1_name: str, seen: set[tuple[str, str]]) -> list[str]:
    """Fields with one number in both must agree in type (recursively);
    v1 map fields are the repeated (key=1, value=2) entries they encode as."""
    if (v2_name, v1_name) in seen:
        return []
    seen.add((v2_name, v1_name))
    pool = descriptor_pool.Default()
    v2, v1 = pool.FindMessageTypeByName(v2_name), pool.FindMessageTypeByName(v1_name)
    problems = []
    v1_fields = {f.number: f for f in v1.fields}
    for f2 in v2.fields:
        f1 = v1_fields.get(f2.number)
        if f1 is None:
            continue
        if f1.type != f2.type or is_repeated(f1) != is_repeated(f2):
            problems.append(f"{f2.full_name} vs {f1.full_name}: type or label differ")
        elif f2.message_type is not None:
            problems += _shared_field_problems(f2.message_type.full_name, f1.message_type.full_name, seen)
        elif f2.enum_type is not None:
            numbers1 = {v.number for v in f1.enum_type.values}
            extra = [v.name for v in f2.enum_type.values if v.number not in numbers1]
            if f2.enum_type.name == "Phase" and extra:
                problems.append(f"{f2.full_name}: phases {extra} unknown to v1")
    return problems


@pytest.mark.parametrize("v2_name", sorted(TRANSCODED))
def test_transcoded_types_share_the_wire_format(v2_name: str):
    assert not _shared_field_problems(v2_name, TRANSCODED[v2_name], set())


def test_inputs_bytes_read_as_a_literal_map():
    """Named literals parse as a v1 LiteralMap, as connector_v2.rs assumes."""
    from flyteidl.core import literals_pb2 as v1_literals
    from flyteidl2.core import literals_pb2 as v2_literals
    from flyteidl2.task import common_pb2

    value = v2_literals.Literal(scalar=v2_literals.Scalar(primitive=v2_literals.Primitive(integer=4)))
    inputs = common_pb2.Inputs(literals=[common_pb2.NamedLiteral(name="n", value=value)])
    as_v1 = v1_literals.LiteralMap.FromString(inputs.SerializeToString())
    assert as_v1.literals["n"].scalar.primitive.integer == 4
