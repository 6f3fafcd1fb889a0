"""Secrets never leave the worker: every frame it sends passes through ``redact``.

Tokens are registered when an account's credentials are loaded, so output, errors, results
and call records are all covered, whatever an API echoes back.
"""

from __future__ import annotations

MASK = "***"
_secrets: set[str] = set()


def register(secret: str) -> None:
    if len(secret) >= 4:  # masking a one-letter "secret" would mangle every output
        _secrets.add(secret)


def redact(text: str) -> str:
    for secret in _secrets:
        text = text.replace(secret, MASK)
    return text
