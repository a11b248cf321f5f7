"""`export(MyAgent)`: the one line that makes an agent class a component.

componentize-py looks, in the app module it builds, for one class per
exported WIT interface (`Identity`, and `AsyncHandler` or `SyncHandler`).
`export` writes those classes into the module that calls it, adapting WIT
records to SDK objects and exceptions to `agent-error`. In plain CPython
(no `wit_world` bindings) it only checks the agent class, so the same app
module imports cleanly in unit tests.
"""

from __future__ import annotations

import sys
import traceback
from typing import Any, Callable, TypeVar

from . import calls, host
from .agent import AsyncAgent, SyncAgent
from .errors import AgentError
from .resource import Resource
from .task import Task, TaskMetadata

A = TypeVar("A", bound=type)


def export(agent_class: A) -> A:
    """Export `agent_class` (an AsyncAgent or SyncAgent subclass) from the
    calling module. Write it at the bottom of the module you pass to
    componentize-py: ``export(MyAgent)`` (or decorate the class with ``@export``)."""
    if not (isinstance(agent_class, type) and issubclass(agent_class, (AsyncAgent, SyncAgent))):
        raise TypeError(f"export() takes a subclass of AsyncAgent or SyncAgent, not {agent_class!r}")
    agent_class.check_identity()
    try:
        from wit_world import exports  # noqa: F401  (only inside a componentize-py build)
    except ImportError:
        if sys.platform == "wasi":
            raise
        return agent_class
    target = sys._getframe(1).f_globals
    target.update(_export_classes(agent_class))
    # Import the WIT-backed host now, while componentize-py pre-initialises
    # the component, so no call pays for that import.
    host.current()
    return agent_class


#: How often `_warm_up` runs the SDK's per-call code: CPython specialises an
#: instruction after a few runs, so a few dozen settle every one of them.
WARM_UP_ROUNDS = 32


def _warm_up(agent_class: type, wt: Any, to_resource: Callable[[Resource], Any]) -> None:
    """Run the SDK's own per-call code on a made-up task while componentize-py
    pre-initialises the component, so what CPython builds on first use
    (specialised bytecode, attribute and method caches) is in the snapshot
    every instance starts from. A reused instance is reset to that state
    after each call, so without this every call would run the SDK cold.
    Only the SDK's conversions run: never the agent's methods, never a host
    call, and nothing of the made-up task is kept."""
    task_type, version = agent_class.categories()[0]
    ident = wt.Identifier("project", "domain", "name", "version", "")
    pairs = [wt.KeyValue("k", "v")]
    # As propeller sends it (with metadata) and as `hangar run` does (without).
    made_up = [
        wt.Task(
            template=wt.TaskTemplate(
                category=wt.TaskCategory(task_type, version),
                id=ident,
                custom='{"k":"v"}',
                config=pairs,
                sql=None,
                raw=b"",
            ),
            inputs='{"n":3,"s":"hi"}',
            inputs_raw=b"",
            output_prefix="s3://bucket/prefix",
            metadata=metadata,
            idempotency_key="key",
        )
        for metadata in (
            wt.TaskExecutionMetadata(
                task_execution_id=wt.TaskExecutionId(ident, "n0", "project", "domain", "execution", 0),
                namespace="namespace",
                labels=pairs,
                annotations=pairs,
                k8s_service_account="default",
                environment_variables=pairs,
            ),
            None,
        )
    ]
    for _ in range(WARM_UP_ROUNDS):
        for wit_task in made_up:
            task = _task(wit_task)
            meta = calls.decode_meta(calls.encode_meta(task.inputs))
            to_resource(calls.as_resource(Resource.succeeded(meta), "get"))


def _export_classes(agent_class: type) -> dict[str, type]:
    from componentize_py_types import Err
    from wit_world import exports
    from wit_world.imports import flyte_agent_types as wt

    instance: list[Any] = []

    def agent() -> Any:
        if not instance:
            instance.append(agent_class())
        return instance[0]

    def guarded(method: str, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except AgentError as e:
            kind = wt.ErrorKind.RECOVERABLE if e.retryable else wt.ErrorKind.NON_RECOVERABLE
            raise Err(wt.AgentError(e.message, e.code, kind)) from None
        except Exception as e:  # noqa: BLE001 - every failure becomes an agent-error, never a trap
            where = traceback.extract_tb(e.__traceback__)[-1]
            message = f"{type(e).__name__} in {agent_class.__name__}.{method}: {e} (at {where.filename}:{where.lineno})"
            try:
                host.current().log("error", "".join(traceback.format_exception(e)))
            except Exception:  # noqa: BLE001
                pass
            raise Err(wt.AgentError(message, "UnhandledException", wt.ErrorKind.NON_RECOVERABLE)) from None

    def to_resource(resource: Resource) -> Any:
        outputs = None
        if resource.outputs is not None:
            if isinstance(resource.outputs, (bytes, bytearray)):
                outputs = wt.Outputs_LiteralMap(bytes(resource.outputs))
            else:
                outputs = wt.Outputs_Json(calls.to_json(resource.outputs, "the outputs"))
        custom = None if resource.custom_info is None else calls.to_json(resource.custom_info, "custom_info")
        return wt.Resource(
            phase=getattr(wt.Phase, resource.phase.upper().replace("-", "_")),
            message=resource.message,
            outputs=outputs,
            log_links=[wt.LogLink(link.name, link.uri) for link in resource.log_links],
            custom_info=custom,
        )

    class Identity(exports.Identity):
        def describe(self) -> Any:
            return wt.AgentInfo(
                name=agent_class.name,
                categories=[wt.TaskCategory(name, version) for name, version in agent_class.categories()],
            )

    classes: dict[str, type] = {"Identity": Identity}
    if issubclass(agent_class, AsyncAgent):

        class AsyncHandler(exports.AsyncHandler):
            def create(self, task: Any) -> bytes:
                return guarded("create", lambda: calls.create(agent(), _task(task)))

            def get(self, handle: Any) -> Any:
                return guarded("get", lambda: to_resource(calls.get(agent(), handle.resource_meta)))

            def delete(self, handle: Any) -> None:
                guarded("delete", lambda: calls.delete(agent(), handle.resource_meta))

        classes["AsyncHandler"] = AsyncHandler
    else:

        class SyncHandler(exports.SyncHandler):
            def do(self, task: Any) -> Any:
                return guarded("do", lambda: to_resource(calls.do(agent(), _task(task))))

        classes["SyncHandler"] = SyncHandler
    _warm_up(agent_class, wt, to_resource)
    return classes


def _pairs(items: Any) -> dict[str, str]:
    return {kv.key: kv.value for kv in items}


def _task(task: Any) -> Task:
    """A WIT `task` record as an SDK Task (inputs and custom parsed)."""
    template = task.template
    metadata = None
    if task.metadata is not None:
        m = task.metadata
        ex = m.task_execution_id
        metadata = TaskMetadata(
            namespace=m.namespace,
            labels=_pairs(m.labels),
            annotations=_pairs(m.annotations),
            k8s_service_account=m.k8s_service_account,
            environment_variables=_pairs(m.environment_variables),
            execution_id={
                "project": ex.task.project,
                "domain": ex.task.domain,
                "name": ex.task.name,
                "version": ex.task.version,
                "node_id": ex.node_id,
                "execution_project": ex.execution_project,
                "execution_domain": ex.execution_domain,
                "execution_name": ex.execution_name,
                "retry_attempt": ex.retry_attempt,
            },
        )
    ident = template.id
    return Task(
        inputs=calls.parse_object(task.inputs, "inputs"),
        custom=calls.parse_object(template.custom, "TaskTemplate.custom"),
        config=_pairs(template.config),
        task_type=template.category.name,
        task_type_version=template.category.version,
        task_id={
            "project": ident.project,
            "domain": ident.domain,
            "name": ident.name,
            "version": ident.version,
            "org": ident.org,
        },
        sql=template.sql,
        output_prefix=task.output_prefix,
        idempotency_key=task.idempotency_key,
        metadata=metadata,
        template=bytes(template.raw),
        inputs_raw=bytes(task.inputs_raw),
    )
