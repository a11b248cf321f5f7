"""Operator settings for this plugin: the `[config]` string table of its
manifest (a base URL, a default model...). Never secrets: `hangar inspect`
shows these."""

from __future__ import annotations

from typing import Optional

from . import host


def get(key: str, default: Optional[str] = None) -> Optional[str]:
    value = host.current().config(key)
    return default if value is None else value
