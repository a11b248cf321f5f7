"""Log lines for the host's log, tagged there with the plugin and the task.
Users may see them: never log a secret."""

from __future__ import annotations

from . import host


def debug(message: str) -> None:
    host.current().log("debug", str(message))


def info(message: str) -> None:
    host.current().log("info", str(message))


def warn(message: str) -> None:
    host.current().log("warn", str(message))


warning = warn


def error(message: str) -> None:
    host.current().log("error", str(message))
