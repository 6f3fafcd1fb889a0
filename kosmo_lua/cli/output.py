"""How a run's result reaches the terminal: the JSON envelope or plain text."""

from __future__ import annotations

import json

import click

from ..result import ExecutionResult


def print_envelope(result: ExecutionResult) -> None:
    """Exactly one JSON object on stdout; CI jobs parse it."""
    click.echo(json.dumps(result.envelope(), indent=2, ensure_ascii=False))


def print_plain(result: ExecutionResult) -> None:
    """Return values (strings as they are, the rest as pretty JSON), then the error on stderr.

    Printed output is not repeated here: it streamed to stdout while the script ran.
    """
    from ..runtime import jsonlib

    for value in result.result or []:
        click.echo(value if isinstance(value, str) else jsonlib.encode(value))
    if result.error:
        click.echo(f"Error: {result.error}", err=True)
