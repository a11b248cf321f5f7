"""The call protocol between the WIT boundary and an agent's methods, shared
by the WebAssembly exports (`export.py`) and the CPython harness
(`testing.py`) so both run the same code: resource meta is encoded as JSON
bytes, a dict from `do` means "succeeded with these outputs", outputs must
be JSON-able (datetimes and timedeltas are converted), a sync answer must be
terminal.
"""

from __future__ import annotations

import datetime
import json
import json.scanner
from typing import Any

from .agent import AsyncAgent, SyncAgent
from .errors import AgentError
from .resource import Resource
from .task import Task


def _plain(value: Any) -> Any:
    """json.dumps hook: the forms the host reads for dates and durations."""
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        return value.isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return f"{value.total_seconds():g}s"
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON-able")


# Made once: `json.dumps` with options builds a new `JSONEncoder` on every
# call.
_ENCODER = json.JSONEncoder(default=_plain, allow_nan=False, separators=(",", ":"))
# The decoder's C scanner, called without `json.loads`' Python-level
# wrapper (two regex matches for whitespace the host never writes).
_scan = json.scanner.make_scanner(json.JSONDecoder())


def to_json(value: Any, what: str) -> str:
    try:
        return _ENCODER.encode(value)
    except (TypeError, ValueError) as e:
        raise AgentError(f"{what} cannot be sent to the host: {e}", "BadOutput") from None


def encode_meta(meta: Any) -> bytes:
    if not isinstance(meta, dict):
        raise AgentError(
            f"create must return a dict (the resource meta), not {type(meta).__name__}", "BadResourceMeta"
        )
    return to_json(meta, "the resource meta returned by create").encode()


def decode_meta(raw: bytes) -> dict[str, Any]:
    try:
        meta = _loads(bytes(raw)) if raw else {}
    except ValueError as e:
        raise AgentError(f"the resource meta is not the JSON this SDK writes ({e})", "BadResourceMeta") from None
    if not isinstance(meta, dict):
        raise AgentError("the resource meta is not a JSON object", "BadResourceMeta")
    return meta


def as_resource(answer: Any, method: str) -> Resource:
    if isinstance(answer, Resource):
        return answer
    if isinstance(answer, dict) and method == "do":
        return Resource.succeeded(answer)
    raise AgentError(
        f"{method} must return a Resource (e.g. Resource.succeeded({{...}}))"
        + (" or a dict of outputs" if method == "do" else "")
        + f", not {type(answer).__name__}",
        "BadResource",
    )


def create(agent: AsyncAgent, task: Task) -> bytes:
    return encode_meta(agent.create(task))


def get(agent: AsyncAgent, raw_meta: bytes) -> Resource:
    return as_resource(agent.get(decode_meta(raw_meta)), "get")


def delete(agent: AsyncAgent, raw_meta: bytes) -> None:
    agent.delete(decode_meta(raw_meta))


def do(agent: SyncAgent, task: Task) -> Resource:
    resource = as_resource(agent.do(task), "do")
    if not resource.is_terminal:
        raise AgentError(
            f"do must answer a terminal phase (succeeded, failed...), not {resource.phase!r}: "
            "long jobs need an AsyncAgent",
            "NotTerminal",
        )
    return resource


def _loads(original: str | bytes) -> Any:
    """`json.loads(original)`, faster for compact UTF-8 JSON (what the host
    and `encode_meta` write): anything else (other encodings, whitespace
    around the value, bad JSON) goes through `json.loads` itself, so the
    value or the error is always exactly its own."""
    try:
        text = original if isinstance(original, str) else original.decode()
        value, end = _scan(text, 0)
    except (UnicodeDecodeError, StopIteration):
        return json.loads(original)
    if end != len(text):
        return json.loads(original)
    return value


def parse_object(text: str, what: str) -> dict[str, Any]:
    try:
        value = _loads(text) if text else {}
    except ValueError as e:
        raise AgentError(f"{what} from the host is not JSON ({e})", "BadInput") from None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise AgentError(f"{what} from the host is not a JSON object", "BadInput")
    return value
