"""Commands whose ``--json`` promises JSON on stdout, for usage errors too."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any, NoReturn

import click

from ..errors import KosmoError
from ..result import ExecutionResult
from . import exit_code, output


def run_failure(message: str) -> dict[str, Any]:
    """The envelope of a run that could not start."""
    return ExecutionResult(success=False, error=message).envelope()


class JsonAwareCommand(click.Command):
    """With ``--json``, even a usage error (bad option, no code, a broken settings file) or
    another error the command lets through prints a JSON envelope, made by ``error_envelope``;
    the exit code is the one it would have without ``--json``."""

    def __init__(
        self,
        *args: Any,
        error_envelope: Callable[[str], dict[str, Any]] = run_failure,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.error_envelope = error_envelope

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        wants_json = "--json" in args  # parsing consumes args, so look first
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as exc:
            if not wants_json:
                raise
            self._fail(exc)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.UsageError, KosmoError) as exc:  # raised by the command, after parsing
            if not ctx.params.get("as_json"):
                raise
            self._fail(exc)

    def _fail(self, error: click.UsageError | KosmoError) -> NoReturn:
        message = error.format_message() if isinstance(error, click.UsageError) else str(error)
        with output.exit_when_stdout_fails():
            output.echo(json.dumps(self.error_envelope(message), indent=2, ensure_ascii=False))
        sys.exit(exit_code(error))
