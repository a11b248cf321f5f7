"""Test fixture (and benchmark agent): the Python async echo. `create` keeps
the inputs as the resource meta, `get` succeeds with them as outputs.

An input `fail` (text) makes `create` fail with that message, `fail_retryable`
makes it fail retryably: the error paths, end to end.
"""

from hangar_agent import AgentError, AsyncAgent, Resource, RetryableError, export


class Echo(AsyncAgent):
    name = "echo_python"
    task_type = "echo_python"

    def create(self, task):
        if "fail" in task.inputs:
            raise AgentError(str(task.inputs["fail"]), "EchoFailed")
        if "fail_retryable" in task.inputs:
            raise RetryableError(str(task.inputs["fail_retryable"]), "EchoBusy")
        return task.inputs

    def get(self, meta):
        return Resource.succeeded(meta)


export(Echo)
