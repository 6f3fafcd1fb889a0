"""The emulator data format's building blocks: kinds of values, records, lists of records,
and the check that refuses a flaw in one line naming the record and field at fault."""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from .model import parse_time


class DataError(ValueError):
    """A flaw in emulator data, on one line that names the record and field at fault."""


def error(where: str, message: str) -> DataError:
    return DataError(f"{where or 'top level'}: {message}")


# The schema: what each record may hold. ``null`` is refused everywhere (leave a field out).


@dataclass(frozen=True)
class Kind:
    """What a field holds: ``name`` as messages say it, and the test of a value."""

    name: str
    accepts: Callable[[Any], bool]


@dataclass(frozen=True)
class Record:
    """A JSON object: its fields (each a kind or a list of records) and those it needs."""

    fields: Mapping[str, Kind | Records]
    required: tuple[str, ...] = ()


# Picks the record that a JSON object is (a job names a step or defines one), or refuses it.
Chooser = Callable[[Mapping[str, Any], str], Record]


@dataclass(frozen=True)
class Records:
    """A list of records; ``non_empty`` where an empty list would mean nothing."""

    shape: Record | Chooser
    non_empty: bool = False


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_base64(value: str) -> bool:
    try:
        base64.b64decode(value, validate=True)
    except ValueError:
        return False
    return True


def _is_time(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        parse_time(value)
    except ValueError:
        return False
    return True


def one_of(*choices: str) -> Kind:
    return Kind(f"one of {', '.join(choices)}", lambda value: value in choices)


_STATUSES = frozenset(HTTPStatus)
STRING = Kind("a string", lambda value: isinstance(value, str))
TEXT = Kind("a non-empty string", lambda value: isinstance(value, str) and bool(value.strip()))
BOOLEAN = Kind("true or false", lambda value: isinstance(value, bool))
INTEGER = Kind("an integer", _is_int)
POSITIVE = Kind("a positive integer", lambda value: _is_int(value) and value > 0)
SECONDS = Kind(
    "a number of seconds (0 or more)",
    lambda value: _is_number(value) and math.isfinite(value) and value >= 0,
)
TIME = Kind('an ISO 8601 time such as "2026-03-16T12:00:00Z"', _is_time)
OBJECT = Kind("an object", lambda value: isinstance(value, Mapping))
STRING_MAP = Kind(
    "an object of strings",
    lambda value: isinstance(value, Mapping) and all(isinstance(v, str) for v in value.values()),
)
STRING_LIST = Kind(
    "a list of strings",
    lambda value: isinstance(value, list) and all(isinstance(v, str) for v in value),
)
UUID = Kind(
    'a UUID such as "b63254c0-3271-4a98-8270-7cfbd6c2f14e"',
    lambda value: (
        isinstance(value, str)
        and re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", value)
        is not None
    ),
)
BASE64 = Kind(
    "base64 text",
    lambda value: isinstance(value, str) and _is_base64(value),
)
STATUS = Kind(
    "an HTTP status code such as 503", lambda value: _is_int(value) and value in _STATUSES
)


def by_key(missing: str, **variants: Record) -> Chooser:
    """A record that comes in variants, told apart by the first of their keys it has."""

    def choose(spec: Mapping[str, Any], where: str) -> Record:
        key = next((key for key in variants if key in spec), None)
        if key is None:
            raise error(where, missing)
        return variants[key]

    return choose


def check_record(value: Any, shape: Record | Chooser, where: str) -> None:
    if not isinstance(value, Mapping):
        raise error(where, f"must be an object; got {shown(value)}")
    record = shape if isinstance(shape, Record) else shape(value, where)
    if unknown := [name for name in value if name not in record.fields]:
        allowed = ", ".join(record.fields)
        raise error(where, f"unknown key {shown(unknown[0])}; allowed: {allowed}")
    if missing := [name for name in record.required if name not in value]:
        raise error(where, f'missing "{missing[0]}"')
    for name, item in value.items():
        kind = record.fields[name]
        if isinstance(kind, Records):
            _check_list(item, kind, where, name)
        elif not kind.accepts(item):
            raise error(where, f'"{name}" must be {kind.name}; got {shown(item)}')


def _check_list(items: Any, kind: Records, where: str, name: str) -> None:
    if not isinstance(items, list):
        raise error(where, f'"{name}" must be a list; got {shown(items)}')
    if kind.non_empty and not items:
        raise error(where, f'"{name}" must not be empty')
    for index, item in enumerate(items):
        check_record(item, kind.shape, f"{where}.{name}[{index}]".lstrip("."))


def shown(value: Any) -> str:
    """A value as a message quotes it: short JSON on one line; containers by their kind."""
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list):
        return "a list"
    text = json.dumps(value, ensure_ascii=False, default=repr)
    return text if len(text) <= 40 else text[:39] + "…"
