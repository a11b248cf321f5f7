"""What `create` and `do` receive: the task, with everything as Python values.

The host sends inputs and `custom` as JSON text; they arrive here as dicts
(numbers, strings, bools, lists, dicts, None; datetimes as RFC 3339 strings,
durations as ``"1.5s"``, files as ``{"uri": ..., "format": ...}``). The raw
protobuf bytes are kept for agents that want full fidelity.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import AgentError

_MISSING = object()


@dataclass
class TaskMetadata:
    """`flyteidl.admin.TaskExecutionMetadata`: absent when run locally."""

    namespace: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    k8s_service_account: str = ""
    environment_variables: dict[str, str] = field(default_factory=dict)
    #: project, domain, name, version of the task; node_id, execution_*,
    #: retry_attempt of the execution.
    execution_id: dict[str, Any] = field(default_factory=dict)


@dataclass
class Task:
    inputs: dict[str, Any] = field(default_factory=dict)
    #: `TaskTemplate.custom` (the task plugin's settings).
    custom: dict[str, Any] = field(default_factory=dict)
    #: `TaskTemplate.config`, a string map.
    config: dict[str, str] = field(default_factory=dict)
    task_type: str = ""
    task_type_version: int = 0
    #: project, domain, name, version, org of the task.
    task_id: dict[str, str] = field(default_factory=dict)
    sql: str | None = None
    output_prefix: str = ""
    #: Same for one attempt of one execution, different per retry: use it to
    #: make `create` idempotent.
    idempotency_key: str = ""
    metadata: TaskMetadata | None = None
    #: The whole `flyteidl.core.TaskTemplate`, protobuf-encoded.
    template: bytes = b""
    #: The inputs as a protobuf-encoded `flyteidl.core.LiteralMap`.
    inputs_raw: bytes = b""

    def input(self, name: str, default: Any = _MISSING) -> Any:
        """The input `name`; without a default, a missing input fails the task
        with a message listing the inputs that did arrive."""
        if name in self.inputs:
            return self.inputs[name]
        if default is not _MISSING:
            return default
        have = ", ".join(sorted(self.inputs)) or "none"
        raise AgentError(
            f"the task has no input {name!r} (inputs: {have}); declare it in the task's interface",
            "MissingInput",
        )
