"""The host functions an agent calls (secrets, config, logs, HTTP), behind one
swappable object.

In WebAssembly they are the WIT imports (`wasi_host.WasiHost`); in plain
CPython they are dicts, stderr and urllib (`native_host.NativeHost`), which is
what `hangar_agent.testing` installs. Everything above this line is the same
code in both.
"""

from __future__ import annotations

import sys
from typing import Optional, Protocol

LEVELS = ("debug", "info", "warn", "error")


class Host(Protocol):
    def secret(self, name: str) -> str:
        """The value, or raise `SecretError`."""

    def config(self, key: str) -> Optional[str]: ...

    def log(self, level: str, message: str) -> None: ...

    def send(self, method: str, url: str, headers: list[tuple[str, str]], body: bytes | None, timeout: float):
        """Make one request; return a `hangar_agent.http.Response` or raise `HttpError`."""


_current: Host | None = None


def current() -> Host:
    """The installed host; by default the WIT imports inside WebAssembly and
    the native stand-ins elsewhere."""
    global _current
    if _current is None:
        if sys.platform == "wasi":
            from .wasi_host import WasiHost

            _current = WasiHost()
        else:
            from .native_host import NativeHost

            _current = NativeHost()
    return _current


def install(host: Host | None) -> Host | None:
    """Replace the host (None restores the default); returns the previous one."""
    global _current
    previous, _current = _current, host
    return previous
