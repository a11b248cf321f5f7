"""hangar_agent: write Flyte agents in Python and run them in Hangar as
WebAssembly components (built with componentize-py).

    from hangar_agent import AsyncAgent, Resource, export

    class Greeter(AsyncAgent):
        name = "greeter"
        task_type = "greet"

        def create(self, task):
            return {"name": task.inputs["name"]}

        def get(self, meta):
            return Resource.succeeded({"greeting": f"Hello, {meta['name']}!"})

    export(Greeter)

See README.md for the build command and `hangar_agent.testing` for unit tests.
"""

from . import config, http, log, secrets
from .agent import AsyncAgent, SyncAgent
from .errors import AgentError, HttpError, RetryableError, SecretError
from .export import export
from .resource import LogLink, Resource
from .task import Task, TaskMetadata

__all__ = [
    "AgentError",
    "AsyncAgent",
    "HttpError",
    "LogLink",
    "Resource",
    "RetryableError",
    "SecretError",
    "SyncAgent",
    "Task",
    "TaskMetadata",
    "config",
    "export",
    "http",
    "log",
    "secrets",
]
