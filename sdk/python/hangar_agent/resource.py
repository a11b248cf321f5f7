"""The state of a job, as `get` and `do` report it.

Mirrors `flyteidl.admin.Resource`: a phase, a message, outputs when
succeeded, log links and custom info. Build one with the constructors
(`Resource.succeeded(outputs)`, `Resource.running(message)`,
`Resource.failed(message)`) rather than by hand.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Union

#: Outputs: a dict of plain values (converted by the host with the task's
#: declared output types) or the bytes of a protobuf `LiteralMap`.
Outputs = Union[dict, bytes, bytearray]

PHASES = (
    "queued",
    "waiting-for-resources",
    "initializing",
    "running",
    "succeeded",
    "aborted",
    "failed",
    "retryable-failed",
)
TERMINAL_PHASES = ("succeeded", "aborted", "failed", "retryable-failed")


@dataclass
class LogLink:
    name: str
    uri: str


@dataclass
class Resource:
    phase: str
    message: str = ""
    outputs: Outputs | None = None
    log_links: list[LogLink] = field(default_factory=list)
    custom_info: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.phase not in PHASES:
            raise ValueError(f"unknown phase {self.phase!r}; use one of {', '.join(PHASES)}")

    # -- constructors -----------------------------------------------------

    @classmethod
    def succeeded(cls, outputs: Outputs | None = None, message: str = "") -> "Resource":
        return cls("succeeded", message, dict(outputs) if isinstance(outputs, dict) else outputs)

    @classmethod
    def running(cls, message: str = "") -> "Resource":
        return cls("running", message)

    @classmethod
    def queued(cls, message: str = "") -> "Resource":
        return cls("queued", message)

    @classmethod
    def initializing(cls, message: str = "") -> "Resource":
        return cls("initializing", message)

    @classmethod
    def failed(cls, message: str, *, retryable: bool = False) -> "Resource":
        return cls("retryable-failed" if retryable else "failed", message)

    @classmethod
    def aborted(cls, message: str = "") -> "Resource":
        return cls("aborted", message)

    # -- decorations --------------------------------------------------------

    def with_log_link(self, name: str, uri: str) -> "Resource":
        self.log_links.append(LogLink(name, uri))
        return self

    def with_custom_info(self, info: dict[str, Any]) -> "Resource":
        self.custom_info = dict(info)
        return self

    @property
    def is_terminal(self) -> bool:
        return self.phase in TERMINAL_PHASES
