"""``NAME=VALUE`` options (``--arg``, ``--set``, ``--env``, ``--header``): one parser, one
error message, and values typed from a JSON Schema where the command knows one."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import click

_BOOLEANS = {"true": True, "false": False, "1": True, "0": False}
_JSON_TYPES = {bool: "boolean", int: "integer", float: "number", dict: "object", list: "array"}


class NameValue(click.ParamType[tuple[str, str]]):
    """``NAME=VALUE`` as ``(name, value)``; the value is text, and may hold ``=`` itself."""

    name = "NAME=VALUE"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[str, str]:
        if isinstance(value, tuple):
            return value
        name, sep, text = str(value).partition("=")
        if not sep:
            self.fail(f"{value!r} is not NAME=VALUE", param, ctx)
        return name, text


NAME_VALUE = NameValue()


def typed_arguments(pairs: Iterable[tuple[str, str]], schema: Mapping[str, Any]) -> dict[str, Any]:
    """Named arguments from ``NAME=VALUE`` pairs, each typed by its property in ``schema``
    (an object's JSON Schema)."""
    properties = schema.get("properties", {})
    return {name: typed(properties.get(name, {}), text) for name, text in pairs}


def typed(schema: Mapping[str, Any], text: str) -> Any:
    """A command-line string as the JSON Schema ``schema`` types it: numbers, true/false
    (or 1/0) and JSON for objects and arrays; where a string fits, the text is that string.

    A value that does not fit stays the string it was, so the call's validation reports it
    as it would from Lua. Without a type, the text is JSON when it parses as JSON
    (``'"007"'`` for a string), else itself.
    """
    types = _types(schema)
    if types == {"string"}:
        return text
    if "boolean" in types and text.lower() in _BOOLEANS:
        return _BOOLEANS[text.lower()]
    try:
        value = json.loads(text)
    except ValueError:
        return text
    if not types:
        return value
    if isinstance(value, str) or not _fits(_JSON_TYPES.get(type(value), "null"), types):
        return text
    return value


def _types(schema: Mapping[str, Any]) -> set[str]:
    """The JSON types a schema allows: its ``type`` (one or a list), or its ``anyOf`` and
    ``oneOf`` branches' types; empty when it says nothing."""
    declared = schema.get("type")
    if isinstance(declared, str):
        return {declared}
    if isinstance(declared, list):
        return {str(t) for t in declared}
    branches = [*schema.get("anyOf", ()), *schema.get("oneOf", ())]
    return {t for branch in branches if isinstance(branch, Mapping) for t in _types(branch)}


def _fits(kind: str, types: set[str]) -> bool:
    return kind in types or (kind == "integer" and "number" in types)
