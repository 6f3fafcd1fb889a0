"""Commands whose ``--json`` promises JSON on stdout, for usage errors too."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from ..result import ExecutionResult
from . import ERROR_ENVELOPE, help_option


def run_failure(message: str) -> dict[str, Any]:
    """The envelope of a run that could not start."""
    return ExecutionResult(success=False, error=message).envelope()


class JsonAwareCommand(click.Command):
    """With ``--json``, even a usage error (bad option, no code, a broken settings file) or
    another error the command lets through prints a JSON envelope, made by ``error_envelope``;
    the exit code is the one it would have without ``--json``. ``LazyGroup.invoke`` prints
    it: this command only says, in ``ctx.meta``, which envelope a failure gets."""

    def __init__(
        self,
        *args: Any,
        error_envelope: Callable[[str], dict[str, Any]] = run_failure,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.error_envelope = error_envelope

    def get_help_option(self, ctx: click.Context) -> click.Option | None:
        return help_option(self, ctx)  # without gettext: integrations:lua starts up faster

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        if parent is not None:  # until parsing succeeds, --json is a word among the args
            parent.meta[ERROR_ENVELOPE] = self.error_envelope if "--json" in args else None
        ctx = super().make_context(info_name, args, parent, **extra)
        ctx.meta[ERROR_ENVELOPE] = self.error_envelope if ctx.params.get("as_json") else None
        return ctx
