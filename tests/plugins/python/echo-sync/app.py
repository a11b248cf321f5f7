"""Test fixture (and benchmark agent): the Python sync echo. `do` answers at
once with the inputs as outputs.

An input `fail` (text) fails the task with that message, `fail_retryable`
fails it retryably, `crash` raises a plain exception: the error paths, end
to end.
"""

from hangar_agent import AgentError, RetryableError, SyncAgent, export


class EchoSync(SyncAgent):
    name = "echo_sync_python"
    task_type = "echo_sync_python"

    def do(self, task):
        if "fail" in task.inputs:
            raise AgentError(str(task.inputs["fail"]), "EchoFailed")
        if "fail_retryable" in task.inputs:
            raise RetryableError(str(task.inputs["fail_retryable"]), "EchoBusy")
        if "crash" in task.inputs:
            raise ValueError(str(task.inputs["crash"]))
        return task.inputs


export(EchoSync)
