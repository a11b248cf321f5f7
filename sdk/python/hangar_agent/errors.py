"""Exceptions an agent raises to fail a task.

They exist so an agent says *how* it failed with one `raise`: the SDK turns
them into the WIT `agent-error` record, and the host turns that into a FAILED
(or RETRYABLE_FAILED) resource carrying the message. Any other exception is
reported as a non-recoverable `UnhandledException` with its type and message.
"""

from __future__ import annotations


class AgentError(Exception):
    """The task failed and retrying will not help (FAILED).

    `code` is a short machine-readable word, e.g. ``"BadInput"``.
    """

    default_code = "AgentError"
    retryable = False

    def __init__(self, message: str, code: str = "", *, retryable: bool | None = None):
        super().__init__(message)
        self.message = str(message)
        self.code = code or self.default_code
        if retryable is not None:
            self.retryable = retryable

    def __str__(self) -> str:
        return self.message


class RetryableError(AgentError):
    """A retry may succeed: quota, rate limit, a transient outage (RETRYABLE_FAILED)."""

    default_code = "Retryable"
    retryable = True


class SecretError(AgentError):
    """A secret could not be read; `code` says why (see `hangar_agent.secrets`)."""

    default_code = "SecretError"


class HttpError(AgentError):
    """An outbound HTTP request failed before a response arrived.

    `code` names the reason (``HttpRequestDenied``, ``ConnectionRefused``,
    ``HttpTimeout``...); `retryable` is true for transient ones.
    """

    default_code = "HttpError"
