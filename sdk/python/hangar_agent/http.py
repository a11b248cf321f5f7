"""A small blocking HTTP client: `http.request(method, url, ...) -> Response`.

Inside WebAssembly it speaks `wasi:http/outgoing-handler`, so the host checks
every request against the plugin's manifest (`[[http.allow]]`) and may add
credentials (`[[secrets.inject]]`) the agent never sees. In plain CPython
(unit tests) it uses urllib. Either way: no redirects are followed, a non-2xx
status is a normal `Response` (check `.ok`), and only a request that got no
response raises `HttpError` (denied, refused, timed out...).
"""

from __future__ import annotations

import json as _json
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

from . import host
from .errors import AgentError, HttpError

DEFAULT_TIMEOUT_S = 30.0


@dataclass
class Response:
    status: int
    #: Lower-case header names; repeated headers joined with ", ".
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    url: str = ""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON; a body that is not JSON fails the task
        with code ``BadJson`` and the start of the body."""
        try:
            return _json.loads(self.body)
        except ValueError as e:
            snippet = self.text[:200]
            raise AgentError(
                f"{self.url or 'the response'} (HTTP {self.status}) is not JSON ({e}): {snippet!r}", "BadJson"
            ) from None


def request(
    method: str,
    url: str,
    headers: Optional[Mapping[str, str]] = None,
    body: bytes | str | None = None,
    json: Any = None,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> Response:
    """Send one request and read the whole response.

    `json=` serialises a value as the body and sets ``Content-Type:
    application/json``; `body=` sends bytes (or text, UTF-8). `timeout` (seconds)
    bounds the whole exchange; when it passes, `HttpError` with code
    ``HttpTimeout`` (retryable) is raised.
    """
    if body is not None and json is not None:
        raise ValueError("pass body= or json=, not both")
    pairs = [(str(k), str(v)) for k, v in (headers or {}).items()]
    if json is not None:
        body = _json.dumps(json).encode()
        if not any(k.lower() == "content-type" for k, _ in pairs):
            pairs.append(("content-type", "application/json"))
    if isinstance(body, str):
        body = body.encode()
    if body is not None and not any(k.lower() == "content-length" for k, _ in pairs):
        # Without it wasi:http sends the body chunked, which many servers
        # (Python's http.server among them) do not read.
        pairs.append(("content-length", str(len(body))))
    if not url.startswith(("http://", "https://")):
        raise HttpError(f"{url!r} is not an http:// or https:// URL", "HttpRequestUriInvalid")
    if timeout <= 0:
        raise ValueError("timeout must be positive (seconds)")
    return host.current().send(method.upper(), url, pairs, body, float(timeout))


def get(url: str, **kwargs: Any) -> Response:
    return request("GET", url, **kwargs)


def post(url: str, **kwargs: Any) -> Response:
    return request("POST", url, **kwargs)
