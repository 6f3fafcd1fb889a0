"""The call sites of a Lua script, read from its source without running it (``--check``).

A tokenizer and a scanner for the forms scripts call the host with: a dotted name called
with a table (``app.integrations.buildkite.get_build{...}``), with arguments in parentheses
or with a string, through local aliases (``local bk = app.integrations.buildkite``, then
``bk.list_builds{...}``), and a function passed to ``pcall``. Arguments that are literals
(strings, numbers, booleans, tables of literals) are read as values; anything else is
``UNKNOWN``. It reads source that Lua has already compiled (so it is valid Lua), in one pass
over the tokens, with no recursion deeper than ``MAX_DEPTH`` tables: a huge or deeply
nested script costs time in proportion to its size, nothing more.

What it cannot see: names built at run time (``bk[name]``, ``app.integrations[i]``), a
function stored in a table or passed around other than to ``pcall``, aliases made inside
one block that another block shadows (a name bound to something else anywhere stops being
an alias from there on, so the scanner misses calls rather than report false ones).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

MAX_DEPTH = 32
"""Nested table constructors read as values; deeper ones are ``UNKNOWN``."""


class _Unknown:
    """A value the scanner cannot know without running the script."""

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Any = _Unknown()


@dataclass(frozen=True)
class Table:
    """A table constructor with some values not literal: its named fields (each a value or
    ``UNKNOWN``), how many positional items it has, and whether a key is computed
    (``[k] = v``), which could name any field."""

    named: dict[str, Any]
    items: int
    computed: bool


@dataclass(frozen=True)
class CallSite:
    """A call of a dotted name whose head is one of the roots asked for: ``path`` with
    aliases resolved, its arguments (values, ``UNKNOWN`` or ``Table``), and whether the last
    argument may expand to several values (a call or ``...``)."""

    path: str
    line: int
    args: list[Any] = field(default_factory=list)
    open_ended: bool = False


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # name, string, number, op, keyword
    text: str
    line: int
    value: Any = None


IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
"""A Lua name (that is not one of ``KEYWORDS``)."""
KEYWORDS = frozenset(
    [
        "and",
        "break",
        "do",
        "else",
        "elseif",
        "end",
        "false",
        "for",
        "function",
        "goto",
        "if",
        "in",
        "local",
        "nil",
        "not",
        "or",
        "repeat",
        "return",
        "then",
        "true",
        "until",
        "while",
    ]
)
_TOKEN = re.compile(
    r"""
    (?P<space>[ \t\f\v]+)
  | (?P<newline>\r\n|\n\r|\r|\n)
  | (?P<comment>--(?:\[(?P<ceq>=*)\[)?)
  | (?P<long>\[(?P<leq>=*)\[)
  | (?P<string>"(?:[^"\\\r\n]|\\(?:z\s*+|\r\n|\n\r|.|\n))*"
      |'(?:[^'\\\r\n]|\\(?:z\s*+|\r\n|\n\r|.|\n))*')
  | (?P<number>0[xX](?:[0-9a-fA-F]*\.?[0-9a-fA-F]*)(?:[pP][+-]?\d+)?
      |(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>\.\.\.|\.\.|==|~=|<=|>=|//|::|<<|>>|[-+*/%^\#&~|<>=(){}\[\];:,.])
    """,
    re.VERBOSE,
)
_NEWLINE = re.compile(r"\r\n|\n\r|\r|\n")
"""A line break as Lua counts them: each of these is one."""
_ESCAPES = {
    b"n": b"\n",
    b"t": b"\t",
    b"r": b"\r",
    b"a": b"\a",
    b"b": b"\b",
    b"f": b"\f",
    b"v": b"\v",
}


def tokenize(source: str) -> list[Token]:
    """The tokens of valid Lua source, comments dropped, each with its line."""
    tokens: list[Token] = []
    position, line, size = 0, 1, len(source)
    while position < size:
        match = _TOKEN.match(source, position)
        if match is None:  # not Lua: the caller compiled it first, so only a stray byte
            position += 1
            continue
        kind = match.lastgroup
        end = match.end()
        text = match.group()
        if kind == "comment" or kind == "long":
            equals = match.group("ceq") if kind == "comment" else match.group("leq")
            if kind == "comment" and equals is None:  # a line comment
                newline = _NEWLINE.search(source, end)
                end = size if newline is None else newline.start()
            else:
                close = source.find(f"]{equals}]", end)
                end = size if close < 0 else close + len(equals) + 2
                if kind == "long":
                    body = source[match.end() : end - len(equals) - 2]
                    value = _as_run_sees(body.removeprefix("\n"))
                    tokens.append(Token("string", text, line, value))
            line += _line_breaks(source[position:end])
        elif kind == "string":
            tokens.append(Token("string", text, line, _unescape(text[1:-1])))
            line += _line_breaks(text)
        elif kind == "number":
            tokens.append(Token("number", text, line, _number(text)))
        elif kind == "name":
            tokens.append(Token("keyword" if text in KEYWORDS else "name", text, line))
        elif kind == "op":
            tokens.append(Token("op", text, line))
        elif kind == "newline":
            line += 1
        position = end
    return tokens


def _line_breaks(text: str) -> int:
    return text.count("\n") if "\r" not in text else len(_NEWLINE.findall(text))


def _unescape(body: str) -> str:
    """A quoted string's value, as the run sees it: Lua makes bytes of the escapes, and the
    host decodes a string's bytes as UTF-8 with U+FFFD for what is not (so no lone
    surrogate, which no output could print, ever reaches a finding)."""
    if "\\" not in body:
        return _as_run_sees(body)
    raw = _ESCAPE.sub(lambda m: _escape(m.group(1)), body.encode("utf-8", "surrogateescape"))
    return raw.decode("utf-8", "replace")


def _as_run_sees(text: str) -> str:
    """Source text (bytes that are not UTF-8 escaped as surrogates) as the run decodes it."""
    if text.isascii():
        return text
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


_ESCAPE = re.compile(rb"\\(x[0-9a-fA-F]{2}|\d{1,3}|u\{[0-9a-fA-F]+\}|z\s*|\r\n|\n\r|\r|.|\n)")


def _escape(code: bytes) -> bytes:
    if code[:1] == b"x":
        return bytes([int(code[1:], 16)])
    if code[:1].isdigit():
        return bytes([min(int(code), 255)])
    if code[:1] == b"u" and len(code) > 1:
        point = int(code[2:-1], 16)
        return chr(point).encode("utf-8", "surrogatepass") if point <= 0x10FFFF else b"?"
    if code[:1] == b"z":
        return b""
    if code[:1] in (b"\r", b"\n"):  # a backslash before a line break: one newline
        return b"\n"
    return _ESCAPES.get(code, code)


def _number(text: str) -> int | float:
    lower = text.lower()
    try:
        if lower.startswith("0x"):
            return int(lower, 16) if "." not in lower and "p" not in lower else float.fromhex(lower)
        return int(text) if text.isdigit() else float(text)
    except (ValueError, OverflowError):
        return float("nan")


class _Scanner:
    def __init__(self, tokens: list[Token], roots: frozenset[str]) -> None:
        self.tokens = tokens
        self.closing = _matching_brackets(tokens)
        # name → the path it stands for; the sandbox's globals to begin with
        self.aliases: dict[str, str] = {root: root for root in roots}
        self.sites: list[CallSite] = []
        # Blocks: each change of an alias is logged, and a block's end undoes its own.
        self._undo: list[tuple[str, str | None]] = []
        self._blocks: list[int] = []
        self._loops = 0  # `for`/`while` whose `do` is still to come (it opens no block)

    def scan(self) -> list[CallSite]:
        tokens, index = self.tokens, 0
        while index < len(tokens):
            token = tokens[index]
            if token.kind == "keyword":
                index = self._keyword(index)
            elif token.kind == "name" and not self._after_dot(index):
                index = self._expression(index)
            else:
                index += 1
        return self.sites

    def _keyword(self, index: int) -> int:
        word = self.tokens[index].text
        if word in ("if", "repeat", "while", "for"):
            self._open()
            self._loops += word in ("while", "for")
        elif word == "do":
            if self._loops:
                self._loops -= 1
            else:
                self._open()
        elif word in ("end", "until"):
            self._close()
        if word in ("local", "for", "function"):
            return self._binding(index)
        return index + 1

    def _open(self) -> None:
        self._blocks.append(len(self._undo))

    def _close(self) -> None:
        if self._blocks:
            mark = self._blocks.pop()
            while len(self._undo) > mark:
                name, path = self._undo.pop()
                if path is None:
                    self.aliases.pop(name, None)
                else:
                    self.aliases[name] = path

    def _bind(self, name: str, path: str | None = None, *, assigned: bool = False) -> None:
        """``name`` now stands for ``path`` (None: for nothing we know), to its block's end.
        ``assigned`` (``name = ...``, no ``local``): the name may be an outer one, which the
        block's end does not give back its old value, so from there on it is unknown."""
        if path is None and name not in self.aliases:
            return
        self._undo.append((name, None if assigned else self.aliases.get(name)))
        if path is None:
            del self.aliases[name]
        else:
            self.aliases[name] = path

    def _after_dot(self, index: int) -> bool:
        return index > 0 and self.tokens[index - 1].text in (".", ":")

    def _binding(self, index: int) -> int:
        """``local a, b = ...``, ``local function f``, ``for k, v in``, ``function (a, b)``:
        the names bound there stop being aliases, or become one (``local bk = app...``)."""
        tokens, keyword = self.tokens, self.tokens[index].text
        index += 1
        if keyword == "function" or (index < len(tokens) and tokens[index].text == "function"):
            if keyword == "local":  # `local function f`: f is bound where the body is not
                index += 1
                if index < len(tokens) and tokens[index].kind == "name":
                    self._bind(tokens[index].text)
            self._open()  # the body's block, to its `end`; its parameters are bound in it
            while index < len(tokens) and tokens[index].text != "(":
                index += 1
            end = self.closing.get(index, index)
            for token in tokens[index:end]:
                if token.kind == "name":
                    self._bind(token.text)
            return end + 1
        names: list[str] = []
        # name {, name}: a name not after a comma starts the next statement (`local a` then
        # `app.x()` on the next line), which is no name of this one.
        while index < len(tokens) and tokens[index].kind == "name":
            names.append(tokens[index].text)
            index += 1
            if index < len(tokens) and tokens[index].text == "<":  # <const>, <close>
                index += 3
            if index + 1 < len(tokens) and tokens[index].text == ",":
                index += 1
            else:
                break
        for name in names:
            self._bind(name)
        if (
            keyword == "local"
            and len(names) == 1
            and index < len(tokens)
            and tokens[index].text == "="
        ):
            self._maybe_alias(names[0], index + 1)
        return index

    def _assigned_names(self, index: int) -> tuple[list[str], int]:
        """The names of ``a, b, c =`` from ``index`` and the index after ``=`` (no names when
        the tokens there are not such a list)."""
        tokens, names = self.tokens, []
        while index < len(tokens) and tokens[index].kind == "name":
            names.append(tokens[index].text)
            index += 1
            if index < len(tokens) and tokens[index].text == "=":
                return names, index + 1
            if index + 1 < len(tokens) and tokens[index].text == ",":
                index += 1
            else:
                break
        return [], index

    def _maybe_alias(self, name: str, index: int, *, assigned: bool = False) -> None:
        """``name = <dotted path>`` and nothing more: ``name`` now stands for the path."""
        path, end = self._chain(index)
        if path is not None and not self._continues(end):
            self._bind(name, path, assigned=assigned)

    def _continues(self, index: int) -> bool:
        """Whether the expression goes on after a dotted name at ``index``."""
        if index >= len(self.tokens):
            return False
        token = self.tokens[index]
        if token.kind == "string" or token.text in ("(", "{", "[", ":", ".", ".."):
            return True
        return token.kind == "op" and token.text not in (",", ";", ")", "}", "]", "=")

    def _chain(self, index: int) -> tuple[str | None, int]:
        """A dotted name from ``index``, its head resolved through the aliases: the path
        (None when the head is no alias or root), and the index after it."""
        tokens = self.tokens
        if index >= len(tokens) or tokens[index].kind != "name":
            return None, index
        head = self.aliases.get(tokens[index].text)
        parts = [head] if head is not None else []
        index += 1
        while (
            index + 1 < len(tokens)
            and tokens[index].text == "."
            and tokens[index + 1].kind == "name"
        ):
            parts.append(tokens[index + 1].text)
            index += 2
        return (".".join(parts) if head is not None else None), index

    def _expression(self, index: int) -> int:
        tokens = self.tokens
        name = tokens[index].text
        # `a, bk = ...`: each name may now hold anything. Only from a list's first name
        # (not after `,`: each list is read once) and not in a table (`{a, b = 1}`).
        if index == 0 or tokens[index - 1].text not in ("{", ","):
            targets, past = self._assigned_names(index)
            if len(targets) > 1:
                for target in targets:
                    self._bind(target, assigned=True)
                return past
        if index + 1 < len(tokens) and tokens[index + 1].text == "=":
            # a global assignment (`bk = app.integrations.buildkite`), or a table's field
            if index == 0 or tokens[index - 1].text not in ("{", ","):
                self._bind(name, assigned=True)
                self._maybe_alias(name, index + 2, assigned=True)
            return index + 2
        if name == "pcall" and index + 1 < len(tokens) and tokens[index + 1].text == "(":
            self._pcall(index + 1, tokens[index].line)
            return index + 1
        path, end = self._chain(index)
        if path is None or end >= len(tokens):
            return end
        after = tokens[end]
        if after.kind == "string":
            self.sites.append(CallSite(path, tokens[index].line, [after.value]))
            return end + 1
        if after.text == "{":
            self.sites.append(CallSite(path, tokens[index].line, [self._table(end, 1)]))
            return end  # the table's own calls are scanned too
        if after.text == "(":
            args, open_ended = self._arguments(end)
            self.sites.append(CallSite(path, tokens[index].line, args, open_ended))
            return end
        return end

    def _pcall(self, start: int, line: int) -> None:
        """``pcall(bk.get_build, {...})``: a call of the function it is given."""
        path, end = self._chain(start + 1)
        if path is None or end >= len(self.tokens) or self.tokens[end].text not in (",", ")"):
            return
        args: list[Any] = []
        open_ended = False
        if self.tokens[end].text == ",":
            args, open_ended = self._arguments(start, first=end + 1)
        self.sites.append(CallSite(path, line, args, open_ended))

    def _arguments(self, start: int, first: int | None = None) -> tuple[list[Any], bool]:
        """The arguments between ``(`` at ``start`` (from ``first``) and its ``)``."""
        end = self.closing.get(start, start)
        pieces = list(self._split(first if first is not None else start + 1, end))
        args = [self._value(a, b, 1) for a, b in pieces]
        open_ended = bool(pieces) and self._multiple(pieces[-1][1], args[-1])
        return args, open_ended

    def _multiple(self, end: int, value: Any) -> bool:
        """An expression that may give several values: ``...`` or one ending in a call."""
        last = self.tokens[end - 1]
        call = last.text in (")", "}") or last.kind == "string"
        return last.text == "..." or (value is UNKNOWN and call)

    def _split(self, start: int, end: int) -> Iterator[tuple[int, int]]:
        """The comma- (or semicolon-) separated expressions in ``start``..``end``, one at a
        time (a table of a million items is not first a million pairs)."""
        index, piece_start = start, start
        while index < end:
            token = self.tokens[index]
            if token.text in ("(", "{", "["):
                index = self.closing.get(index, end - 1) + 1
                continue
            if token.text in (",", ";"):
                yield piece_start, index
                piece_start = index + 1
            index += 1
        if piece_start < end:
            yield piece_start, end

    def _value(self, start: int, end: int, depth: int) -> Any:
        """A literal's value, a ``Table`` or ``UNKNOWN``."""
        tokens, count = self.tokens, end - start
        if count == 1:
            token = tokens[start]
            if token.kind in ("string", "number"):
                return token.value
            if token.text in ("true", "false"):
                return token.text == "true"
            if token.text == "nil":
                return None
        if count == 2 and tokens[start].text == "-" and tokens[start + 1].kind == "number":
            return -tokens[start + 1].value
        if count and tokens[start].text == "{" and self.closing.get(start) == end - 1:
            return self._table(start, depth)
        return UNKNOWN

    def _table(self, start: int, depth: int) -> Any:
        """The value of the table constructor at ``start``: a dict or list when every key
        and value is literal, else a ``Table``."""
        end = self.closing.get(start, start)
        if depth > MAX_DEPTH:
            return Table({}, 0, computed=True)
        named: dict[str, Any] = {}
        items: list[Any] = []
        computed = False
        for a, b in self._split(start + 1, end):
            tokens = self.tokens
            if b - a >= 2 and tokens[a].kind == "name" and tokens[a + 1].text == "=":
                named[tokens[a].text] = self._value(a + 2, b, depth + 1)
            elif tokens[a].text == "[":
                computed = True
            else:
                items.append(self._value(a, b, depth + 1))
        literal = not computed and all(
            v is not UNKNOWN and not isinstance(v, Table) for v in (*named.values(), *items)
        )
        if literal and not (named and items):
            return named if named else items
        return Table(named, len(items), computed or bool(items and named))


def _matching_brackets(tokens: list[Token]) -> dict[int, int]:
    """Each opening bracket's index → its closing one's, in one pass with a stack."""
    pairs = {"(": ")", "{": "}", "[": "]"}
    closing: dict[int, int] = {}
    stack: list[int] = []
    for index, token in enumerate(tokens):
        if token.kind != "op":
            continue
        if token.text in pairs:
            stack.append(index)
        elif token.text in (")", "}", "]") and stack:
            closing[stack.pop()] = index
    return closing


def call_sites(source: str, roots: frozenset[str]) -> list[CallSite]:
    """The calls in ``source`` of dotted names whose head is one of ``roots`` (``app``,
    ``docs``) or an alias of one, in source order (a call inside another's arguments
    after it)."""
    return _Scanner(tokenize(source), roots).scan()
