"""The base classes an agent subclasses, shaped like flytekit's
`AsyncAgentBase` and `SyncAgentBase`.

Class attributes say who the agent is: `name` (shown by ListAgents),
`task_type` (what propeller routes on) and `task_type_version`.
"""

from __future__ import annotations

from typing import Any, ClassVar, Union

from .resource import Resource
from .task import Task


class _Agent:
    name: ClassVar[str] = ""
    task_type: ClassVar[str] = ""
    task_type_version: ClassVar[int] = 0

    @classmethod
    def categories(cls) -> list[tuple[str, int]]:
        """(task type, version) pairs served; override to serve several."""
        return [(cls.task_type, int(cls.task_type_version))]

    @classmethod
    def check_identity(cls) -> None:
        """Fails early (at build time) with the fix when the identity is incomplete."""
        if not isinstance(cls.name, str) or not cls.name:
            raise TypeError(f"{cls.__name__}: set the class attribute `name = \"...\"` (the agent's name)")
        cats = cls.categories()
        if not cats or any(not isinstance(t, str) or not t for t, _ in cats):
            raise TypeError(f"{cls.__name__}: set the class attribute `task_type = \"...\"` (the task type it serves)")


class AsyncAgent(_Agent):
    """A long-running job: `create` starts it, `get` polls it, `delete` aborts it.

    Keep no state on `self` between calls: each call may run in a fresh
    instance on another replica. Everything `get` needs goes in the meta.
    """

    def create(self, task: Task) -> dict[str, Any]:
        """Start the job; return a JSON-able dict (the resource meta)."""
        raise NotImplementedError(f"{type(self).__name__}.create")

    def get(self, meta: dict[str, Any]) -> Resource:
        """The state of the job `create` started (`meta` is what it returned)."""
        raise NotImplementedError(f"{type(self).__name__}.get")

    def delete(self, meta: dict[str, Any]) -> None:
        """Abort the job. The default does nothing."""
        return None


class SyncAgent(_Agent):
    """Answers at once: `do` returns a terminal Resource, or a dict meaning
    "succeeded with these outputs"."""

    def do(self, task: Task) -> Union[Resource, dict[str, Any]]:
        raise NotImplementedError(f"{type(self).__name__}.do")
