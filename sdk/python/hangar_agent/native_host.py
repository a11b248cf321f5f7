"""The host functions in plain CPython, for unit tests and local runs.

Secrets and config come from dicts (by default secrets fall back to the
environment variable ``_FSEC_<name>``, as the Rust SDK does), log lines go to
stderr and to `.lines`, HTTP goes through urllib with redirects off, so an
agent behaves as it does under Hangar apart from the sandbox itself.
"""

from __future__ import annotations

import os
import socket
import sys
import urllib.error
import urllib.request
from typing import Mapping, Optional

from .errors import HttpError, SecretError
from .http import Response


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: D401
        return None


_opener = urllib.request.build_opener(_NoRedirects, urllib.request.ProxyHandler({}))


class NativeHost:
    def __init__(
        self,
        secrets: Optional[Mapping[str, str]] = None,
        config: Optional[Mapping[str, str]] = None,
        echo_logs: bool = True,
    ):
        #: None: read ``_FSEC_<name>`` from the environment.
        self.secrets = None if secrets is None else dict(secrets)
        self.config_values = dict(config or {})
        self.echo_logs = echo_logs
        #: (level, message) of every log call, for assertions.
        self.lines: list[tuple[str, str]] = []

    def secret(self, name: str) -> str:
        if self.secrets is None:
            value = os.environ.get(f"_FSEC_{name}")
            if value is None:
                raise SecretError(f"secret {name!r} not found (set _FSEC_{name} for a local run)", "SecretNotFound")
            return value
        if name not in self.secrets:
            raise SecretError(
                f"secret {name!r} is not granted to this plugin (grant it in the manifest: [secrets] names)",
                "SecretNotGranted",
            )
        return self.secrets[name]

    def config(self, key: str) -> Optional[str]:
        return self.config_values.get(key)

    def log(self, level: str, message: str) -> None:
        self.lines.append((level, message))
        if self.echo_logs:
            print(f"[{level}] {message}", file=sys.stderr)

    def send(self, method: str, url: str, headers: list[tuple[str, str]], body: bytes | None, timeout: float):
        request = urllib.request.Request(url, data=body, method=method)
        for name, value in headers:
            request.add_header(name, value)
        try:
            with _opener.open(request, timeout=timeout) as answer:
                return _response(url, answer.status, answer.headers, answer.read())
        except urllib.error.HTTPError as answer:  # a non-2xx status is still a response
            with answer:
                return _response(url, answer.code, answer.headers, answer.read())
        except (socket.timeout, TimeoutError) as e:
            raise HttpError(f"{method} {url}: no answer within {timeout:g}s ({e})", "HttpTimeout", retryable=True)
        except urllib.error.URLError as e:
            reason = e.reason
            if isinstance(reason, (socket.timeout, TimeoutError)):
                raise HttpError(f"{method} {url}: no answer within {timeout:g}s", "HttpTimeout", retryable=True)
            if isinstance(reason, ConnectionRefusedError):
                raise HttpError(f"{method} {url}: connection refused", "ConnectionRefused", retryable=True)
            raise HttpError(f"{method} {url}: {reason}", "HttpError", retryable=True)
        except (ConnectionError, OSError) as e:
            raise HttpError(f"{method} {url}: {e}", "ConnectionTerminated", retryable=True)


def _response(url: str, status: int, headers, body: bytes) -> Response:
    merged: dict[str, str] = {}
    for name, value in headers.items():
        key = name.lower()
        merged[key] = f"{merged[key]}, {value}" if key in merged else value
    return Response(status=status, headers=merged, body=body, url=url)
