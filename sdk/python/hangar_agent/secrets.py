"""Secrets the operator granted this plugin (`[secrets] names` in its manifest).

Prefer the manifest's `[[secrets.inject]]` for credentials that only go into
HTTP headers: then the agent never holds the value. Use `get` only when the
agent must compute with it, and keep values out of logs, errors and outputs.

Errors (`SecretError.code`): ``SecretNotGranted`` (the manifest does not grant
the name), ``SecretNotFound`` (granted, but the host has no value),
``SecretTooLarge`` (over 64 KiB), ``TooManySecretReads`` (64 reads in a call).
"""

from __future__ import annotations

from . import host


def get(name: str) -> str:
    return host.current().secret(name)
