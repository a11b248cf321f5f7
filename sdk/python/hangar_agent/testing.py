"""Run an agent's methods in plain CPython, without WebAssembly, for fast unit
tests.

    from hangar_agent.testing import AgentHarness
    agent = AgentHarness(Greeter, secrets={"token": "t"}, config={"base_url": url})
    meta = agent.create({"name": "World"})
    assert agent.get(meta).outputs == {"greeting": "Hello, World!"}

Calls go through the same code as in the component (`calls.py`): inputs and
custom cross as JSON, the meta is encoded to bytes and back, a dict from
`do` becomes a succeeded Resource. Only the WIT boundary differs: secrets and
config come from the dicts given here, logs are collected in `.logs`, and
`hangar_agent.http` uses urllib (so a test can hit a local server). An
exception from the agent propagates as is, so tests can `pytest.raises` it.
"""

from __future__ import annotations

import json
from typing import Any, Mapping, Optional

from . import calls, host
from .errors import AgentError
from .native_host import NativeHost
from .resource import Resource
from .task import Task


class AgentHarness:
    def __init__(
        self,
        agent_class: type,
        *,
        secrets: Optional[Mapping[str, str]] = None,
        config: Optional[Mapping[str, str]] = None,
        echo_logs: bool = False,
    ):
        agent_class.check_identity()
        self.agent_class = agent_class
        self.host = NativeHost(secrets=dict(secrets or {}), config=config, echo_logs=echo_logs)

    @property
    def logs(self) -> list[tuple[str, str]]:
        """(level, message) of every log line so far."""
        return self.host.lines

    def task(self, inputs: Optional[Mapping[str, Any]] = None, custom: Optional[Mapping[str, Any]] = None, **fields: Any) -> Task:
        """A Task as the host would build it (inputs and custom through JSON)."""
        name, version = self.agent_class.categories()[0]
        fields.setdefault("task_type", name)
        fields.setdefault("task_type_version", version)
        return Task(
            inputs=calls.parse_object(calls.to_json(dict(inputs or {}), "inputs"), "inputs"),
            custom=calls.parse_object(calls.to_json(dict(custom or {}), "custom"), "custom"),
            **fields,
        )

    def _call(self, method, *args):
        previous = host.install(self.host)
        try:
            return method(self.agent_class(), *args)
        finally:
            host.install(previous)

    def create(self, inputs: Optional[Mapping[str, Any]] = None, custom: Optional[Mapping[str, Any]] = None, **fields: Any) -> dict:
        """`create`; returns the meta as `get` will receive it."""
        raw = self._call(calls.create, self.task(inputs, custom, **fields))
        return json.loads(raw)

    def get(self, meta: Mapping[str, Any]) -> Resource:
        return self._resource(self._call(calls.get, calls.encode_meta(dict(meta))))

    def delete(self, meta: Mapping[str, Any]) -> None:
        self._call(calls.delete, calls.encode_meta(dict(meta)))

    def do(self, inputs: Optional[Mapping[str, Any]] = None, custom: Optional[Mapping[str, Any]] = None, **fields: Any) -> Resource:
        return self._resource(self._call(calls.do, self.task(inputs, custom, **fields)))

    def run(self, inputs: Optional[Mapping[str, Any]] = None, custom: Optional[Mapping[str, Any]] = None, max_polls: int = 100, **fields: Any) -> Resource:
        """create, then get until a terminal phase (at most `max_polls` times)."""
        meta = self.create(inputs, custom, **fields)
        for _ in range(max_polls):
            resource = self.get(meta)
            if resource.is_terminal:
                return resource
        raise AssertionError(f"{self.agent_class.__name__} still not terminal after {max_polls} polls")

    @staticmethod
    def _resource(resource: Resource) -> Resource:
        # Outputs cross as JSON in the component: check they can.
        if isinstance(resource.outputs, dict):
            resource.outputs = json.loads(calls.to_json(resource.outputs, "the outputs"))
        return resource


__all__ = ["AgentHarness", "AgentError"]
