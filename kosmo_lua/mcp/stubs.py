"""LuaCATS classes for ``app.mcp.<server>`` from the tools a server lists: one class of named
arguments per tool (from its JSON Schema ``inputSchema``), one of its result when it declares
an object ``outputSchema`` (a call then answers with that structured content), and one
function field per tool.

Names, descriptions and schemas come from the server, so nothing of theirs reaches a stub
unless it is a safe name or one line of comment text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from ..luascan import IDENTIFIER, KEYWORDS
from .client import McpHub
from .errors import McpError
from .servers import ServerConfig

QUOTABLE = re.compile(r"[A-Za-z0-9_.:/@$ -]{1,64}\Z")
"""A name a ``["name"]`` field can hold as it is."""
SCHEMA_TYPES = {  # a JSON Schema type's LuaCATS type (tool tables' Param types too)
    "string": "string",
    "integer": "integer",
    "number": "number",
    "boolean": "boolean",
    "object": "table",
    "array": "any[]",
}
MAX_TEXT = 200
MAX_PROPERTIES = 100  # fields per tool's class: a hostile schema may list millions
MAX_ENUM = 50  # literals in a field's type; a longer enum is typed by its kind
MAX_REASON = 300


def server_tools(servers: list[ServerConfig]) -> tuple[dict[str, list[dict[str, Any]]], list[str]]:
    """The tools of each server that may start (lua name → tool rows), and one line per
    server that keeps the generic stub, saying why.

    The hub applies the trust rules: an untrusted project server is never started. A reason
    is the first line of the error only: what follows is the server's stderr, which may
    quote anything it was given.
    """
    tools: dict[str, list[dict[str, Any]]] = {}
    notes: list[str] = []
    with McpHub(servers) as hub:
        for server in servers:
            try:
                tools[server.lua_name] = hub.tools(server.name)
            except McpError as exc:
                reason = " ".join(str(exc).split("\n", 1)[0].split())[:MAX_REASON]
                notes.append(f"app.mcp.{server.lua_name} is untyped (fun(args?: table)): {reason}")
    return tools, notes


def server_class(server: str) -> str:
    return f"kosmo.mcp.{server}"


def servers_stub(tools: Mapping[str, list[dict[str, Any]]]) -> list[str]:
    """The classes of every listed server, as lines of a ``---@meta`` file."""
    lines: list[str] = []
    for server, rows in tools.items():
        lines += _server(server, rows)
    return lines


def _server(server: str, rows: list[dict[str, Any]]) -> list[str]:
    fields: list[str] = []
    lines: list[str] = []
    seen: set[str] = set()
    left_out: list[str] = []
    for row in rows:
        lua_name = str(row["lua_name"])
        field = field_name(lua_name)
        if field is None or lua_name in seen:
            left_out.append(lua_name)
            continue
        seen.add(lua_name)
        args_class = f"{server_class(server)}.{lua_name}.args"
        schema = row.get("input_schema")
        schema = schema if isinstance(schema, dict) else {}
        lines += [f"---@class {args_class}", *_properties(schema), ""]
        optional = "" if _required(schema) else "?"
        result = "any"
        output = row.get("output_schema")
        if isinstance(output, dict) and output.get("type") == "object":
            result = f"{server_class(server)}.{lua_name}.result"
            lines += [f"---@class {result}", *_properties(output), ""]
        fields.append(
            f"---@field {field} fun(args{optional}: {args_class}): {result}"
            f" {text(str(row.get('description') or ''))}".rstrip()
        )
    lines.append(f"---@class {server_class(server)}")
    if left_out:
        lines.append(f"---{len(left_out)} tool(s) whose Lua name is taken or unusable left out.")
    return [*lines, *fields, ""]


def _properties(schema: dict[str, Any]) -> list[str]:
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return []
    required = _required(schema)
    lines: list[str] = []
    skipped = 0
    for name, spec in list(properties.items())[:MAX_PROPERTIES]:
        field = field_name(str(name))
        if field is None:
            skipped += 1
            continue
        spec = spec if isinstance(spec, dict) else {}
        mark = "" if name in required else "?"
        description = text(str(spec.get("description") or spec.get("title") or ""))
        lines.append(f"---@field {field}{mark} {_type(spec)} {description}".rstrip())
    if skipped:
        lines.append(f"---{skipped} argument(s) whose names a stub cannot hold left out.")
    if len(properties) > MAX_PROPERTIES:
        more = len(properties) - MAX_PROPERTIES
        lines.append(f"---{more} argument(s) left out (a stub keeps {MAX_PROPERTIES}).")
    return lines


def _required(schema: dict[str, Any]) -> set[str]:
    required = schema.get("required")
    return {str(name) for name in required} if isinstance(required, list) else set()


def _type(spec: dict[str, Any]) -> str:
    """A LuaCATS type for a property's schema; ``any`` for what it cannot say."""
    enum = spec.get("enum")
    if isinstance(enum, list) and 0 < len(enum) <= MAX_ENUM and all(_literal(v) for v in enum):
        return "|".join(json.dumps(value) for value in enum)
    kinds = spec.get("type")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    types = [_one_type(str(kind), spec) for kind in kinds if kind != "null"]
    if not types or None in types:
        return "any"
    return "|".join(dict.fromkeys(t for t in types if t is not None))


def _one_type(kind: str, spec: dict[str, Any]) -> str | None:
    if kind == "array":
        items = spec.get("items")
        item = SCHEMA_TYPES.get(str(items.get("type"))) if isinstance(items, dict) else None
        return f"{item}[]" if item and item != "any[]" else "any[]"
    return SCHEMA_TYPES.get(kind)


def _literal(value: object) -> bool:
    return isinstance(value, str) and QUOTABLE.match(value) is not None


def field_name(name: str) -> str | None:
    """``name`` as a LuaCATS field: itself, ``["name"]``, or None when neither is safe."""
    if IDENTIFIER.match(name) and name not in KEYWORDS:
        return name
    if QUOTABLE.match(name):
        return f'["{name}"]'
    return None


def text(value: str) -> str:
    """One line of comment text that cannot start an annotation or end the comment."""
    line = " ".join(value.split())
    if len(line) > MAX_TEXT:
        line = line[: MAX_TEXT - 1] + "…"
    return "\\" + line if line[:1] in ("@", "-", "|", "#") else line
