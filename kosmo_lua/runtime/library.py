"""The Lua-facing standard library: what ``print``, ``json.*`` and ``regex.*`` do.

Each function here backs one Lua function of the prelude. Arguments arrive as lupa values
(strings as bytes) and are checked here, so a script gets a clear error naming the function
instead of a Python one. ``regexlib`` is imported on first use: most scripts never need it.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import lupa.lua54 as lupa

from ..errors import HostError
from . import jsonlib
from .engine import LUA_TEXT, LuaEngine, TooLarge

if TYPE_CHECKING:
    from ..reference import Reference


def render_table(engine: LuaEngine, table: Any) -> bytes | bool:
    """Tables print as pretty JSON, so whatever a script dumps a CI job can parse.

    False means the text would not fit in the output left: the prelude stops the run.
    """
    try:
        return engine.json_text(table, False, True, engine.output_left).encode()
    except TooLarge:
        return False


def json_decode(engine: LuaEngine, text: Any = None, options: Any = None) -> Any:
    """``json.decode(s[, {keep_null = true}])``: nulls in objects vanish unless kept."""
    if not isinstance(text, bytes):
        raise HostError(f"json.decode: expected a string, got {_lua_type(text)}")
    keep_null = bool(_option(engine, options, "keep_null", "json.decode"))
    try:
        value = jsonlib.decode(text)
    except jsonlib.JsonError as exc:
        raise HostError(str(exc)) from None
    return engine.to_lua(value, keep_null=keep_null, owned=True)


def json_encode(engine: LuaEngine, value: Any = None, options: Any = None) -> bytes:
    """``json.encode(v[, {pretty = false}])``: pretty by default, as the original."""
    pretty = options is None or _option(engine, options, "pretty", "json.encode") in (None, True)
    try:
        return engine.json_text(value, True, pretty).encode()
    except TooLarge:
        raise  # "not enough memory": the prelude trips the memory limit
    except (jsonlib.JsonError, HostError) as exc:
        message = str(exc)
        prefixed = message if message.startswith("json.") else f"json.encode: {message}"
        raise HostError(prefixed) from None


def regex_match(
    engine: LuaEngine, subject: Any = None, pattern: Any = None, flags: Any = None
) -> Any:
    """``regex.match(subject, pattern[, flags])``: the captures table, or nil."""
    from . import regexlib

    found = _regex(regexlib.match, "regex.match", subject, pattern, flags)
    return None if found is None else engine.to_lua(found)


def regex_match_all(
    engine: LuaEngine, subject: Any = None, pattern: Any = None, flags: Any = None
) -> Any:
    """``regex.match_all(subject, pattern[, flags])``: captures in pattern order, {} if none."""
    from . import regexlib

    found = _regex(regexlib.match_all, "regex.match_all", subject, pattern, flags)
    return engine.to_lua(found or [])


def regex_gsub(
    engine: LuaEngine,
    subject: Any = None,
    pattern: Any = None,
    replacement: Any = None,
    limit: Any = None,
) -> tuple[bytes, int]:
    """``regex.gsub(subject, pattern, replacement[, limit])``: new string and count.

    ``replacement`` may be a function: it gets the captures table and returns the text.
    """
    from . import regexlib

    if lupa.lua_type(replacement) == "function":
        lua_function = replacement

        def replacement(captures: dict[Any, str]) -> str:
            try:
                value = engine.call_script(lua_function, engine.to_lua(captures))
            except TooLarge:
                raise
            except HostError as exc:
                raise HostError(f"regex.gsub: the replacement function failed: {exc}") from None
            if isinstance(value, int | float) and not isinstance(value, bool):
                return str(value)
            if not isinstance(value, bytes):
                raise HostError(
                    f"regex.gsub: the replacement function returned {_lua_type(value)},"
                    " expected a string"
                )
            return value.decode("utf-8", "surrogateescape")

    elif isinstance(replacement, bytes | int | float) and not isinstance(replacement, bool):
        replacement = _subject_text(replacement)
    else:
        raise HostError(
            f"regex.gsub: replacement must be a string or a function, got {_lua_type(replacement)}"
        )
    if limit is not None and not isinstance(limit, int):
        raise HostError(f"regex.gsub: limit must be an integer, got {_lua_type(limit)}")
    room = engine.limits.memory_bytes - engine.memory_used
    text, count = _regex(
        regexlib.gsub, "regex.gsub", subject, pattern, None, replacement, limit, max_size=room
    )
    return text.encode("utf-8", LUA_TEXT), count


def docs_read(engine: LuaEngine, page: Any = None) -> bytes:
    """``docs.read(page)``: a page of the reference, or the original's not-found text."""
    if not isinstance(page, bytes):
        raise HostError(f"docs.read: page must be a string, got {_lua_type(page)}")
    return _reference().read(page.decode("utf-8", "replace")).encode()


def docs_list(engine: LuaEngine) -> bytes:
    """``docs.list()``: the index of every page."""
    return _reference().index().encode()


def docs_search(engine: LuaEngine, query: Any = None) -> bytes:
    """``docs.search(query)``: "integration.function - summary" lines, best first."""
    if not isinstance(query, bytes):
        raise HostError(f"docs.search: query must be a string, got {_lua_type(query)}")
    text = query.decode("utf-8", "replace")
    lines = _reference().search(text)
    return ("\n".join(lines) if lines else f"No functions match '{text}'.").encode()


@functools.cache
def _reference() -> Reference:
    from ..reference import load_reference

    return load_reference()


def _regex(
    function: Any,
    name: str,
    subject: Any,
    pattern: Any,
    flags: Any,
    *rest: Any,
    **options: Any,
) -> Any:
    from . import regexlib

    if not isinstance(subject, bytes | int | float) or isinstance(subject, bool):
        raise HostError(f"{name}: subject must be a string, got {_lua_type(subject)}")
    if not isinstance(pattern, bytes):
        raise HostError(f"{name}: pattern must be a string, got {_lua_type(pattern)}")
    if flags is not None and not isinstance(flags, bytes):
        raise HostError(f"{name}: flags must be a string, got {_lua_type(flags)}")
    args = [_subject_text(subject), pattern.decode("utf-8", "surrogateescape")]
    if flags is not None:
        args.append(flags.decode())
    try:
        return function(*args, *rest, **options)
    except regexlib.OutputTooLarge:
        raise TooLarge("not enough memory") from None  # the prelude trips the memory limit
    except regexlib.RegexError as exc:
        raise HostError(str(exc)) from None


def _subject_text(value: bytes | int | float) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    return str(value)


def _option(engine: LuaEngine, options: Any, key: str, function: str) -> Any:
    if options is None:
        return None
    if lupa.lua_type(options) != "table":
        raise HostError(f"{function}: options must be a table, got {_lua_type(options)}")
    return engine.option(options, key)


def _lua_type(value: Any) -> str:
    """The name Lua's ``type()`` would give, for error messages."""
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, bytes):
        return "string"
    return lupa.lua_type(value) or "userdata"
