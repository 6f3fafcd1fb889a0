"""Binding and checking a call's arguments against its tool's parameters.

Everything here happens before any request: a missing, unknown or mistyped argument, or a
known mistake (a UUID where a number belongs), costs nothing and changes nothing.
"""

from __future__ import annotations

from typing import Any

from .catalog import closest
from .errors import ArgumentError
from .tools import Param, Tool


def bind(tool: Tool, args: list[Any]) -> dict[str, Any]:
    """Turns Lua call arguments into validated named arguments, defaults applied.

    One table argument means named arguments; anything else is positional, in the order
    the parameters are declared.
    """
    if len(args) == 1 and isinstance(args[0], dict):
        named = dict(args[0])
    elif len(args) == 1 and args[0] == []:  # `f({})`: an empty table is an empty list in Lua
        named = {}
    else:
        while args and args[-1] is None:
            args = args[:-1]
        positional = tool.positional
        if len(args) > len(positional):
            raise ArgumentError(too_many_positional(tool, len(args)), tool=tool.full_name)
        named = {p.name: v for p, v in zip(positional, args, strict=False) if v is not None}
    for name in named:
        if tool.param(name) is None:
            raise ArgumentError(unknown_argument(tool, name), tool=tool.full_name)
    if "payload" in named:
        named.update(_hoist_payload(tool, named))
    bound: dict[str, Any] = {}
    for param in tool.params:
        if param.name in named:
            bound[param.name] = check_value(tool, param, named[param.name])
        elif param.required:
            raise ArgumentError(missing_argument(tool, param), tool=tool.full_name)
        elif param.default is not None:
            bound[param.name] = param.default
    return bound


def _hoist_payload(tool: Tool, named: dict[str, Any]) -> dict[str, Any]:
    """Moves the payload's keys that name body parameters out into named arguments.

    They are then validated and defaulted like named ones, and handlers read them in one
    place (``retry_failed_jobs`` reads ``states`` whether it came named or in the payload).
    What is left stays the payload, sent as given. Returns the arguments to update.
    """
    payload = check_value(tool, tool.param("payload"), named["payload"])  # type: ignore[arg-type]
    hoisted: dict[str, Any] = {}
    rest: dict[str, Any] = {}
    for key, value in payload.items():
        param = tool.param(key) if key != "payload" else None
        if param is None or not tool.in_body(param):
            rest[key] = value
        elif key in named and named[key] != value:
            raise ArgumentError(
                f"{tool.full_name}: '{key}' is given both as a named argument"
                f" ({_describe(named[key])}) and in payload ({_describe(value)}); give it once",
                tool=tool.full_name,
            )
        else:
            hoisted[key] = value
    return {**hoisted, "payload": rest}


def too_many_positional(tool: Tool, count: int) -> str:
    positional = tool.positional
    return (
        f"{tool.full_name} takes at most {len(positional)} positional arguments"
        f" ({', '.join(p.name for p in positional)}), got {count}"
    )


def missing_argument(tool: Tool, param: Param) -> str:
    return f"Missing required argument '{param.name}' for {tool.full_name}: {param.description}"


def unknown_argument(tool: Tool, name: str) -> str:
    names = [p.name for p in tool.params]
    close = closest(str(name), names)
    hint = f" Did you mean: {close[0]}?" if close else ""
    return (
        f"Unknown argument '{name}' for {tool.full_name}.{hint}"
        f" Parameters: {', '.join(names) or 'none'}"
    )


def check_value(tool: Tool, param: Param, value: Any) -> Any:
    """``value`` as ``param`` takes it (``"42"`` for an integer is 42); raises
    ``ArgumentError`` when it does not fit."""

    def fail(expected: str) -> ArgumentError:
        return ArgumentError(
            f"Argument '{param.name}' of {tool.full_name} must be {expected},"
            f" got {_describe(value)}",
            tool=tool.full_name,
        )

    for mistake in param.mistakes:
        message = mistake.check(value)
        if message:
            raise ArgumentError(
                f"Argument '{param.name}' of {tool.full_name}: {message}", tool=tool.full_name
            )
    kind = param.type
    if kind == "string":
        if not isinstance(value, str):
            raise fail("a string")
        if param.location == "path" and value.strip() in ("", ".", ".."):
            # Encoding keeps "." and "..", and the URL would collapse to another endpoint.
            raise fail("a slug or id (not empty, '.' or '..')")
    elif kind == "integer":
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise fail("a whole number")
    elif kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise fail("a number")
    elif kind == "boolean":
        if not isinstance(value, bool):
            raise fail("true or false")
    elif kind == "object":
        if value == []:
            value = {}
        if not isinstance(value, dict):
            raise fail("a table of named fields")
    elif kind == "array":
        if value == {}:
            value = []
        if not isinstance(value, list):
            raise fail("a list")
    elif kind == "string|array":
        strings = isinstance(value, list) and all(isinstance(v, str) for v in value)
        if not strings and not isinstance(value, str):
            raise fail("a string or a list of strings")
    if param.minimum is not None and value < param.minimum:
        raise fail(f"at least {param.minimum}")
    if param.maximum is not None and value > param.maximum:
        raise fail(f"at most {param.maximum}")
    wrong = [item for item in _items(value) if param.enum and item not in param.enum]
    if param.enum and wrong:
        each = " (each item of a list)" if isinstance(value, list) else ""
        raise ArgumentError(
            f"Argument '{param.name}' of {tool.full_name} must be one of"
            f" {', '.join(param.enum)}{each}, got {_describe(wrong[0])}",
            tool=tool.full_name,
        )
    return value


def _items(value: Any) -> list[Any]:
    """A list's items, or the value alone: what an enum constrains."""
    return value if isinstance(value, list) else [value]


def _describe(value: Any) -> str:
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return f"the number {value:g}" if isinstance(value, float) else f"the number {value}"
    if isinstance(value, str):
        return f"the string {value!r}"
    return "a table"
