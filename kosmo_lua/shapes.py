"""Type expressions: what a tool returns and what a record's field holds, as the tool table
writes them (``Build``, ``Build[]``, ``string?``, ``{bytes: integer}``, ``JobLog|string``).

The grammar is a small subset of LuaCATS, so stubs carry the text almost as written::

    type   := item ("|" item)*
    item   := atom ("[]" | "?")*          -- a list of, or nil allowed (null in the JSON)
    atom   := NAME | "table<" type "," type ">" | "{" [field ("," field)*] "}" | "(" type ")"
    field  := NAME ["?"] ":" type         -- "?": the key may be absent

A NAME is one of ``PRIMITIVES`` or a record of the integration (capitalized, so the two
never collide). Mistakes fail when the ``Integration`` is made, like other table mistakes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

PRIMITIVES = frozenset({"string", "integer", "number", "boolean", "any", "table"})
MAX_DEPTH = 16  # nesting of (), {} and table<>: deeper is a mistake, not a shape
RECORD_NAME = re.compile(r"[A-Z][A-Za-z0-9]*\Z")
_TOKEN = re.compile(r"\s*(?:(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<mark>\[\]|[|?:,{}()<>]))")


@dataclass(frozen=True)
class Name:
    name: str


@dataclass(frozen=True)
class ListOf:
    item: Shape


@dataclass(frozen=True)
class Nullable:
    item: Shape


@dataclass(frozen=True)
class Union:
    items: tuple[Shape, ...]


@dataclass(frozen=True)
class MapOf:
    key: Shape
    value: Shape


@dataclass(frozen=True)
class Entry:
    name: str
    optional: bool
    shape: Shape


@dataclass(frozen=True)
class Table:
    entries: tuple[Entry, ...]


Shape = Name | ListOf | Nullable | Union | MapOf | Table


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[tuple[str, int]] = []
        position = 0
        while position < len(text.rstrip()):
            match = _TOKEN.match(text, position)
            if match is None:
                raise self.error(f"unexpected {text[position:].strip()[:1]!r}", position)
            self.tokens.append((match["name"] or match["mark"], match.start(match.lastindex or 0)))
            position = match.end()
        self.at = 0
        self.depth = 0

    def error(self, what: str, position: int | None = None) -> ValueError:
        where = position if position is not None else self.position()
        shown = self.text if len(self.text) <= 80 else self.text[:77] + "..."
        return ValueError(f"type {shown!r}: {what} at column {where + 1}")

    def position(self) -> int:
        return self.tokens[self.at][1] if self.at < len(self.tokens) else len(self.text)

    def peek(self) -> str | None:
        return self.tokens[self.at][0] if self.at < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None or (expected is not None and token != expected):
            found = "the end" if token is None else repr(token)
            raise self.error(f"expected {expected or 'a type'}, found {found}")
        self.at += 1
        return token

    def whole(self) -> Shape:
        shape = self.union()
        if self.peek() is not None:
            raise self.error(f"unexpected {self.peek()!r}")
        return shape

    def union(self) -> Shape:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"nested more than {MAX_DEPTH} deep")
        items = [self.item()]
        while self.peek() == "|":
            self.take("|")
            items.append(self.item())
        self.depth -= 1
        return items[0] if len(items) == 1 else Union(tuple(items))

    def item(self) -> Shape:
        shape = self.atom()
        while self.peek() in ("[]", "?"):
            shape = ListOf(shape) if self.take() == "[]" else Nullable(shape)
        return shape

    def atom(self) -> Shape:
        token = self.take()
        if token == "(":
            shape = self.union()
            self.take(")")
            return shape
        if token == "{":
            return self.table()
        if not re.match(r"[A-Za-z_]", token):
            self.at -= 1
            raise self.error(f"expected a type, found {token!r}")
        if token == "table" and self.peek() == "<":
            self.take("<")
            key = self.union()
            self.take(",")
            value = self.union()
            self.take(">")
            return MapOf(key, value)
        return Name(token)

    def table(self) -> Table:
        entries: list[Entry] = []
        while self.peek() != "}":
            if entries:
                self.take(",")
            name = self.take()
            if not re.match(r"[A-Za-z_]", name):
                self.at -= 1
                raise self.error(f"expected a field name, found {name!r}")
            optional = self.peek() == "?"
            if optional:
                self.take("?")
            self.take(":")
            if any(entry.name == name for entry in entries):
                raise self.error(f"field {name!r} twice")
            entries.append(Entry(name, optional, self.union()))
        self.take("}")
        return Table(tuple(entries))


def parse(text: str) -> Shape:
    """The shape a type expression describes; ``ValueError`` saying where it is wrong."""
    return _Parser(text).whole()


def names(shape: Shape) -> Iterator[str]:
    """Every NAME the shape uses, primitives included, in order."""
    match shape:
        case Name(name):
            yield name
        case ListOf(item) | Nullable(item):
            yield from names(item)
        case Union(items):
            for item in items:
                yield from names(item)
        case MapOf(key, value):
            yield from names(key)
            yield from names(value)
        case Table(entries):
            for entry in entries:
                yield from names(entry.shape)


def unknown_names(text: str, records: set[str] | frozenset[str]) -> list[str]:
    """The names in ``text`` that are neither primitives nor among ``records``."""
    return [n for n in dict.fromkeys(names(parse(text))) if n not in PRIMITIVES | records]


def render(shape: Shape, rename: Callable[[str], str] = lambda name: name, space: str = " ") -> str:
    """The shape as text again: ``rename`` maps record names (``buildkite.Build`` in stubs);
    ``space=""`` gives the compact form of the quick sheet."""

    def go(shape: Shape, bare: bool) -> str:
        match shape:
            case Name(name):
                return name if name in PRIMITIVES else rename(name)
            case ListOf(item):
                return go(item, False) + "[]"
            case Nullable(item):
                return go(item, False) + "?"
            case Union(items):
                text = "|".join(go(item, True) for item in items)
                return text if bare else f"({text})"
            case MapOf(key, value):
                return f"table<{go(key, True)},{space}{go(value, True)}>"
            case Table(entries):
                fields = f",{space}".join(
                    f"{e.name}{'?' if e.optional else ''}:{space}{go(e.shape, True)}"
                    for e in entries
                )
                return f"{{{fields}}}"
        raise AssertionError(shape)  # pragma: no cover - the match is exhaustive

    return go(shape, True)
