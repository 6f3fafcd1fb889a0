"""How a run's result reaches the terminal: the JSON envelope or plain text."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator

import click

from ..result import ExecutionResult

# A closed stdout (`| head -1`) exits as a shell's SIGPIPE death would: 128 + 13.
EXIT_STDOUT_CLOSED = 141


class StdoutFailed(Exception):
    """stdout takes no more output: its reader left (EPIPE) or the disk is full."""


def echo(text: str) -> None:
    """One line on stdout. A failed write raises ``StdoutFailed``: a run must stop on it,
    since nothing it prints can be delivered."""
    try:
        click.echo(text)
    except OSError as exc:
        raise StdoutFailed(exc.strerror) from exc


@contextlib.contextmanager
def exit_when_stdout_fails() -> Iterator[None]:
    """Exits on ``StdoutFailed``: silently with 141 for a reader that left (as ``| head``
    does, not an error), else with 1 and one line on stderr."""
    try:
        yield
    except StdoutFailed as exc:
        if isinstance(exc.__cause__, BrokenPipeError):
            sys.exit(EXIT_STDOUT_CLOSED)
        click.echo(f"kosmo: cannot write output: {exc}", err=True)
        sys.exit(1)


def print_envelope(result: ExecutionResult) -> None:
    """Exactly one JSON object on stdout; CI jobs parse it."""
    echo(json.dumps(result.envelope(), indent=2, ensure_ascii=False))


def print_plain(result: ExecutionResult) -> None:
    """Return values (strings as they are, the rest as pretty JSON), then the error on stderr.

    Printed output is not repeated here: it streamed to stdout while the script ran.
    """
    from ..runtime import jsonlib

    for value in result.result or []:
        echo(value if isinstance(value, str) else jsonlib.encode(value))
    if result.error:
        click.echo(f"Error: {result.error}", err=True)
