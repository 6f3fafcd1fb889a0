"""``kosmo integrations:lua``: run a script from --eval, a file or stdin, or a REPL."""

from __future__ import annotations

import contextlib
import math
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

import click

from ..dispatch import AppDispatcher
from ..errors import Failed, UsageError
from ..limits import (
    MAX_CALLS,
    MAX_CONCURRENCY,
    MAX_MEMORY_BYTES,
    MAX_OUTPUT_BYTES,
    MAX_SECONDS,
    MIB,
    MIN_MEMORY,
    Limits,
    size_text,
)
from ..runtime.supervisor import Worker, terminations_interrupt
from . import output
from .json_command import JsonAwareCommand

_SIZE_UNITS = {
    "": 1,
    "k": 1024,
    "kb": 1024,
    "kib": 1024,
    "m": MIB,
    "mb": MIB,
    "mib": MIB,
    "g": 1024 * MIB,
    "gb": 1024 * MIB,
    "gib": 1024 * MIB,
}


class ByteSize(click.ParamType[int]):
    """A byte count: ``33554432``, ``32M`` or ``32MiB``, from ``minimum`` to ``maximum``."""

    name = "BYTES"

    def __init__(self, minimum: int = 1, maximum: int = MAX_MEMORY_BYTES) -> None:
        self.minimum = minimum
        self.maximum = maximum

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        text = str(value).strip().lower()
        number = text.rstrip("kmgib")
        unit = text[len(number) :]
        try:
            size = int(float(number) * _SIZE_UNITS[unit])
        except (ValueError, KeyError, OverflowError):
            self.fail(f"{value!r} is not a size in bytes (examples: 33554432, 32M, 64MiB)")
        if size < self.minimum:
            self.fail(f"must be at least {self.minimum} bytes")
        if size > self.maximum:
            self.fail(f"must be at most {self.maximum} bytes ({size_text(self.maximum)})")
        return size


class Seconds(click.ParamType[float]):
    """A positive, finite number of seconds up to ``maximum`` (``nan`` and ``inf`` are not
    time limits)."""

    name = "SECONDS"

    def __init__(self, maximum: float = MAX_SECONDS) -> None:
        self.maximum = maximum

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number of seconds")
        if not math.isfinite(seconds) or seconds <= 0:
            self.fail(f"{value!r} must be a positive, finite number of seconds")
        if seconds > self.maximum:
            self.fail(f"{value!r} must be at most {self.maximum:g} seconds")
        return seconds


def run_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """The options every Lua-running command shares (integrations:lua, mcp:lua)."""
    defaults = Limits()
    for decorator in reversed(
        [
            click.argument("file", required=False, metavar="[FILE|-]"),
            click.option("-e", "--eval", "code", metavar="CODE", help="Lua code to run."),
            click.option(
                "--json",
                "as_json",
                is_flag=True,
                help="Print one JSON envelope on stdout (also for errors).",
            ),
            click.option(
                "--force",
                is_flag=True,
                help="Bypass the permission policy (ask/deny) for this run.",
            ),
            click.option(
                "--memory-limit",
                type=ByteSize(minimum=MIN_MEMORY),
                default=defaults.memory_bytes,
                show_default="32 MiB",
                help="Lua memory limit in bytes (32M, 64MiB), at most 64 GiB. An HTTP reply"
                " may be as large.",
            ),
            click.option(
                "--cpu-limit",
                type=Seconds(),
                default=defaults.cpu_seconds,
                show_default=True,
                help="CPU time limit, at most a week (604800).",
            ),
            click.option(
                "--timeout",
                type=Seconds(),
                help="Wall-clock limit, including time spent waiting on APIs, at most a week"
                " (604800). Off by default.",
            ),
            click.option(
                "--concurrency",
                type=click.IntRange(1, MAX_CONCURRENCY),
                default=defaults.concurrency,
                show_default=True,
                help="Calls a script may have in flight at once: app.parallel and app.map"
                f" branches (their opts.concurrency may ask for up to {MAX_CONCURRENCY}), and"
                " the pages of all_pages.",
            ),
            click.option(
                "--max-calls",
                type=click.IntRange(0, MAX_CALLS),
                metavar="N",
                help="Stop the script before its N+1th integration or MCP call (app.*, mcp.*),"
                " in app.parallel and app.map branches too."
                f" Off by default; at most {MAX_CALLS}.",
            ),
            click.option(
                "--output-limit",
                type=ByteSize(maximum=MAX_OUTPUT_BYTES),
                default=defaults.output_bytes,
                show_default="8 MiB",
                help="Stop a script that prints more than this, at most 1 GiB.",
            ),
        ]
    ):
        function = decorator(function)
    return function


def emulation_data(values: tuple[str, ...]) -> dict[str, str]:
    """The ``--emulate-data`` files by integration, each loaded once to check it."""
    from ..emulation import data_files
    from ..integrations import load

    return data_files(values, load())


def limits_from(options: dict[str, Any]) -> Limits:
    """The limits that ``run_options`` parsed."""
    return Limits(
        memory_bytes=options["memory_limit"],
        cpu_seconds=options["cpu_limit"],
        timeout_seconds=options["timeout"],
        output_bytes=options["output_limit"],
        concurrency=options["concurrency"],
        max_calls=options["max_calls"],
    )


@click.command(
    "integrations:lua",
    cls=JsonAwareCommand,
    epilog="""\b
Examples:
  kosmo integrations:lua --eval 'print(json.encode({ok = true}))'
  kosmo integrations:lua workflow.lua --json
  kosmo integrations:lua examples/failed_builds_on_main.lua --emulate
  kosmo integrations:lua workflow.lua --check
  kosmo integrations:lua workflow.lua --plan --json   # then: workflow.lua --force
  cat workflow.lua | kosmo integrations:lua - --json
  kosmo integrations:lua --repl

\b
Exit status: 0 success, 1 the script failed or its output could not be
written, 2 usage error, 130 Ctrl-C, 143 SIGTERM, 129 SIGHUP (each stops the
script, and --json still prints its envelope), 141 stdout was closed.
Inside Lua: app.integrations.*, json, regex, print, dump.""",
)
@run_options
@click.option("--repl", is_flag=True, help="Interactive prompt; state is kept between lines.")
@click.option(
    "--emulate",
    is_flag=True,
    help="Talk to a built-in emulator of each API (demo data, no token, no network).",
)
@click.option(
    "--plan",
    is_flag=True,
    help="Send no write: run the reads, record each write in meta.plan (tool, method, path,"
    " body, line) and go on with a placeholder result. Apply it by running again with --force.",
)
@click.option(
    "--check",
    is_flag=True,
    help="Check the script without running it or sending anything: syntax, unknown"
    " functions and docs pages, mistyped literal arguments, each with its line.",
)
@click.option(
    "--emulate-data",
    multiple=True,
    metavar="[NAME=]FILE",
    help="With --emulate: load an emulator's data from a JSON file (NAME=FILE for one"
    " integration; a bare FILE feeds the only emulator). Repeatable.",
)
def integrations_lua(
    repl: bool,
    emulate: bool,
    plan: bool,
    check: bool,
    emulate_data: tuple[str, ...],
    **options: Any,
) -> None:
    """Run Lua code in the sandbox, with the integrations under app.integrations.*."""
    from ..config import check_settings

    if plan and options["force"]:
        raise click.UsageError("--plan sends no write and --force sends them: give one")
    if check:
        if repl or plan:
            raise click.UsageError("--check runs nothing: it takes no --repl or --plan")
        from .check_output import check_script

        check_script(*read_code(options["code"], options["file"]), as_json=options["as_json"])
        return

    check_settings()  # the worker reads them on the first call: a broken file is a usage error
    limits = limits_from(options)
    if emulate_data and not emulate:
        raise click.UsageError("--emulate-data goes with --emulate")
    files = emulation_data(emulate_data) if emulate_data else {}
    dispatch = AppDispatcher.factory(
        force=options["force"],
        emulate=emulate,
        emulate_data=files,
        max_body_bytes=limits.body_bytes,
        concurrency=limits.concurrency,
        plan=plan,
    )
    worker = Worker(limits, dispatch, one_run=not repl)
    if repl:
        if options["as_json"] or options["code"] or options["file"]:
            raise click.UsageError("--repl takes no code, FILE or --json")
        run_repl(worker)
        return
    meta: dict[str, Any] = {"emulated": True} if emulate else {}
    run_script(worker, options, meta, plan=plan)


def run_script(
    worker: Worker, options: dict[str, Any], meta: dict[str, Any], *, plan: bool = False
) -> None:
    """Runs the code the options name and prints its result as asked; a run that failed
    raises ``Failed`` once its output is out.

    Ctrl-C, SIGTERM and SIGHUP stop the script (exit 128 + the signal); output that cannot
    be written (a closed pipe, a full disk) stops it too (``StdoutFailed``).
    """
    as_json = options["as_json"]
    code, name = read_code(options["code"], options["file"])
    with worker:  # closed after printing: a one_run worker leaves meanwhile
        with terminations_interrupt():
            result = worker.run(code, name, on_output=None if as_json else output.echo)
        result.meta.update(meta)
        if plan:
            result.meta.setdefault("plan", [])
        if as_json:
            output.print_envelope(result)
        elif worker.interrupted:
            click.echo("Interrupted.", err=True)
        else:
            output.print_plain(result)
            if plan:
                output.print_plan(result.meta)
    if not result.success:
        raise Failed(result.error or "", signal=worker.interrupted)


def read_code(code: str | None, file: str | None) -> tuple[str, str]:
    """Returns the code and its chunk name (shown in error positions)."""
    if code is not None and file is not None:
        raise UsageError("Give either --eval CODE or FILE, not both.")
    if code is not None:
        return code, "eval"
    if file == "-" or (file is None and not sys.stdin.isatty()):
        text = sys.stdin.read()
        if text.strip():
            return _script_text(text), "stdin"
        if file is None:
            raise UsageError(_NO_CODE)
        raise UsageError("No Lua code on standard input.")
    if file is None:
        raise UsageError(_NO_CODE)
    if os.path.isdir(file):
        raise UsageError(f"Not a file: {file}")
    if not os.path.isfile(file):
        raise UsageError(f"File not found: {file}")
    try:
        with open(file, encoding="utf-8", errors="surrogateescape") as source:
            return _script_text(source.read()), os.path.basename(file)
    except OSError as exc:
        raise UsageError(f"Cannot read {file}: {exc.strerror}") from None


def _script_text(text: str) -> str:
    """Drops a UTF-8 BOM and a ``#!`` line (kept as an empty line, so line numbers hold),
    as the standalone ``lua`` does: workflow files can then be executables."""
    text = text.removeprefix("\ufeff")
    if text.startswith("#"):
        text = text[text.find("\n") :] if "\n" in text else ""
    return text


_NO_CODE = (
    "No Lua code given. Pass --eval CODE, a FILE, '-' for stdin, or --repl "
    "(see kosmo integrations:lua --help)."
)


REPL_HELP = """\
Each line runs as Lua in the same sandbox: globals and functions are kept between
lines (a `local` lasts for its line only). An expression shows its value (1 + 1),
and an unfinished statement continues on the next line (the >> prompt).

Commands:
  :help                this text
  :quit                leave (also :q, :exit, or end of input with Ctrl-D)
  Ctrl-C               stop a running script (its state starts afresh)

In the sandbox:
  app.integrations.*   integration functions (docs.list() names them all)
  docs.read(page)      the reference; also docs.list() and docs.search(query)
  json                 json.encode(value), json.decode(text)
  regex                regex.match, regex.match_all, regex.gsub
  print, dump          print lines; dump(value) shows any value, tables included"""


def run_repl(worker: Worker) -> None:
    """A prompt that keeps state between lines; `:quit` or end of input leaves.

    SIGTERM and SIGHUP leave as well (exit 128 + the signal), stopping a running script.
    """
    with contextlib.suppress(ImportError):
        import readline  # noqa: F401  (line editing and history where available)
    click.echo("Lua 5.4 sandbox. Type :help for help, :quit to leave.", err=True)
    pending = ""
    with worker, terminations_interrupt():
        while True:
            try:
                line = input(">> " if pending else "lua> ")
            except EOFError:
                click.echo(err=True)
                return
            except KeyboardInterrupt:
                click.echo(err=True)
                pending = ""
                continue
            if not pending and line.strip() in (":quit", ":q", ":exit"):
                return
            if not pending and line.strip() == ":help":
                output.echo(REPL_HELP)
                continue
            code = f"{pending}\n{line}" if pending else line
            if not code.strip():
                continue
            result = worker.run(code, "repl", on_output=output.echo, repl=True)
            if worker.interrupted == signal.SIGINT:
                pending = ""
                click.echo("\nInterrupted; state starts afresh.", err=True)
                continue
            if worker.interrupted:
                raise Failed(result.error or "", signal=worker.interrupted)
            if not result.success and (result.error or "").endswith("<eof>"):
                pending = code  # an unfinished statement: read more lines
                continue
            pending = ""
            output.print_plain(result)
            if worker.restarted:
                click.echo("(the worker was stopped by a limit; state starts afresh)", err=True)
