"""Strict JSON decoding and deterministic encoding behind Lua's ``json.decode``/``json.encode``.

Python's ``json`` module is lenient in ways a sandbox should not be (NaN/Infinity literals,
lone surrogates, unbounded recursion), and its output is not stable enough to diff, so this
module wraps it with RFC 8259 checks on the way in and a PHP-compatible writer on the way out.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from json.encoder import encode_basestring

__all__ = [
    "INDENT_WIDTH",
    "LAYOUTS",
    "MAX_DEPTH",
    "JsonError",
    "decode",
    "encode",
    "int_text",
    "quote",
    "scalar_text",
]

MAX_DEPTH = 512

# A string (possibly unterminated, so its brackets are never counted) or a single bracket.
_DEPTH_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\Z)|[\[\]{}]', re.S)
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_INT_LIMIT = 2**53
INDENT_WIDTH = 4  # spaces per level in pretty text (the converter charges for them)
_INDENT = " " * INDENT_WIDTH
# Tuples, not unions: `str | bytes` in an isinstance call is built anew on every call.
_TEXT = (str, bytes, bytearray)
_CONTAINERS = (list, tuple, dict)


class JsonError(ValueError):
    """A user-facing JSON error; the message starts with ``json.decode:`` or ``json.encode:``."""


# --------------------------------------------------------------------------- decode


def decode(data: bytes | str) -> object:
    """Parse one JSON text strictly; every failure is a :class:`JsonError`."""
    if isinstance(data, bytes | bytearray | memoryview):
        raw = bytes(data)
        if raw.startswith(b"\xef\xbb\xbf"):
            raise JsonError("json.decode: byte order mark (BOM) is not allowed in JSON text")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise JsonError(f"json.decode: invalid UTF-8 at byte offset {e.start}") from None
    else:
        text = data
        if text.startswith("\ufeff"):
            raise JsonError("json.decode: byte order mark (BOM) is not allowed in JSON text")
    _check_depth(text)
    try:
        value = json.loads(text, parse_constant=_reject_constant, parse_float=_parse_float)
    except JsonError:
        raise
    except json.JSONDecodeError as e:
        raise JsonError(
            f"json.decode: invalid JSON at line {e.lineno}, column {e.colno} (char {e.pos}): "
            f"{e.msg}"
        ) from None
    except RecursionError:
        raise JsonError(f"json.decode: nesting deeper than {MAX_DEPTH} levels") from None
    except ValueError as e:  # e.g. integers beyond sys.get_int_max_str_digits()
        raise JsonError(f"json.decode: {e}") from None
    if _SURROGATE_ESCAPE.search(text) or _SURROGATE.search(text):
        _reject_lone_surrogates(value)
    return value


def _check_depth(text: str) -> None:
    """Refuse deep nesting up front: json.loads recurses and would hit RecursionError."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return
    depth = 0
    for m in _DEPTH_TOKENS.finditer(text):
        c = text[m.start()]
        if c in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                raise JsonError(f"json.decode: nesting deeper than {MAX_DEPTH} levels")
        elif c in "]}":
            depth -= 1


def _reject_constant(name: str) -> object:
    raise JsonError(f"json.decode: {name} is not valid JSON")


def _parse_float(s: str) -> float:
    """Overflowing literals (1e999) would silently become inf, which JSON cannot express."""
    f = float(s)
    if math.isinf(f):
        raise JsonError("json.decode: number out of range (overflows a double)")
    return f


def _reject_lone_surrogates(value: object) -> None:
    """``"\\ud800"`` parses to a str that cannot be turned into UTF-8 for Lua."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            if _SURROGATE.search(v):
                raise JsonError("json.decode: string contains an unpaired UTF-16 surrogate")
        elif isinstance(v, list):
            stack.extend(v)
        elif isinstance(v, dict):
            stack.extend(v)
            stack.extend(v.values())


# --------------------------------------------------------------------------- encode


def encode(value: object, *, pretty: bool = True) -> str:
    """Serialize plain Python data; keys are sorted so equal values give identical text."""
    out: list[str] = []
    try:
        _encode(value, out, 0, pretty)
    except RecursionError:
        raise JsonError(f"json.encode: nesting deeper than {MAX_DEPTH} levels") from None
    return "".join(out)


def _encode(value: object, out: list[str], depth: int, pretty: bool) -> None:
    # One stack frame per nesting level keeps MAX_DEPTH well under the recursion limit.
    if not isinstance(value, _CONTAINERS):
        out.append(scalar_text(value))
        return
    if depth >= MAX_DEPTH:
        raise JsonError(f"json.encode: nesting deeper than {MAX_DEPTH} levels")
    opener, closer = "{}" if isinstance(value, dict) else "[]"
    if not value:
        out.append(opener + closer)
        return
    inner, separator, outer, colon = LAYOUTS[pretty][depth]
    out.append(opener + inner)
    if isinstance(value, dict):
        for i, (key, item) in enumerate(_sorted_items(value)):
            if i:
                out.append(separator)
            out.append(quote(key) + colon)
            _encode(item, out, depth + 1, pretty)
    else:
        for i, item in enumerate(value):
            if i:
                out.append(separator)
            _encode(item, out, depth + 1, pretty)
    out.append(outer + closer)


# The text of an integer (a bool is not one here): a C function, cheap to call per item.
int_text = int.__repr__


def scalar_text(value: object) -> str:
    """The text of a value that is not a container (its kind is checked first, exactly, as
    the common kinds need nothing more)."""
    kind = type(value)
    if kind is str:
        return quote(value)  # type: ignore[arg-type]
    if kind is int:
        return int_text(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return int_text(value)
    if isinstance(value, float):
        return _format_float(value)
    if isinstance(value, _TEXT):
        return quote(value)
    raise JsonError(f"json.encode: cannot encode value of type {type(value).__name__}")


Layout = tuple[str, str, str, str]


class _Layouts(dict[int, Layout]):
    """By depth, how a non-empty container lays out its items: what follows its opener,
    what goes between two items, what comes before its closer, what follows an object's
    key (an empty one is its opener and closer). Made as first needed: a lookup, not a
    call, per container."""

    def __init__(self, pretty: bool) -> None:
        super().__init__()
        self._pretty = pretty

    def __missing__(self, depth: int) -> Layout:
        if self._pretty:
            inner = "\n" + _INDENT * (depth + 1)
            found = (inner, "," + inner, "\n" + _INDENT * depth, ": ")
        else:
            found = ("", ",", "", ":")
        self[depth] = found
        return found


# The layouts of pretty text (LAYOUTS[True]) and compact text; engine.py's converter writes
# Lua tables with them.
LAYOUTS = {True: _Layouts(True), False: _Layouts(False)}


def _sorted_items(d: dict[object, object]) -> list[tuple[str, object]]:
    for k in d:
        if type(k) is not str:
            break
    else:  # distinct texts, so sorting never compares the values
        return sorted(d.items())  # type: ignore[arg-type]
    items = sorted(((_key(k), v) for k, v in d.items()), key=lambda kv: kv[0])
    for (a, _), (b, _) in itertools.pairwise(items):
        if a == b:
            raise JsonError(f"json.encode: duplicate object key {a!r}")
    return items


def _key(k: object) -> str:
    if isinstance(k, str):
        return k
    if isinstance(k, bytes | bytearray):
        return _utf8(k)
    if isinstance(k, int) and not isinstance(k, bool):
        return int.__repr__(k)
    raise JsonError(f"json.encode: object keys must be strings, not {type(k).__name__}")


def _format_float(f: float) -> str:
    """Integral floats print as integers so Lua's 3.0 and 3 encode alike."""
    if not math.isfinite(f):
        raise JsonError(f"json.encode: cannot encode non-finite number ({f})")
    if f.is_integer() and abs(f) <= _INT_LIMIT:
        return int_text(int(f))
    return float.__repr__(f)


def _utf8(b: bytes | bytearray) -> str:
    try:
        return bytes(b).decode("utf-8")
    except UnicodeDecodeError as e:
        raise JsonError(f"json.encode: string is not valid UTF-8 (byte offset {e.start})") from None


def quote(s: str | bytes | bytearray) -> str:
    """Escape like PHP's JSON_UNESCAPED_SLASHES|JSON_UNESCAPED_UNICODE (U+2028/9 stay escaped).

    ``encode_basestring`` is the escaping ``json.dumps(s, ensure_ascii=False)`` does, without
    its set-up; ASCII text needs none of the checks."""
    if not isinstance(s, str):
        s = _utf8(s)
    if s.isascii():
        return encode_basestring(s)
    if m := _SURROGATE.search(s):
        raise JsonError(f"json.encode: string contains a lone surrogate (index {m.start()})")
    return encode_basestring(s).replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
