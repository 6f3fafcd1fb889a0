"""Secrets never leave the process that loaded them: every frame a worker sends passes
through ``redact``, and so does whatever a command prints from an in-process call
(``integrations:call``; ``mcp:serve`` exposing integrations uses ``scrub`` on its results).

Tokens are registered when an account's credentials are loaded, so output, errors, results
and call records are all covered, whatever an API echoes back: as written, and as JSON text
or a URL would spell it (a token with a quote, a backslash or a non-ASCII letter).
"""

from __future__ import annotations

import json
from typing import Any

MASK = "***"
_secrets: list[str] = []  # longest first, so no shorter one masks part of a longer one


def register(secret: str) -> None:
    import urllib.parse  # credentials load with the HTTP stack, never on the cold path

    if len(secret) < 4:  # masking a one-letter "secret" would mangle every output
        return
    spellings = {
        secret,
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        urllib.parse.quote(secret, safe=""),
    }
    _secrets.extend(spelling for spelling in spellings if spelling not in _secrets)
    _secrets.sort(key=len, reverse=True)


def redact(text: str) -> str:
    for secret in _secrets:
        text = text.replace(secret, MASK)
    return text


def scrub(value: Any) -> Any:
    """A JSON-shaped value with every string (keys too) redacted, for results handed on as
    data rather than text."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {scrub(key): scrub(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(item) for item in value]
    return value
