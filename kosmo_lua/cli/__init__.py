"""The ``kosmo`` command line: a group whose commands load only when they run.

Start-up time is a tracked figure, so ``kosmo integrations:lua`` imports the Lua runner and
nothing else: every command lives in its own module, named in ``COMMANDS``. Completing a
command's name loads none of them.

Commands raise errors and never exit: ``LazyGroup.invoke`` is the one place that catches
them, shows each once (``Error: …`` on stderr, or the command's JSON envelope under
``--json``) and exits with the error's ``exit_code``.
"""

from __future__ import annotations

import gc

# Imports make many long-lived objects and the collector keeps scanning them: a few ms of a
# 45 ms start. Collect nothing until the command is loaded, then freeze what the imports made.
gc.disable()

import importlib  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from typing import TYPE_CHECKING, Any  # noqa: E402

import click  # noqa: E402

from .. import __version__  # noqa: E402
from ..errors import Interrupted, KosmoError  # noqa: E402

if TYPE_CHECKING:
    from click.shell_completion import CompletionItem

# command name -> "module:attribute", relative to this package
COMMANDS = {
    "integrations:lua": "lua_command:integrations_lua",
    "integrations:configure": "configure_command:integrations_configure",
    "integrations:docs": "catalog_commands:integrations_docs",
    "integrations:list": "catalog_commands:integrations_list",
    "integrations:search": "catalog_commands:integrations_search",
    "integrations:schema": "catalog_commands:integrations_schema",
    "integrations:status": "catalog_commands:integrations_status",
    "integrations:call": "call_command:integrations_call",
    "integrations:emulate": "emulate_command:integrations_emulate",
    "integrations:stubs": "stubs_command:integrations_stubs",
    "mcp:lua": "mcp_commands:mcp_lua",
    "mcp:list": "mcp_commands:mcp_list",
    "mcp:tools": "mcp_commands:mcp_tools",
    "mcp:call": "mcp_commands:mcp_call",
    "mcp:add": "mcp_commands:mcp_add",
    "mcp:remove": "mcp_commands:mcp_remove",
    "mcp:trust": "mcp_commands:mcp_trust",
    "mcp:serve": "mcp_commands:mcp_serve",
}


COMPLETE_VARIABLE = "_KOSMO_COMPLETE"  # click's shell completion protocol for prog "kosmo"
# ctx.meta key: how the running command shows an error as JSON (None: as text). Set by
# ``JsonAwareCommand`` when ``--json`` is given; read by ``LazyGroup.invoke``.
ERROR_ENVELOPE = "kosmo.error_envelope"


class LazyGroup(click.Group):
    def main(self, *args: Any, **kwargs: Any) -> Any:
        """Click's ``main``; when the shell asks for completions, with our bash script."""
        if os.environ.get(COMPLETE_VARIABLE):
            from click.shell_completion import add_completion_class

            from .completion import BashComplete

            add_completion_class(BashComplete)
        return super().main(*args, **kwargs)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def shell_complete(self, ctx: click.Context, incomplete: str) -> list[CompletionItem]:
        """Command names straight from ``COMMANDS``: click's own would import every module
        to show its help line."""
        from click.shell_completion import CompletionItem

        names = [CompletionItem(name) for name in sorted(COMMANDS) if name.startswith(incomplete)]
        return names + click.Command.shell_complete(self, ctx, incomplete)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0]
        if name not in COMMANDS and not name.startswith("-") and not ctx.resilient_parsing:
            ctx.fail(f"No such command {name!r}.{_did_you_mean(name)}")
        return super().resolve_command(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        """Every error a command lets through, shown once; the process exits with its code.

        A click usage error without ``--json`` is left to click, which adds the usage line.
        """
        try:
            try:
                return super().invoke(ctx)
            except KeyboardInterrupt:
                raise Interrupted("Interrupted; nothing was run.") from None
        except (KosmoError, click.UsageError) as exc:
            error_envelope = ctx.meta.get(ERROR_ENVELOPE)
            if isinstance(exc, click.UsageError) and error_envelope is None:
                raise
            from .failure import fail

            ctx.exit(fail(exc, error_envelope))

    def get_help_option(self, ctx: click.Context) -> click.Option | None:
        return help_option(self, ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attribute = target.split(":")
        module = importlib.import_module(f".{module_name}", __name__)
        gc.freeze()
        gc.enable()
        command: click.Command = getattr(module, attribute)
        return command


def _did_you_mean(name: str) -> str:
    """`` Did you mean 'integrations:lua'?`` for a mistyped name, or "" when nothing is close.

    The parts before and after ':' count apart: the shared ``integrations:`` must not make
    ``integrations:xyzzy`` look like ``integrations:lua``. A bare ``lua`` names every ``*:lua``.
    """
    from ..catalog import closest

    group, _, action = name.rpartition(":")
    actions = closest(action, {command.partition(":")[2] for command in COMMANDS})
    matches = [command for command in sorted(COMMANDS) if command.partition(":")[2] in actions]
    groups = closest(group, {command.partition(":")[0] for command in matches}) if group else []
    matches = [command for command in matches if command.partition(":")[0] in groups] or matches
    if not matches and not group:  # integrations-lua, integrations.lua
        matches = closest(name, COMMANDS)[:1]
    if not matches:
        return ""
    return " Did you mean " + " or ".join(f"'{match}'" for match in matches) + "?"


# click's own --help and --version options take their help text from gettext, whose first
# lookup imports ``locale`` (~0.8 ms of a ~40 ms start, for text nobody translates). The group
# and the commands on the start-up path make them here instead, in click's words; the help
# option is still click's help option (``get_help_option``), so a usage error still ends
# "Try 'kosmo --help' for help.". tests/test_imports.py guards this.
def _show_help(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        click.echo(ctx.get_help(), color=ctx.color)
        ctx.exit()


def _show_version(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        click.echo(f"kosmo, version {__version__}", color=ctx.color)
        ctx.exit()


_HELP_OPTIONS: dict[click.Command, click.Option] = {}  # made once, as click caches its own


def help_option(command: click.Command, ctx: click.Context) -> click.Option | None:
    """``command``'s help option as click makes it (``Command.get_help_option``), without
    gettext: for a command class's ``get_help_option``."""
    names = command.get_help_option_names(ctx)
    if not names or not command.add_help_option:
        return None
    made = _HELP_OPTIONS.get(command)
    if made is None:
        made = _HELP_OPTIONS[command] = click.Option(
            names,
            is_flag=True,
            expose_value=False,
            is_eager=True,
            help="Show this message and exit.",
            callback=_show_help,
        )
    return made


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="""\b
Examples:
  kosmo integrations:lua --eval 'print("hello")'
  kosmo integrations:lua workflow.lua --json
  echo 'return 1 + 1' | kosmo integrations:lua -
""",
)
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    help="Show the version and exit.",
    callback=_show_version,
)
def main() -> None:
    """Run Lua scripts against integrations in a sandbox, from CI, agents and terminals."""


def run() -> None:
    """The console script: ``main`` and a fast exit.

    Interpreter teardown (freeing every module click loaded) costs about a tenth of a short
    run, and nothing in this process needs it: flush the streams and leave.
    """
    try:
        main(prog_name="kosmo")
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if isinstance(exc.code, str):
            print(exc.code, file=sys.stderr)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing left to tell
            code = code or 1
    os._exit(code)
