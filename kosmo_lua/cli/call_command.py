"""``kosmo integrations:call``: one integration function without writing Lua."""

from __future__ import annotations

import json
from typing import Any

import click

from ..config import DEFAULT_ACCOUNT
from ..dispatch import run_invoker
from ..errors import Failed, HostError, KosmoError
from ..redact import redact
from .catalog_commands import find_tool
from .json_command import JsonAwareCommand
from .name_value import NAME_VALUE, typed_arguments


def _call_failure(message: str) -> dict[str, Any]:
    """The envelope of a call that could not be made (bad function, argument or option)."""
    return _envelope(False, None, None, message, [])


@click.command(
    "integrations:call",
    cls=JsonAwareCommand,
    error_envelope=_call_failure,
    epilog="""\b
Examples:
  kosmo integrations:call buildkite.get_build --arg organization=acme-inc \\
      --arg pipeline=deploy --arg number=42
  kosmo integrations:call buildkite.create_build --arg organization=acme-inc \\
      --arg pipeline=deploy --arg branch=main --arg 'env={"A":"1"}' --dry-run

\b
Values are typed from the function's schema: numbers, true/false, and JSON for tables.""",
)
@click.argument("function")
@click.option("--arg", "arguments", type=NAME_VALUE, multiple=True, help="An argument; repeatable.")
@click.option("--account", default=DEFAULT_ACCOUNT, show_default=True, help="Account to use.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON envelope.")
@click.option("--force", is_flag=True, help="Bypass the permission policy for this call.")
@click.option("--dry-run", is_flag=True, help="Print the request that would be sent; send nothing.")
@click.option("--emulate", is_flag=True, help="Call the built-in emulator instead of the API.")
def integrations_call(
    function: str,
    arguments: tuple[tuple[str, str], ...],
    account: str,
    as_json: bool,
    force: bool,
    dry_run: bool,
    emulate: bool,
) -> None:
    """Call one integration function and print its result as JSON."""
    tool = find_tool(function)
    named = typed_arguments(arguments, tool.schema())
    events: list[tuple[str, Any]] = []
    if emulate:
        events.append(("meta", {"emulated": True}))
    path = f"app.integrations.{tool.integration}.{account}.{tool.name}"
    invoker = run_invoker(  # a broken settings file stops here, as a usage error
        report=lambda kind, value: events.append((kind, value)), force=force, emulate=emulate
    )
    try:
        with invoker:
            if dry_run:
                _print(invoker.describe(path, [named]))
                return
            data, meta = invoker.invoke(path, [named])
    except HostError as exc:  # the call failed: with --json, its envelope says so
        message = redact(str(exc))  # an API may echo the token in its error
        if not as_json:
            raise _scrubbed(exc, message) from None
        _print(_envelope(False, None, None, message, events))
        raise Failed(message) from None
    _print(_envelope(True, data, meta, None, events) if as_json else data)


def _envelope(
    success: bool, data: Any, meta: Any, error: str | None, events: list[tuple[str, Any]]
) -> dict[str, Any]:
    extra = {k: v for kind, value in events if kind == "meta" for k, v in value.items()}
    return {
        "success": success,
        "result": data,
        "error": error,
        "response": meta,
        "integration_calls": [value for kind, value in events if kind == "call"],
        "meta": {"permission_bypassed": False, **extra},
    }


def _scrubbed(error: KosmoError, message: str) -> KosmoError:
    """The error as the CLI shows it, its text scrubbed of every token, its exit status kept."""
    shown = KosmoError(message)
    shown.exit_code = error.exit_code
    return shown


def _print(value: Any) -> None:
    """Prints a result or envelope scrubbed of every token the call loaded (the call ran in
    this process, not in a worker whose frames are scrubbed already)."""
    text = value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False)
    click.echo(redact(text))
