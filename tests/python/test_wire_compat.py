"""Wire compatibility of Hangar's flyteidl subset with flyteidl 1.16.8.

Hangar's ``proto/`` is a hand-written subset of flyteidl, compiled to Rust with
prost. prost drops fields it does not know without any error, so a missing,
renumbered or mistyped field would silently lose data sent by propeller or
flytekit. These tests pin the subset to the real thing, the Python
``flyteidl==1.16.8`` package:

* ``test_roundtrip``: for every message type, fully populated messages (every
  field set to a non-default value, recursively, one case per oneof
  alternative) are encoded by Python, decoded and re-encoded by the Rust tool
  ``proto_roundtrip`` (``host/examples/proto_roundtrip.rs``), and must parse
  back to an equal message.
* ``test_descriptors_match_flyteidl``: every message, field, oneof, enum and
  service in Hangar's descriptor set (the one gRPC reflection serves) has the
  same names, numbers, types and labels as in flyteidl.

The tool is found at ``$HANGAR_PROTO_ROUNDTRIP``, by default
``target/release/examples/proto_roundtrip`` under the repository root; build it
with ``cargo build --release -p hangar --examples``.
"""

from __future__ import annotations

import base64
import difflib
import os
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor

# Importing the service module registers every flyteidl file it depends on in
# the default descriptor pool.
from flyteidl.service import agent_pb2 as _service_agent_pb2  # noqa: F401

REPO_ROOT = Path(__file__).resolve().parents[2]

SERVICES = [
    "flyteidl.service.SyncAgentService",
    "flyteidl.service.AsyncAgentService",
    "flyteidl.service.AgentMetadataService",
]

# Messages Hangar handles directly; each must have round-trip cases (every
# reached message does).
REQUIRED_MESSAGES = [
    "flyteidl.admin.CreateTaskRequest",
    "flyteidl.admin.CreateTaskResponse",
    "flyteidl.admin.ExecuteTaskSyncRequest",
    "flyteidl.admin.ExecuteTaskSyncResponse",
    "flyteidl.admin.GetTaskRequest",
    "flyteidl.admin.GetTaskResponse",
    "flyteidl.admin.DeleteTaskRequest",
    "flyteidl.admin.DeleteTaskResponse",
    "flyteidl.admin.GetTaskMetricsRequest",
    "flyteidl.admin.GetTaskMetricsResponse",
    "flyteidl.admin.GetTaskLogsRequest",
    "flyteidl.admin.GetTaskLogsResponse",
    "flyteidl.admin.ListAgentsRequest",
    "flyteidl.admin.ListAgentsResponse",
    "flyteidl.admin.GetAgentRequest",
    "flyteidl.admin.GetAgentResponse",
    "flyteidl.admin.Resource",
    "flyteidl.core.TaskTemplate",
    "flyteidl.core.LiteralMap",
    "flyteidl.admin.TaskExecutionMetadata",
]


# --------------------------------------------------------------------------
# The Rust tool


def tool_path() -> Path:
    path = Path(
        os.environ.get(
            "HANGAR_PROTO_ROUNDTRIP", "target/release/examples/proto_roundtrip"
        )
    )
    return path if path.is_absolute() else REPO_ROOT / path


def run_tool(args: list[str], stdin: str = "") -> list[str]:
    path = tool_path()
    if not path.is_file():
        pytest.fail(
            f"{path} not found: build it with "
            "`cargo build --release -p hangar --examples` "
            "or point HANGAR_PROTO_ROUNDTRIP at it"
        )
    proc = subprocess.run(
        [str(path), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, f"{path} {args} failed: {proc.stderr}"
    return proc.stdout.splitlines()


def roundtrip_many(items: list[tuple[str, bytes]]) -> list[str]:
    """Runs the tool once over many messages; returns one output line each."""
    stdin = "".join(
        f"{name} {base64.b64encode(data).decode()}\n" for name, data in items
    )
    lines = run_tool([], stdin)
    assert len(lines) == len(items), "the tool must answer every line"
    return lines


@cache
def rust_descriptor_set() -> descriptor_pb2.FileDescriptorSet:
    (line,) = run_tool(["--descriptor-set"])
    return descriptor_pb2.FileDescriptorSet.FromString(base64.b64decode(line))


# --------------------------------------------------------------------------
# Descriptor helpers


def is_repeated(field: FieldDescriptor) -> bool:
    if hasattr(field, "is_repeated"):
        return field.is_repeated
    return field.label == FieldDescriptor.LABEL_REPEATED


def is_map(field: FieldDescriptor) -> bool:
    return (
        field.message_type is not None and field.message_type.GetOptions().map_entry
    )


def message_class(full_name: str):
    desc = descriptor_pool.Default().FindMessageTypeByName(full_name)
    return message_factory.GetMessageClass(desc)


def walk_messages(prefix: str, messages):
    """Yields (full name, DescriptorProto) for messages and nested messages."""
    for msg in messages:
        full = f"{prefix}.{msg.name}"
        yield full, msg
        yield from walk_messages(full, msg.nested_type)


def walk_enums(prefix: str, messages, enums):
    for enum in enums:
        yield f"{prefix}.{enum.name}", enum
    for msg in messages:
        full = f"{prefix}.{msg.name}"
        yield from walk_enums(full, msg.nested_type, msg.enum_type)


def rust_messages() -> dict[str, descriptor_pb2.DescriptorProto]:
    """Every message in Hangar's descriptor set (flyteidl and well-known)."""
    out = {}
    for file in rust_descriptor_set().file:
        out.update(walk_messages(file.package, file.message_type))
    return out


# --------------------------------------------------------------------------
# Populating every field


@dataclass
class Populator:
    """Sets every field of a message to a non-default value, recursively.

    ``variant`` picks the alternative of every oneof (``variant`` modulo the
    number of alternatives), so that variants 0..N-1 together exercise every
    alternative of every oneof of at most N alternatives. Recursion is bounded
    by allowing each message type at most ``max_per_path`` times on the path
    from the root; a oneof whose chosen alternative would exceed that takes
    the next alternative that does not.
    """

    variant: int
    max_per_path: int = 2
    repeat: int = 2

    def __post_init__(self):
        self.counter = 0
        self.covered: set[tuple[str, str]] = set()

    def next(self) -> int:
        self.counter += 1
        return self.counter

    def scalar(self, field: FieldDescriptor):
        n = self.next()
        t = field.type
        if t in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
            return 0.5 + n
        if t in (
            FieldDescriptor.TYPE_INT64,
            FieldDescriptor.TYPE_SINT64,
            FieldDescriptor.TYPE_SFIXED64,
        ):
            return -(2**40) - n  # negative and wider than 32 bits
        if t in (FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_FIXED64):
            return 2**63 + n  # above i64::MAX
        if t in (
            FieldDescriptor.TYPE_INT32,
            FieldDescriptor.TYPE_SINT32,
            FieldDescriptor.TYPE_SFIXED32,
        ):
            return -1000 - n  # negative: a 10-byte varint for int32
        if t in (FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_FIXED32):
            return 2**31 + n  # above i32::MAX
        if t == FieldDescriptor.TYPE_BOOL:
            return True
        if t == FieldDescriptor.TYPE_STRING:
            return f"{field.name}-\u00fc\u2603-{n}"  # not ASCII
        if t == FieldDescriptor.TYPE_BYTES:
            return b"\xff\x00\x80" + bytes([n % 256])  # not UTF-8
        if t == FieldDescriptor.TYPE_ENUM:
            values = [v.number for v in field.enum_type.values if v.number != 0]
            if not values:
                # Only a zero value exists: send a value unknown to both
                # sides; open enums must carry it through untouched.
                return 7
            return values[(self.variant + n) % len(values)]
        raise AssertionError(f"unhandled field type {t} of {field.full_name}")

    def can_fill(self, field: FieldDescriptor, counts: dict[str, int]) -> bool:
        target = field.message_type
        if target is not None and target.GetOptions().map_entry:
            target = target.fields_by_name["value"].message_type
        if target is None:
            return True
        return counts.get(target.full_name, 0) < self.max_per_path

    def fill(self, msg, counts: dict[str, int] | None = None):
        desc: Descriptor = msg.DESCRIPTOR
        counts = dict(counts or {})
        counts[desc.full_name] = counts.get(desc.full_name, 0) + 1
        msg.SetInParent()
        for field in desc.fields:
            if field.containing_oneof is None and self.can_fill(field, counts):
                self.fill_field(msg, field, counts)
        for oneof in desc.oneofs:
            fields = list(oneof.fields)
            start = self.variant % len(fields)
            for i in range(len(fields)):
                field = fields[(start + i) % len(fields)]
                if self.can_fill(field, counts):
                    self.fill_field(msg, field, counts)
                    break
        return msg

    def fill_field(self, msg, field: FieldDescriptor, counts: dict[str, int]):
        self.covered.add((field.containing_type.full_name, field.name))
        value = getattr(msg, field.name) if is_repeated(field) else None
        if is_map(field):
            key_field = field.message_type.fields_by_name["key"]
            value_field = field.message_type.fields_by_name["value"]
            self.covered.add((field.message_type.full_name, "key"))
            self.covered.add((field.message_type.full_name, "value"))
            for _ in range(self.repeat):
                key = self.scalar(key_field)
                if value_field.message_type is not None:
                    self.fill(value[key], counts)
                else:
                    value[key] = self.scalar(value_field)
        elif is_repeated(field):
            for _ in range(self.repeat):
                if field.message_type is not None:
                    self.fill(value.add(), counts)
                else:
                    value.append(self.scalar(field))
        elif field.message_type is not None:
            self.fill(getattr(msg, field.name), counts)
        else:
            setattr(msg, field.name, self.scalar(field))


def reachable(desc: Descriptor, seen: set[str] | None = None) -> set[str]:
    seen = set() if seen is None else seen
    if desc.full_name not in seen:
        seen.add(desc.full_name)
        for field in desc.fields:
            if field.message_type is not None:
                reachable(field.message_type, seen)
    return seen


def variant_count(desc: Descriptor) -> int:
    """The largest oneof reachable from ``desc`` (at least 1)."""
    pool = descriptor_pool.Default()
    sizes = [
        len(oneof.fields)
        for name in reachable(desc)
        for oneof in pool.FindMessageTypeByName(name).oneofs
    ]
    return max(sizes, default=1)


@dataclass
class Case:
    name: str
    variant: int
    message: object
    covered: set[tuple[str, str]]

    @property
    def id(self) -> str:
        return f"{self.name}#{self.variant}"


def expected_message_names() -> list[str]:
    """Every message the agent services reach in flyteidl 1.16.8.

    That is: the messages reachable from the three services' requests and
    responses, plus the messages that merely hold a reachable enum (e.g.
    ``flyteidl.core.TaskExecution`` for ``TaskExecution.Phase``). Map entries
    are left out (they are not types of their own in Rust).
    """
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
        n for n in names if not pool.FindMessageTypeByName(n).GetOptions().map_entry
    )


def cases_for(names) -> dict[str, Case]:
    """One fully populated message per (message, oneof alternative)."""
    cases = {}
    for name in names:
        desc = descriptor_pool.Default().FindMessageTypeByName(name)
        for variant in range(variant_count(desc)):
            populator = Populator(variant)
            msg = populator.fill(message_class(name)())
            case = Case(name, variant, msg, populator.covered)
            cases[case.id] = case
    return cases


def results_for(cases: dict[str, Case]) -> dict[str, str]:
    """Runs the Rust tool once over every case; maps case id to its answer."""
    ordered = list(cases.values())
    lines = roundtrip_many([(case.name, case.message.SerializeToString()) for case in ordered])
    return {case.id: line for case, line in zip(ordered, lines)}


@cache
def all_cases() -> dict[str, Case]:
    return cases_for(expected_message_names())


@cache
def all_results() -> dict[str, str]:
    return results_for(all_cases())


def rust_flyteidl_messages() -> dict[str, descriptor_pb2.DescriptorProto]:
    return {n: m for n, m in rust_messages().items() if n.startswith("flyteidl.")}


def upstream_file(name: str) -> descriptor_pb2.FileDescriptorProto:
    fdp = descriptor_pb2.FileDescriptorProto()
    descriptor_pool.Default().FindFileByName(name).CopyToProto(fdp)
    return fdp


def field_signature(msg: descriptor_pb2.DescriptorProto) -> list[tuple]:
    """What decides the wire format (and the JSON/reflection names) of fields."""
    return sorted(
        (
            f.number,
            f.name,
            descriptor_pb2.FieldDescriptorProto.Label.Name(f.label),
            descriptor_pb2.FieldDescriptorProto.Type.Name(f.type),
            f.type_name.lstrip("."),
            msg.oneof_decl[f.oneof_index].name if f.HasField("oneof_index") else None,
        )
        for f in msg.field
    )


# --------------------------------------------------------------------------
# Tests


def test_proto_subset_defines_every_reached_message():
    expected = {n for n in expected_message_names() if n.startswith("flyteidl.")}
    missing = expected - set(rust_flyteidl_messages())
    assert not missing


def test_tool_knows_every_message():
    known = set(run_tool(["--list"]))
    assert not set(expected_message_names()) - known
    assert not set(REQUIRED_MESSAGES) - known
    assert not {
        n for n, m in rust_flyteidl_messages().items() if not m.options.map_entry
    } - known


def test_populator_sets_every_field():
    """The cases together set every upstream field of every reached message."""
    pool = descriptor_pool.Default()
    covered = set().union(*(case.covered for case in all_cases().values()))
    missing = [
        field.full_name
        for name in expected_message_names()
        for field in pool.FindMessageTypeByName(name).fields
        if (name, field.name) not in covered
    ]
    assert not missing


def test_cases_cover_required_messages():
    names = {case.name for case in all_cases().values()}
    assert not set(REQUIRED_MESSAGES) - names


def assert_survives_rust(message, line: str) -> None:
    """`line` (the Rust tool's answer for `message`) decodes to an equal
    message; otherwise fail with a diff of what changed."""
    assert not line.startswith("ERROR"), line
    back = type(message).FromString(base64.b64decode(line))
    if back != message:
        diff = "\n".join(
            difflib.unified_diff(
                text_format.MessageToString(message).splitlines(),
                text_format.MessageToString(back).splitlines(),
                "python",
                "after rust",
                lineterm="",
                n=2,
            )
        )
        pytest.fail(f"re-encoding by Rust lost or changed data:\n{diff[:4000]}")


@pytest.mark.parametrize("case_id", list(all_cases()))
def test_roundtrip(case_id: str):
    """Python -> Rust (decode, encode) -> Python gives back an equal message."""
    assert_survives_rust(all_cases()[case_id].message, all_results()[case_id])


def test_roundtrip_detects_dropped_fields():
    """Negative control: a field unknown to Rust does not survive the trip.

    This is what makes test_roundtrip meaningful: prost drops unknown fields,
    so a field missing from proto/ shows up as a difference.
    """
    msg = all_cases()["flyteidl.admin.TaskCategory#0"].message
    data = msg.SerializeToString() + bytes([15 << 3 | 0, 1])  # field 15 = 1
    (line,) = roundtrip_many([("flyteidl.admin.TaskCategory", data)])
    back = type(msg).FromString(base64.b64decode(line))
    assert back == msg  # known fields all kept...
    assert back.SerializeToString(deterministic=True) != type(msg).FromString(
        data
    ).SerializeToString(deterministic=True)  # ...the unknown one dropped


def test_tool_reports_bad_lines():
    lines = roundtrip_many(
        [
            ("flyteidl.admin.NoSuchMessage", b""),
            ("flyteidl.admin.CreateTaskRequest", b"\xff\xff\xff"),
        ]
    )
    assert all(line.startswith("ERROR ") for line in lines), lines
    assert run_tool([], "no-space-here\nflyteidl.core.Void !!!\n")[0].startswith(
        "ERROR "
    )


def test_descriptors_match_flyteidl():
    """Names, numbers, types, labels and oneofs match upstream, everywhere."""
    pool = descriptor_pool.Default()
    problems = []
    upstream_files: dict[str, descriptor_pb2.FileDescriptorProto] = {}
    for file in rust_descriptor_set().file:
        if not file.package.startswith("flyteidl."):
            continue
        for name, msg in walk_messages(file.package, file.message_type):
            try:
                up_desc = pool.FindMessageTypeByName(name)
            except KeyError:
                problems.append(f"{name}: not in flyteidl 1.16.8")
                continue
            up_file = upstream_files.setdefault(
                up_desc.file.name, upstream_file(up_desc.file.name)
            )
            up_pkg = up_file.package
            up = dict(walk_messages(up_pkg, up_file.message_type))[name]
            ours, theirs = set(field_signature(msg)), set(field_signature(up))
            if ours != theirs:
                problems.append(
                    f"{name}: fields differ\n"
                    f"  only in hangar:   {sorted(ours - theirs, key=str)}\n"
                    f"  only in flyteidl: {sorted(theirs - ours, key=str)}"
                )
            ours = sorted(n.name for n in msg.nested_type) + sorted(
                e.name for e in msg.enum_type
            )
            theirs = sorted(n.name for n in up.nested_type) + sorted(
                e.name for e in up.enum_type
            )
            if ours != theirs:
                problems.append(f"{name}: nested types {ours} != {theirs}")
        for name, enum in walk_enums(file.package, file.message_type, file.enum_type):
            try:
                up_enum = pool.FindEnumTypeByName(name)
            except KeyError:
                problems.append(f"{name}: not in flyteidl 1.16.8")
                continue
            ours = [(v.name, v.number) for v in enum.value]
            theirs = [(v.name, v.number) for v in up_enum.values]
            if ours != theirs:
                problems.append(f"{name}: values {ours} != {theirs}")
        for service in file.service:
            full = f"{file.package}.{service.name}"
            try:
                up_service = pool.FindServiceByName(full)
            except KeyError:
                problems.append(f"{full}: not in flyteidl 1.16.8")
                continue
            ours = sorted(
                (
                    m.name,
                    m.input_type.lstrip("."),
                    m.output_type.lstrip("."),
                    m.client_streaming,
                    m.server_streaming,
                )
                for m in service.method
            )
            theirs = sorted(
                (
                    m.name,
                    m.input_type.full_name,
                    m.output_type.full_name,
                    m.client_streaming,
                    m.server_streaming,
                )
                for m in up_service.methods
            )
            if ours != theirs:
                problems.append(f"{full}: methods {ours} != {theirs}")
    assert not problems, "\n".join(problems)


def test_services_are_complete():
    names = {
        f"{f.package}.{s.name}" for f in rust_descriptor_set().file for s in f.service
    }
    assert names >= set(SERVICES)


def test_file_layout_matches_flyteidl():
    """Each message lives in the same .proto file as upstream (for reflection)."""
    pool = descriptor_pool.Default()
    moved = [
        f"{name}: {file.name} vs {pool.FindMessageTypeByName(name).file.name}"
        for file in rust_descriptor_set().file
        if file.package.startswith("flyteidl.")
        for name, _ in walk_messages(file.package, file.message_type)
        if pool.FindMessageTypeByName(name).file.name != file.name
    ]
    assert not moved


def test_descriptor_set_is_self_contained():
    """A reflection client can rebuild every service from the set alone."""
    pool = descriptor_pool.DescriptorPool()
    pending = list(rust_descriptor_set().file)
    while pending:  # add files after their dependencies, whatever the order
        added = [f for f in pending if all(_has_file(pool, d) for d in f.dependency)]
        assert added, f"unresolvable imports in {[f.name for f in pending]}"
        for file in added:
            pool.Add(file)
        pending = [f for f in pending if f not in added]
    for service in SERVICES:
        assert pool.FindServiceByName(service).methods


def _has_file(pool: descriptor_pool.DescriptorPool, name: str) -> bool:
    try:
        pool.FindFileByName(name)
    except KeyError:
        return False
    return True
