"""Planned writes (``--plan``, and ``mcp:serve``'s ``ask`` policy without elicitation): a
write is recorded as a step of ``meta.plan`` instead of being sent, and the script goes on
with a placeholder result.

``placeholder`` is the one place that decides what a planned write returns: a value of the
tool's declared result type (``Tool.result``), so a script that reads ``b.number`` or
``#b.jobs`` after a planned ``create_build`` goes on as it would.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import Any

from . import shapes
from .config import DEFAULT_ACCOUNT
from .request import build_request, with_query
from .tools import Integration, Record, Tool

PLANNED_TEXT = "(planned)"
"""What a planned result's strings hold: visibly not data from the API."""
PLACEHOLDER_NOTE = (
    "Under --plan, what a planned write returned is a placeholder (numbers 0, strings"
    f' "{PLANNED_TEXT}"): the plan goes as far as this call.'
)
"""Said by a call that fails on, or would send, a placeholder value."""


def placeholder(tool: Tool, records: Mapping[str, Record]) -> Any:
    """What a planned write returns to the script in place of the API's reply.

    A table result is built from the declared type, its required fields filled (strings
    ``"(planned)"``, numbers 0, booleans false, lists and maps empty; what may be nil is
    left out), and marked ``planned = true, tool = <name>`` so a script can tell. A tool
    that declares no table (a raw ``api_post``) returns just the mark.
    """
    mark = {"planned": True, "tool": tool.full_name}
    value = _filled(shapes.parse(tool.result or "any"), records, frozenset())
    return {**value, **mark} if isinstance(value, dict) else mark


def holds_placeholder(value: Any) -> bool:
    """Whether a bound argument is, or holds, a placeholder string."""
    if isinstance(value, dict):
        return any(holds_placeholder(item) for item in value.values())
    if isinstance(value, list):
        return any(holds_placeholder(item) for item in value)
    return isinstance(value, str) and value == PLANNED_TEXT


def _filled(shape: shapes.Shape, records: Mapping[str, Record], within: frozenset[str]) -> Any:
    """The least value of ``shape``; a record already being filled (``within``) is nil, so
    records that name each other end."""
    if isinstance(shape, shapes.Nullable):
        return None
    if isinstance(shape, shapes.Union):
        return _filled(shape.items[0], records, within)
    if isinstance(shape, shapes.ListOf | shapes.MapOf):
        return {}
    if isinstance(shape, shapes.Table):
        return _fields(
            ((e.name, e.shape) for e in shape.entries if not e.optional), records, within
        )
    record = records.get(shape.name)
    if record is not None:
        if record.name in within:
            return None
        fields = ((f.name, shapes.parse(f.type)) for f in record.fields)
        return _fields(fields, records, within | {record.name})
    return {"string": PLANNED_TEXT, "integer": 0, "number": 0, "boolean": False}.get(shape.name)


def _fields(fields: Any, records: Mapping[str, Record], within: frozenset[str]) -> dict[str, Any]:
    filled = {name: _filled(shape, records, within) for name, shape in fields}
    return {name: value for name, value in filled.items() if value is not None}


def plan_step(
    integration: Integration,
    tool: Tool,
    account: str,
    args: dict[str, Any],
    *,
    line: int | None,
    permission: str,
) -> dict[str, Any]:
    """The request a write would send, as a step of ``meta.plan``: ``tool``, ``method``,
    ``path`` (its query string included), ``body``, the script's ``line``, the
    ``permission`` the policy gives it (``allow``, ``ask`` or ``deny``), and ``account``
    when it is not the default one."""
    path, query, body = build_request(integration, tool, args)
    step: dict[str, Any] = {
        "tool": tool.full_name,
        "method": tool.method,
        "path": with_query(path, query),
        "body": body,
        "line": line,
        "permission": permission,
    }
    if account != DEFAULT_ACCOUNT:
        step["account"] = account
    return step


def visible(text: str) -> str:
    """``text`` with what would not show as itself escaped (``\\u202e``): format characters
    (bidi overrides turn what follows around on screen, zero-width ones hide), controls and
    separators, so a human reads a planned write's body as it would be sent."""
    return "".join(
        f"\\u{ord(c):04x}" if unicodedata.category(c) in _HIDDEN and c != " " else c for c in text
    )


_HIDDEN = frozenset({"Cf", "Cc", "Co", "Cn", "Cs", "Zl", "Zp", "Zs"})
