"""How a failed command ends: its error shown once, as text or as the ``--json`` envelope.

Only ``LazyGroup.invoke`` calls ``fail``; commands raise and never print an error to exit.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import click

from ..errors import Failed, Interrupted, KosmoError
from . import output

ErrorEnvelope = Callable[[str], dict[str, Any]]


def fail(error: KosmoError | click.UsageError, error_envelope: ErrorEnvelope | None) -> int:
    """Shows ``error`` (as ``error_envelope``'s JSON on stdout when given, else as one line
    on stderr) and returns the exit status it carries."""
    try:
        _show(error, error_envelope)
    except output.StdoutFailed as failed:  # the envelope could not be written either
        _show(failed, None)
        return failed.exit_code
    return error.exit_code


def _show(error: KosmoError | click.UsageError, error_envelope: ErrorEnvelope | None) -> None:
    if isinstance(error, Failed):
        return  # the command's output said it already
    if isinstance(error, output.StdoutFailed):
        if not error.closed:  # a reader that left is no error: `kosmo ... | head -1`
            click.echo(f"kosmo: {error}", err=True)
        return
    message = error.format_message() if isinstance(error, click.UsageError) else str(error)
    if error_envelope is None:
        click.echo(f"Error: {message}", err=True)
    else:
        envelope = error_envelope(message)
        if isinstance(error, Interrupted) and "meta" in envelope:  # a run's envelope
            envelope["meta"]["error"]["kind"] = "interrupted"
        output.echo(json.dumps(envelope, indent=2, ensure_ascii=False))
