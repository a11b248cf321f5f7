"""The host functions inside WebAssembly: the WIT imports of the world in
`sdk/python/wit/world.wit` (flyte:agent logging, secrets, config, and
`wasi:http/outgoing-handler`), as bound by componentize-py (`wit_world`).

HTTP is blocking: every wait polls the awaited stream or response together
with a monotonic-clock timer, so `timeout` bounds the whole exchange.
Resources are dropped children first (stream, body, response), as wasi:http
requires.
"""

from __future__ import annotations

from typing import Optional
from urllib.parse import urlsplit

from componentize_py_types import Err
from wit_world.imports import config as wit_config
from wit_world.imports import logging as wit_logging
from wit_world.imports import monotonic_clock, outgoing_handler, poll
from wit_world.imports import secrets as wit_secrets
from wit_world.imports import streams
from wit_world.imports import wasi_http_types as wh

from .errors import HttpError, SecretError
from .http import Response

# Largest write the WASI contract guarantees `blocking-write-and-flush` takes.
_WRITE_CHUNK = 4096
_READ_CHUNK = 64 * 1024

_SECRET_ERRORS = {
    wit_secrets.SecretError.NOT_GRANTED: (
        "SecretNotGranted",
        "secret {!r} is not granted to this plugin (the operator grants it in the manifest: [secrets] names)",
    ),
    wit_secrets.SecretError.NOT_FOUND: (
        "SecretNotFound",
        "secret {!r} is granted but the host has no value for it (ask the operator to provide it)",
    ),
    wit_secrets.SecretError.TOO_LARGE: ("SecretTooLarge", "secret {!r} is larger than the host returns (64 KiB)"),
    wit_secrets.SecretError.TOO_MANY_READS: (
        "TooManySecretReads",
        "too many secret reads in one call (reading {!r}): read each secret once and keep it",
    ),
}

_LEVELS = {
    "debug": wit_logging.Level.DEBUG,
    "info": wit_logging.Level.INFO,
    "warn": wit_logging.Level.WARN,
    "error": wit_logging.Level.ERROR,
}

_METHODS = {
    "GET": wh.Method_Get,
    "HEAD": wh.Method_Head,
    "POST": wh.Method_Post,
    "PUT": wh.Method_Put,
    "DELETE": wh.Method_Delete,
    "CONNECT": wh.Method_Connect,
    "OPTIONS": wh.Method_Options,
    "TRACE": wh.Method_Trace,
    "PATCH": wh.Method_Patch,
}

# wasi:http error codes worth a retry; every timeout is reported as HttpTimeout.
_TIMEOUTS = {"ConnectionTimeout", "ConnectionReadTimeout", "ConnectionWriteTimeout", "HttpResponseTimeout", "DnsTimeout"}
_TRANSIENT = {
    "DnsError",
    "DestinationUnavailable",
    "ConnectionRefused",
    "ConnectionTerminated",
    "ConnectionLimitReached",
    "HttpResponseIncomplete",
}


class _Timeout(Exception):
    pass


class WasiHost:
    def secret(self, name: str) -> str:
        try:
            return wit_secrets.get(name)
        except Err as e:
            code, message = _SECRET_ERRORS.get(e.value, ("SecretError", "secret {!r} could not be read"))
            raise SecretError(message.format(name), code) from None

    def config(self, key: str) -> Optional[str]:
        return wit_config.get(key)

    def log(self, level: str, message: str) -> None:
        wit_logging.log(_LEVELS.get(level, wit_logging.Level.INFO), message)

    def send(self, method: str, url: str, headers: list[tuple[str, str]], body: bytes | None, timeout: float):
        where = f"{method} {url}"
        deadline = monotonic_clock.now() + int(timeout * 1e9)
        try:
            return _exchange(method, url, headers, body, timeout, deadline)
        except _Timeout:
            raise HttpError(f"{where}: no complete answer within {timeout:g}s", "HttpTimeout", retryable=True) from None
        except Err as e:
            raise _http_error(where, e.value) from None


def _exchange(method, url, headers, body, timeout, deadline) -> Response:
    parts = urlsplit(url)
    try:
        fields = wh.Fields.from_list([(name, value.encode()) for name, value in headers])
    except Err as e:
        raise HttpError(
            f"{method} {url}: a request header is invalid or forbidden ({type(e.value).__name__})", "HttpHeaderError"
        ) from None
    request = wh.OutgoingRequest(fields)
    request.set_method(_METHODS[method]() if method in _METHODS else wh.Method_Other(method))
    request.set_scheme(wh.Scheme_Https() if parts.scheme == "https" else wh.Scheme_Http())
    request.set_authority(parts.netloc)
    request.set_path_with_query((parts.path or "/") + (f"?{parts.query}" if parts.query else ""))
    options = wh.RequestOptions()
    nanos = int(timeout * 1e9)
    for setter in (options.set_connect_timeout, options.set_first_byte_timeout, options.set_between_bytes_timeout):
        try:
            setter(nanos)
        except Err:
            pass  # the host keeps its own limit
    outgoing_body = request.body()
    future = outgoing_handler.handle(request, options)
    _write_body(outgoing_body, body or b"")
    with future:
        _wait(future.subscribe(), deadline)
        answer = future.get()
    if answer is None:
        raise _Timeout()
    # option<result<result<incoming-response, error-code>>>: the outer result
    # is an error only if the response was already taken.
    if isinstance(answer, Err):
        raise HttpError(f"{method} {url}: the response was already taken", "HttpError")
    if isinstance(answer.value, Err):
        raise answer.value  # the error-code: mapped by WasiHost.send
    with answer.value.value as response:
        status = response.status()
        with response.headers() as fields:
            merged: dict[str, str] = {}
            for name, value in fields.entries():
                key = name.lower()
                text = value.decode("latin-1")
                merged[key] = f"{merged[key]}, {text}" if key in merged else text
        payload = _read_body(response.consume(), deadline)
    return Response(status=status, headers=merged, body=payload, url=url)


def _write_body(outgoing_body, body: bytes) -> None:
    stream = outgoing_body.write()
    with stream:
        for start in range(0, len(body), _WRITE_CHUNK):
            stream.blocking_write_and_flush(body[start : start + _WRITE_CHUNK])
    wh.OutgoingBody.finish(outgoing_body, None)


def _read_body(incoming_body, deadline: int) -> bytes:
    chunks = []
    stream = incoming_body.stream()
    with stream:
        while True:
            try:
                chunk = stream.read(_READ_CHUNK)
            except Err as e:
                if isinstance(e.value, streams.StreamError_Closed):
                    break
                code = wh.http_error_code(e.value.value)
                raise Err(code if code is not None else wh.ErrorCode_HttpResponseIncomplete()) from None
            if chunk:
                chunks.append(chunk)
            else:
                _wait(stream.subscribe(), deadline)
    trailers = wh.IncomingBody.finish(incoming_body)
    trailers.__exit__(None, None, None)
    return b"".join(chunks)


def _wait(pollable, deadline: int) -> None:
    """Block until `pollable` is ready or the deadline passes (then _Timeout)."""
    with pollable:
        if pollable.ready():
            return
        with monotonic_clock.subscribe_instant(deadline) as timer:
            ready = poll.poll([pollable, timer])
        if 0 not in ready:
            raise _Timeout()


def _http_error(where: str, code) -> HttpError:
    name = type(code).__name__.removeprefix("ErrorCode_")
    detail = getattr(code, "value", None)
    suffix = f" ({detail})" if detail not in (None, "") else ""
    if name in _TIMEOUTS:
        return HttpError(f"{where}: timed out ({name}){suffix}", "HttpTimeout", retryable=True)
    if name == "HttpRequestDenied":
        return HttpError(
            f"{where}: denied by the host (HttpRequestDenied): the plugin's manifest needs an "
            f"[[http.allow]] rule covering this URL",
            name,
        )
    return HttpError(f"{where}: {name}{suffix}", name, retryable=name in _TRANSIENT)
