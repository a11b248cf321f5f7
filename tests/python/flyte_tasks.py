"""Flyte tasks, values and requests for Hangar's integration tests.

Templates and literals here are produced by flytekit 1.16.31 itself (its
translator and TypeEngine), so the tests prove that Hangar accepts what a real
flytekit registers and returns what a real flytekit task downstream decodes.
Plain flyteidl helpers (hand-built templates, requests) sit at the bottom.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import typing
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from flyteidl.admin import agent_pb2
from flyteidl.core import identifier_pb2, interface_pb2, literals_pb2, tasks_pb2, types_pb2
from flytekit import FlyteContextManager
from flytekit.configuration import ImageConfig, SerializationSettings
from flytekit.core.base_task import PythonTask
from flytekit.core.interface import Interface
from flytekit.core.type_engine import TypeEngine
from flytekit.models.literals import LiteralMap
from flytekit.tools.translator import get_serializable
from flytekit.types.file import FlyteFile
from flytekit.types.structured import StructuredDataset

# --------------------------------------------------------------------------
# Types


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


@dataclass
class Inner:
    tags: List[str]
    weight: Optional[float] = None


@dataclass
class Point:
    x: int
    y: float
    label: str
    inner: Inner = field(default_factory=lambda: Inner(tags=[]))
    scores: Dict[str, int] = field(default_factory=dict)


CsvFile = FlyteFile[typing.TypeVar("csv")]

UTC = datetime.timezone.utc


@dataclass(frozen=True)
class Case:
    """One input (and identical output) of an echo task."""

    id: str
    python_type: Any
    value: Any


# One case per type (and a few edge values): each becomes its own
# parametrized test, so a type that does not round-trip is named precisely.
CASES: list[Case] = [
    Case("int", int, 42),
    Case("int_negative_big", int, -(2**62)),
    Case("float", float, 2.5),
    Case("float_whole", float, 2.0),
    Case("str", str, "hello, wörld ✈"),
    Case("str_empty", str, ""),
    Case("bool", bool, True),
    Case("datetime", datetime.datetime, datetime.datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)),
    Case("timedelta", datetime.timedelta, datetime.timedelta(seconds=90, microseconds=500000)),
    Case("timedelta_negative", datetime.timedelta, datetime.timedelta(seconds=-1.5)),
    Case("list_int", List[int], [1, 2, 3]),
    Case("list_empty", List[int], []),
    Case("dict_str_float", Dict[str, float], {"a": 1.5, "b": 2.0}),
    Case("nested_list_dict", List[Dict[str, List[int]]], [{"a": [1, 2]}, {"b": []}]),
    Case("dict_untyped", dict, {"k": [1, "x", {"n": None}], "z": 2.5, "flag": False, "i": 7}),
    Case("dataclass", Point, Point(x=1, y=2.5, label="pt", inner=Inner(tags=["a", "b"], weight=0.5), scores={"s": 3})),
    Case("optional_int_value", Optional[int], 7),
    Case("optional_int_none", Optional[int], None),
    Case("optional_dataclass_value", Optional[Point], Point(x=-3, y=0.25, label="")),
    Case("flytefile", FlyteFile, FlyteFile("s3://bucket/key.csv")),
    Case("flytefile_csv", CsvFile, CsvFile("s3://bucket/typed.csv")),
    Case("structured_dataset", StructuredDataset, StructuredDataset(uri="s3://bucket/ds")),
    Case("enum", Color, Color.GREEN),
]


# --------------------------------------------------------------------------
# Tasks


class EchoTask(PythonTask):
    """A flytekit task whose work an agent does: task type `echo` (async) or
    `echo_sync` (sync), outputs declared identical to the inputs."""

    def __init__(self, name: str, task_type: str, types: dict[str, Any]):
        super().__init__(
            task_type=task_type,
            name=name,
            task_config=None,
            interface=Interface(inputs=dict(types), outputs=dict(types)),
        )


def serialization_settings() -> SerializationSettings:
    return SerializationSettings(image_config=ImageConfig.auto_default_image())


def serialize(task: PythonTask) -> tasks_pb2.TaskTemplate:
    """The TaskTemplate flytekit registers for ``task``, as a flyteidl proto."""
    spec = get_serializable(OrderedDict(), serialization_settings(), task)
    return spec.template.to_flyte_idl()


def echo_template(task_type: str, types: dict[str, Any], name: str | None = None) -> tasks_pb2.TaskTemplate:
    return serialize(EchoTask(name or f"tests.{task_type}.{'_'.join(types)}", task_type, types))


def to_literal_map(values: dict[str, Any], types: dict[str, Any]) -> literals_pb2.LiteralMap:
    ctx = FlyteContextManager.current_context()
    return TypeEngine.dict_to_literal_map(ctx, values, types).to_flyte_idl()


def from_literal_map(literal_map: literals_pb2.LiteralMap, types: dict[str, Any]) -> dict[str, Any]:
    ctx = FlyteContextManager.current_context()
    return TypeEngine.literal_map_to_kwargs(ctx, LiteralMap.from_flyte_idl(literal_map), types)


def comparable(value: Any) -> Any:
    """A form of ``value`` whose equality is strict about types (``2`` is
    not ``2.0``, ``True`` is not ``1``, a dataclass is not its dict) and
    insensitive to dict order; files and datasets, which flytekit decodes
    lazily, compare by URI."""
    if isinstance(value, FlyteFile):
        remote = getattr(value, "remote_source", None)
        return ("FlyteFile", str(remote or value.path))
    if isinstance(value, StructuredDataset):
        uri = value.uri or (value.literal.uri if value.literal is not None else None)
        return ("StructuredDataset", uri)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return (type(value).__name__, {f.name: comparable(getattr(value, f.name)) for f in dataclasses.fields(value)})
    if isinstance(value, dict):
        return ("dict", sorted((repr(k), comparable(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, [comparable(v) for v in value])
    if isinstance(value, (bool, int, float, str, type(None))):
        return (type(value).__name__, value)
    return (type(value).__name__, value)


# --------------------------------------------------------------------------
# Plain flyteidl helpers (no flytekit)


def literal(value: Any) -> literals_pb2.Literal:
    """A scalar/collection/map literal for simple Python values."""
    if isinstance(value, bool):
        return literals_pb2.Literal(scalar=literals_pb2.Scalar(primitive=literals_pb2.Primitive(boolean=value)))
    if isinstance(value, int):
        return literals_pb2.Literal(scalar=literals_pb2.Scalar(primitive=literals_pb2.Primitive(integer=value)))
    if isinstance(value, float):
        return literals_pb2.Literal(scalar=literals_pb2.Scalar(primitive=literals_pb2.Primitive(float_value=value)))
    if isinstance(value, str):
        return literals_pb2.Literal(scalar=literals_pb2.Scalar(primitive=literals_pb2.Primitive(string_value=value)))
    if isinstance(value, list):
        return literals_pb2.Literal(collection=literals_pb2.LiteralCollection(literals=[literal(v) for v in value]))
    if isinstance(value, dict):
        return literals_pb2.Literal(map=literal_map(value))
    raise TypeError(f"no literal for {value!r}")


def literal_map(values: dict[str, Any]) -> literals_pb2.LiteralMap:
    return literals_pb2.LiteralMap(literals={k: literal(v) for k, v in values.items()})


def plain_template(task_type: str, version: int = 0, name: str = "tests.plain") -> tasks_pb2.TaskTemplate:
    """A minimal template with no interface (outputs are then type-inferred)."""
    return tasks_pb2.TaskTemplate(
        id=identifier_pb2.Identifier(
            resource_type=identifier_pb2.TASK, project="flytesnacks", domain="development", name=name, version="v1"
        ),
        type=task_type,
        task_type_version=version,
        metadata=tasks_pb2.TaskMetadata(runtime=tasks_pb2.RuntimeMetadata(type=tasks_pb2.RuntimeMetadata.FLYTE_SDK)),
        interface=interface_pb2.TypedInterface(),
    )


def int_template(task_type: str, input_name: str = "seconds") -> tasks_pb2.TaskTemplate:
    """A template declaring one integer input and no outputs."""
    template = plain_template(task_type, name=f"tests.{task_type}")
    template.interface.inputs.variables[input_name].type.simple = types_pb2.INTEGER
    return template


def execution_metadata(node: str = "n0", retry: int = 0) -> agent_pb2.TaskExecutionMetadata:
    return agent_pb2.TaskExecutionMetadata(
        task_execution_id=identifier_pb2.TaskExecutionIdentifier(
            task_id=identifier_pb2.Identifier(
                resource_type=identifier_pb2.TASK,
                project="flytesnacks",
                domain="development",
                name="tests.task",
                version="v1",
            ),
            node_execution_id=identifier_pb2.NodeExecutionIdentifier(
                node_id=node,
                execution_id=identifier_pb2.WorkflowExecutionIdentifier(
                    project="flytesnacks", domain="development", name="abc123"
                ),
            ),
            retry_attempt=retry,
        ),
        namespace="flytesnacks-development",
        labels={"team": "hangar"},
        annotations={"note": "test"},
        k8s_service_account="default",
        environment_variables={"FOO": "bar"},
    )


OUTPUT_PREFIX = "s3://bucket/metadata/propeller/abc123/n0/0"


def create_request(
    template: tasks_pb2.TaskTemplate, inputs: literals_pb2.LiteralMap | None = None
) -> agent_pb2.CreateTaskRequest:
    return agent_pb2.CreateTaskRequest(
        inputs=inputs if inputs is not None else literals_pb2.LiteralMap(),
        template=template,
        output_prefix=OUTPUT_PREFIX,
        task_execution_metadata=execution_metadata(),
    )


def category(name: str, version: int = 0) -> agent_pb2.TaskCategory:
    return agent_pb2.TaskCategory(name=name, version=version)


def get_request(task_type: str, resource_meta: bytes, *, legacy_only: bool = False) -> agent_pb2.GetTaskRequest:
    """As propeller sends it: both the category and the deprecated task_type,
    or (``legacy_only``) just the deprecated string, as old clients do."""
    if legacy_only:
        return agent_pb2.GetTaskRequest(task_type=task_type, resource_meta=resource_meta, output_prefix=OUTPUT_PREFIX)
    return agent_pb2.GetTaskRequest(
        task_type=task_type, resource_meta=resource_meta, task_category=category(task_type), output_prefix=OUTPUT_PREFIX
    )


def delete_request(task_type: str, resource_meta: bytes) -> agent_pb2.DeleteTaskRequest:
    return agent_pb2.DeleteTaskRequest(task_type=task_type, resource_meta=resource_meta, task_category=category(task_type))


def sync_messages(
    template: tasks_pb2.TaskTemplate, inputs: literals_pb2.LiteralMap | None
) -> list[agent_pb2.ExecuteTaskSyncRequest]:
    """What propeller sends on ExecuteTaskSync: a header, then the inputs."""
    messages = [
        agent_pb2.ExecuteTaskSyncRequest(
            header=agent_pb2.CreateRequestHeader(
                template=template, output_prefix=OUTPUT_PREFIX, task_execution_metadata=execution_metadata()
            )
        )
    ]
    if inputs is not None:
        messages.append(agent_pb2.ExecuteTaskSyncRequest(inputs=inputs))
    return messages


def execute_sync(sync_stub, template, inputs, timeout: float = 30.0) -> agent_pb2.ExecuteTaskSyncResponse:
    """Sends the header and the inputs and returns only the first response,
    as propeller does."""
    responses = sync_stub.ExecuteTaskSync(iter(sync_messages(template, inputs)), timeout=timeout)
    try:
        return next(responses)
    finally:
        responses.cancel()
