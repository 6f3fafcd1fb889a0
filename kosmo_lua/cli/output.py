"""How a run's result reaches the terminal: the JSON envelope or plain text."""

from __future__ import annotations

import json
from typing import Any

import click

from ..errors import KosmoError
from ..result import ExecutionResult

# A closed stdout (`| head -1`) exits as a shell's SIGPIPE death would: 128 + 13.
EXIT_STDOUT_CLOSED = 141


class StdoutFailed(KosmoError):
    """stdout takes no more output: its reader left (EPIPE: exit 141, and nothing to say,
    as ``| head`` is no error) or the disk is full (exit 1)."""

    def __init__(self, error: OSError) -> None:
        super().__init__(f"cannot write output: {error.strerror}")
        self.closed = isinstance(error, BrokenPipeError)
        if self.closed:
            self.exit_code = EXIT_STDOUT_CLOSED


def echo(text: str) -> None:
    """One line on stdout. A failed write raises ``StdoutFailed``: a run must stop on it,
    since nothing it prints can be delivered."""
    try:
        click.echo(text)
    except OSError as exc:
        raise StdoutFailed(exc) from exc


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


def print_plan(meta: dict[str, Any]) -> None:
    """``--plan``'s writes on stderr, one a line with its body (what would not show as
    itself escaped), after the run's own output."""
    from ..plan import visible

    steps = meta.get("plan", [])
    dropped = meta.get("plan_dropped", 0)
    count = len(steps) + dropped
    if not count:
        click.echo("Plan: no writes (nothing would be sent but reads).", err=True)
        return
    click.echo(f"Plan: {count} write{'s' if count != 1 else ''}, none sent:", err=True)
    for step in steps:
        where = f"line {step['line']}: " if step.get("line") else ""
        click.echo(f"  {where}{step['method']} {step['path']} ({step['tool']})", err=True)
        if step.get("body") is not None:
            body = visible(json.dumps(step["body"], ensure_ascii=False))
            click.echo(f"    body: {body}", err=True)
    if dropped:
        click.echo(f"  … and {dropped} more not listed", err=True)
    click.echo("Send them: run the script again with --force.", err=True)
