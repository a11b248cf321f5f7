"""Echo agents for flytekit's agent server: the anchor of hangar-bench.

The same two agents as Hangar's echo examples, written the flytekit way
(flytekit 1.16.31), and started with::

    cd bench/flytekit && ../../.venv/bin/pyflyte serve agent --port 8000 --modules echo_agents

* ``echo`` (async): ``create`` keeps the inputs in the resource meta, ``get``
  succeeds with them as outputs.
* ``echo_sync`` (sync): ``do`` succeeds with the inputs as outputs.

To give flytekit its cheapest possible echo, the inputs are kept as the
protobuf ``LiteralMap`` (base64 inside flytekit's JSON resource meta) and
returned as is: no conversion through the type engine. Importing this module
registers both agents (``pyflyte serve agent --modules`` imports it).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Optional

from flyteidl.core import literals_pb2
from flyteidl.core.execution_pb2 import TaskExecution
from flytekit.extend.backend.base_agent import (
    AgentRegistry,
    AsyncAgentBase,
    Resource,
    ResourceMeta,
    SyncAgentBase,
)
from flytekit.models.literals import LiteralMap
from flytekit.models.task import TaskTemplate


def _encode(inputs: Optional[LiteralMap]) -> str:
    if inputs is None:
        return ""
    return base64.b64encode(inputs.to_flyte_idl().SerializeToString()).decode("ascii")


def _decode(data: str) -> LiteralMap:
    pb = literals_pb2.LiteralMap()
    pb.ParseFromString(base64.b64decode(data))
    return LiteralMap.from_flyte_idl(pb)


@dataclass
class EchoMetadata(ResourceMeta):
    """The job: its inputs, protobuf-encoded and base64'd."""

    inputs: str


class EchoAgent(AsyncAgentBase):
    name = "Echo Agent"

    def __init__(self) -> None:
        super().__init__(task_type_name="echo", metadata_type=EchoMetadata)

    async def create(
        self, task_template: TaskTemplate, inputs: Optional[LiteralMap] = None, **kwargs
    ) -> EchoMetadata:
        return EchoMetadata(inputs=_encode(inputs))

    async def get(self, resource_meta: EchoMetadata, **kwargs) -> Resource:
        return Resource(phase=TaskExecution.SUCCEEDED, outputs=_decode(resource_meta.inputs))

    async def delete(self, resource_meta: EchoMetadata, **kwargs) -> None:
        return None


class EchoSyncAgent(SyncAgentBase):
    name = "Echo Sync Agent"

    def __init__(self) -> None:
        super().__init__(task_type_name="echo_sync")

    async def do(
        self, task_template: TaskTemplate, output_prefix: str, inputs: Optional[LiteralMap] = None, **kwargs
    ) -> Resource:
        return Resource(phase=TaskExecution.SUCCEEDED, outputs=inputs)


AgentRegistry.register(EchoAgent())
AgentRegistry.register(EchoSyncAgent())
