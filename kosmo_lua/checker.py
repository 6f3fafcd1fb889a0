"""``--check``: what is wrong with a script, found without running it or sending anything.

Lua itself compiles the script (``load``, never called) for syntax errors; ``luascan``
finds its calls of integration functions, ``docs.*`` and ``mcp.*``, which are checked
against the catalog, the tool table (``arguments.py``'s own checks, on literal values) and
the reference's pages. Each finding has the script's line.

Why our own scanner and not a parser from PyPI: ``luaparser`` (4.2, on ANTLR) took 2.4 s
for 20,000 lines and raised ``RecursionError`` on 150 nested parentheses, which Lua accepts;
the scanner is linear, never recurses past ``luascan.MAX_DEPTH``, and needs only the call
forms scripts use.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .arguments import check_value, missing_argument, too_many_positional, unknown_argument
from .catalog import PREFIX, Catalog, closest
from .errors import ArgumentError, UnknownFunction
from .limits import MIB
from .luascan import UNKNOWN, CallSite, Table, call_sites
from .result import POSITION, ExecutionResult
from .tools import Tool

MAX_CHECK_BYTES = 1 * MIB
"""The largest script ``--check`` reads: far past any workflow, and small enough that a
check (done in ``mcp:serve``'s own process) takes about 100 MiB at worst."""
COMPILE_MEMORY = 256 * MIB
"""What Lua may allocate to compile it (a 1 MiB script of tables needs about 25 MiB)."""
ROOTS = frozenset({"app", "docs", "mcp"})
SCALARS = frozenset({"string", "integer", "number", "boolean"})


@dataclass(frozen=True)
class Finding:
    """One problem: its line (None for the whole script), kind and message."""

    line: int | None
    kind: str  # syntax, unknown_function, invalid_arguments, unknown_page, too_large
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "kind": self.kind, "message": self.message}


def check(code: str, name: str) -> tuple[list[Finding], int]:
    """The findings of a script, in line order, and how many calls were checked."""
    size = len(code.encode("utf-8", "surrogateescape"))
    if size > MAX_CHECK_BYTES:
        message = (
            f"The script is {size} bytes; --check reads at most {MAX_CHECK_BYTES}: split it, or"
            " run it with --plan to see what it would send."
        )
        return [Finding(None, "too_large", message)], 0
    syntax = syntax_error(code, name)
    if syntax is not None:
        return [syntax], 0
    from .integrations import load
    from .reference import load_reference

    catalog, reference = Catalog(load()), load_reference()
    findings: list[Finding] = []
    sites = call_sites(code, ROOTS)
    for site in sites:
        for kind, message in _site_problems(site, catalog, reference):
            findings.append(Finding(site.line, kind, message))
    return sorted(findings, key=lambda f: f.line or 0), len(sites)


def syntax_error(code: str, name: str) -> Finding | None:
    """Lua's own verdict: the script is compiled (never run) by a fresh Lua state with
    bounded memory."""
    import lupa.lua54 as lupa

    lua = lupa.LuaRuntime(register_eval=False, register_builtins=False, max_memory=COMPILE_MEMORY)
    compile_ = lua.eval("function(code, name) return load(code, name, 't') end")
    try:
        compiled = compile_(code.encode("utf-8", "surrogateescape"), f"={name}")
    except lupa.LuaMemoryError:
        return Finding(None, "too_large", "The script is too large to compile.")
    if isinstance(compiled, tuple) and compiled[0] is None:
        text = compiled[1]
        message = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
        message = message.split("\n", 1)[0]  # "C stack overflow" comes with a traceback
        position = POSITION.match(message)
        return Finding(int(position.group(2)) if position else None, "syntax", message)
    return None


def _site_problems(site: CallSite, catalog: Catalog, reference: Any) -> list[tuple[str, str]]:
    path = site.path
    if path.startswith(PREFIX):
        try:
            tool = catalog.resolve(path)[2]
        except UnknownFunction as exc:
            return [("unknown_function", str(exc))]
        return [("invalid_arguments", message) for message in argument_problems(tool, site)]
    library, _, function = path.partition(".")
    if library in ("docs", "mcp") and function and "." not in function:
        from .dispatch import MCP_FUNCTIONS
        from .runtime.engine import LIBRARIES

        names = LIBRARIES["docs"] if library == "docs" else tuple(MCP_FUNCTIONS)
        if function not in names:
            close = closest(function, names)
            hint = f" Did you mean: {library}.{close[0]}?" if close else ""
            available = ", ".join(f"{library}.{n}" for n in names)
            return [("unknown_function", f"Unknown function: {path}.{hint} Available: {available}")]
        page = site.args[0] if path == "docs.read" and site.args else None
        if isinstance(page, str) and reference.canonical(page) is None:
            return [("unknown_page", reference.read(page))]
    return []


def argument_problems(tool: Tool, site: CallSite) -> list[str]:
    """What ``bind`` would refuse in the call's literal arguments, every one of them."""
    args = site.args
    if args == [[]]:  # `f{}`
        args = [{}]
    if len(args) == 1 and isinstance(args[0], dict | Table):
        table = args[0]
        named = table.named if isinstance(table, Table) else table
        complete = isinstance(table, dict) or not (table.items or table.computed)
        return _named_problems(tool, named, complete)
    if len(args) == 1 and args[0] is UNKNOWN:
        return []  # a table or a value: only the run can tell
    return _positional_problems(tool, args, site.open_ended)


def _named_problems(tool: Tool, named: dict[str, Any], complete: bool) -> list[str]:
    problems = []
    for key, value in named.items():
        param = tool.param(key)
        if param is None:
            problems.append(unknown_argument(tool, key))
        else:
            problems.extend(_value_problems(tool, param.name, value))
    if complete and "payload" not in named:
        for param in tool.params:
            if param.required and named.get(param.name) is None:
                problems.append(missing_argument(tool, param))
    return problems


def _positional_problems(tool: Tool, args: list[Any], open_ended: bool) -> list[str]:
    positional = tool.positional
    if len(args) - open_ended > len(positional):
        return [too_many_positional(tool, len(args))]
    problems = []
    for param, value in zip(positional, args, strict=False):
        problems.extend(_value_problems(tool, param.name, value))
    if not open_ended:
        for param in positional[len(args) :]:
            if param.required:
                problems.append(missing_argument(tool, param))
    return problems


def _value_problems(tool: Tool, name: str, value: Any) -> list[str]:
    """A literal value checked as the run would; a table that is not all literal only for
    being a table where a single value belongs."""
    param = tool.param(name)
    assert param is not None
    if value is None or value is UNKNOWN:
        return []
    if isinstance(value, Table):
        if param.type not in SCALARS:
            return []
        value = {}
    try:
        check_value(tool, param, value)
    except ArgumentError as exc:
        return [str(exc)]
    return []


def check_result(code: str, name: str) -> ExecutionResult:
    """The check as a run's result: success when clean; ``meta.findings`` lists each one
    (``line``, ``kind``, ``message``), and ``error`` names the first, at its line."""
    findings, calls = check(code, name)
    result = ExecutionResult(success=not findings, result=[] if not findings else None)
    result.meta.update(check={"findings": [f.as_dict() for f in findings], "calls": calls})
    if findings:
        first = findings[0]
        text = first.message
        if first.line is not None and not POSITION.match(text):
            text = f"{name}:{first.line}: {text}"
        more = len(findings) - 1
        if more:
            text += f" (and {more} more problem{'s' if more > 1 else ''}: see meta.check)"
        result.fail(text, "check")  # its line is read off the text, as a run's
    return result
