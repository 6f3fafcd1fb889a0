"""The signature sheet: an integration's functions with their arguments and result types,
and its records with their fields, in at most ``BUDGET`` bytes
(``docs.read("buildkite.quick")``; ``mcp:serve`` puts it in ``execute_lua``'s description).

The integration's featured functions come first, with their options, then the other reads,
then writes; a last line counts what did not fit (Buildkite's whole surface, written this
densely, is ~3.6 KB) and says where to read it.

Its shorthand, said in its first lines: the arguments most functions require go by a
letter; a line names the required arguments, then a featured function's first options
with ``?``, or else ``…`` when there are options (on the function's page); a field is a
string unless typed, ``?`` when it may be nil; ``int``, ``bool``, ``num`` and ``map``
(strings by name) are the other types. Each record follows
the first function that returns it, so a build's fields sit under list_builds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from .. import shapes
from ..tools import PAYLOAD, WITH_META, Integration, Record, Tool

SHORT = {"integer": "int", "boolean": "bool", "number": "num"}
SHARED = 4
"""How many of the most shared required arguments go by one letter."""


OPTIONS = 5
"""How many of a featured function's options the sheet names (the first, in table order)."""

BUDGET = 1536
"""Bytes the sheet may take, its last line included."""


def quick_sheet(integration: Integration, budget: int = BUDGET) -> str:
    """The sheet, at most ``budget`` bytes (UTF-8)."""
    name = integration.name
    letters = _letters(integration)
    added = {PAYLOAD.name, WITH_META.name, *(p.name for p in integration.pagination.params())}
    legend = " ".join(f"{letter}={param}" for param, letter in letters.items())
    lines = [
        f"# {name}: app.integrations.{name}.fn{{named}} or fn(positional)",
        f'{legend}; ?=optional/nil; …=more: docs.read("{name}.fn"); fields are strings'
        " unless typed",
    ]
    featured = [t for t in integration.tools if t.name in integration.featured]
    featured.sort(key=lambda t: integration.featured.index(t.name))
    rest = [t for t in integration.tools if t not in featured]
    reads = [t for t in rest if t.access == "read"]
    writes = [t for t in rest if t.access != "read"]
    wanted: list[tuple[str, str]] = []
    shown: set[str] = set()
    for tool in [*featured, *reads, *writes]:  # each record after the first that returns it
        wanted.append((tool.name, _signature(tool, letters, added, tool in featured)))
        for record in reached(integration, tool.result or "any"):
            if record.name not in shown:
                shown.add(record.name)
                wanted.append((record.name, _record(record)))
    left_out: list[str] = []
    room = _size(_trailer(integration, [item for item, _ in wanted]))  # at its longest
    used = sum(_size(line) for line in lines)
    for item, line in wanted:
        if not left_out and used + _size(line) <= budget - room:
            lines.append(line)
            used += _size(line)
        else:
            left_out.append(item)
    if left_out:
        lines.append(_trailer(integration, left_out))
    return "\n".join(lines) + "\n"


def _size(line: str) -> int:
    return len(line.encode()) + 1


def reached(integration: Integration, text: str) -> list[Record]:
    """The records a type names, then those their fields name, in order."""
    found: list[Record] = []
    todo = list(shapes.names(shapes.parse(text)))
    while todo:
        record = integration.records.get(todo.pop(0))
        if record and record not in found:
            found.append(record)
            todo += [n for f in record.fields for n in shapes.names(shapes.parse(f.type))]
    return found


def _trailer(integration: Integration, left_out: list[str]) -> str:
    """The last line: how much did not fit and where to read it (naming each item would
    take the room the sheet is for)."""
    functions = sum(1 for item in left_out if integration.tool(item) is not None)
    records = len(left_out) - functions
    name = integration.name
    return (
        f'+{functions} functions, {records} records: docs.read("{name}") lists all,'
        f' "{name}.records" has fields'
    )


def _letters(integration: Integration) -> dict[str, str]:
    """The most shared required arguments (organization, pipeline, …) → a letter each."""
    counts = Counter(p.name for t in integration.tools for p in t.params if p.required)
    letters: dict[str, str] = {}
    for param, _ in counts.most_common(SHARED):
        letter = next((c for c in param if c.isalpha() and c not in letters.values()), None)
        if letter:
            letters[param] = letter
    return letters


def _signature(tool: Tool, letters: dict[str, str], added: set[str], options: bool) -> str:
    """``get_build(o,p,n,…)Build``: required arguments, then the ``options`` by name
    (``tail?``) or ``…`` when it takes some (the host's own, ``with_meta``, paging and
    ``payload``, do not count)."""
    own = [p for p in tool.params if p.name not in added]
    required = [letters.get(p.name, p.name) for p in own if p.required]
    optional = [p for p in own if not p.required]
    if options:
        named = [f"{letters.get(p.name, p.name)}?" for p in optional[:OPTIONS]]
        shown = required + named + (["…"] if len(optional) > OPTIONS else [])
    else:
        shown = required + (["…"] if optional else [])
    result = _dense(shapes.parse(tool.result)) if tool.result else "any"
    return f"{tool.name}({','.join(shown)}){result}"


def _record(record: Record) -> str:
    return record.name + _dense_fields((f.name, False, shapes.parse(f.type)) for f in record.fields)


def _dense_fields(entries: Iterable[tuple[str, bool, shapes.Shape]]) -> str:
    parts = []
    for name, optional, shape in entries:
        if isinstance(shape, shapes.Nullable):
            optional, shape = True, shape.item
        typed = _dense(shape)
        parts.append(f"{name}{'?' if optional else ''}{'' if typed == 'string' else ':' + typed}")
    return "{" + ",".join(parts) + "}"


def _dense(shape: shapes.Shape) -> str:
    match shape:
        case shapes.Name(name):
            return SHORT.get(name, name)
        case shapes.ListOf(item):
            inner = _dense(item)
            return f"({inner})[]" if isinstance(item, shapes.Union) else f"{inner}[]"
        case shapes.Nullable(item):
            return _dense(item) + "?"
        case shapes.Union(items):
            return "|".join(_dense(item) for item in items)
        case shapes.MapOf(_, shapes.Name("string")):
            return "map"
        case shapes.MapOf(key, value):
            return f"table<{_dense(key)},{_dense(value)}>"
        case shapes.Table(entries):
            return _dense_fields((e.name, e.optional, e.shape) for e in entries)
    raise AssertionError(shape)
