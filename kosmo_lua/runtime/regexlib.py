"""PCRE/preg_*-compatible regex helpers backing the Lua ``regex.*`` functions.

Scripts were written against a PHP host using ``preg_match``, ``preg_match_all`` and
``preg_replace``, so patterns keep PHP's delimited syntax (``/(\\d+)/i``), captures keep PHP's
shape and replacement strings keep PHP's ``$1`` / ``\\1`` forms. Matching is done by the
``regex`` module because, unlike ``re``, it can abort a runaway match (``timeout=``), which a
sandbox needs: one bad pattern must not hang the host.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from functools import lru_cache

import regex

TIMEOUT_SECONDS = 1.0

_BRACKETS = {"(": ")", "[": "]", "{": "}", "<": ">"}
# PHP modifiers we support; without "u" PHP works on bytes, so \w, \d, \s, \b and case folding
# are ASCII-only there: mirror that with regex.ASCII and switch to Unicode only on "u".
_MODIFIERS = {
    "i": regex.IGNORECASE,
    "m": regex.MULTILINE,
    "s": regex.DOTALL,
    "x": regex.VERBOSE,
    "u": regex.UNICODE,
}
# PHP ignores these between modifiers (patterns are sometimes built with trailing newlines).
_IGNORED_MODIFIERS = " \r\n"
# PHP replacement syntax: "\\" or "\$" escape, then $n, ${n}, \n (n = 1 or 2 digits); ${name}
# is our extension.
_TEMPLATE_TOKEN = regex.compile(
    r"\\([\\$])|\$\{([0-9]{1,2})\}|\$\{([A-Za-z_]\w*)\}|[\\$]([0-9]{1,2})"
)

Captures = dict[int | str, str]
Replacement = str | Callable[[Captures], str]


class RegexError(ValueError):
    """A user-facing error; the message starts with "regex: " and is shown to script authors."""


class OutputTooLarge(RegexError):
    """``gsub``'s result would pass the size it was allowed (the run's memory left)."""


# Counted repetition is compiled by unrolling: /a{1000000000}/ would take gigabytes. A pattern
# whose unrolled size (repeats multiplied through nested groups) passes this is refused.
MAX_UNROLLED = 50_000
MATCH_COST = 200  # bytes a found match costs while gsub holds it, besides its text
_COUNT = regex.compile(r"\{(\d+)(?:,(\d*))?\}")


def unrolled_size(body: str) -> int:
    """How many steps the compiled pattern takes once counted repeats are unrolled, found by
    one pass over the pattern (stopping as soon as it passes ``MAX_UNROLLED``)."""
    stack: list[int] = []
    size = last = 0  # the size so far at this group level; the size of the last atom
    i = 0
    while i < len(body) and size <= MAX_UNROLLED:
        c = body[i]
        if c == "\\":
            i, last = i + 2, 1
        elif c == "[":
            i, last = _class_end(body, i), 1
        elif c == "(":
            stack.append(size)
            size, last, i = 0, 0, i + 1
            continue
        elif c == ")" and stack:
            last = size
            size, i = stack.pop(), i + 1
        elif c == "{" and (count := _COUNT.match(body, i)):
            low, high = count.groups()
            times = max(int(low), int(high) if high else int(low))
            size += last * (times - 1)
            last *= times
            i = count.end()
            continue
        else:
            i, last = i + 1, 1
        size += last
    return size + sum(stack)


def _class_end(body: str, start: int) -> int:
    """The index after the ``]`` that closes the character class opened at ``start``."""
    i = start + 1
    if i < len(body) and body[i] == "^":
        i += 1
    if i < len(body) and body[i] == "]":
        i += 1
    while i < len(body) and body[i] != "]":
        i += 2 if body[i] == "\\" else 1
    return i + 1


def bytes_twin(compiled: regex.Pattern[str]) -> regex.Pattern[bytes] | None:
    """The same pattern for bytes, when it means the same there: ASCII only, without the
    "u" modifier (so it never needed Unicode); None otherwise. Searching bytes spares
    decoding text that does not match."""
    if not compiled.flags & regex.ASCII or not compiled.pattern.isascii():
        return None
    return regex.compile(compiled.pattern.encode("ascii"), compiled.flags & ~regex.UNICODE)


def _anchors_after(body: str, prefix: str) -> str:
    """``body`` with each ``^`` anchor (not escaped, not in a class) followed by ``prefix``."""
    out: list[str] = []
    i = 0
    while i < len(body):
        c = body[i]
        if c == "\\":
            out.append(body[i : i + 2])
            i += 2
        elif c == "[":
            end = _class_end(body, i)
            out.append(body[i:end])
            i = end
        else:
            out.append(c + prefix if c == "^" else c)
            i += 1
    return "".join(out)


def _split_delimited(pattern: str) -> tuple[str, str]:
    """Split ``/body/mods`` into (body, mods) the way PHP's pcre_get_compiled_regex does.

    More lenient than PHP: a pattern starting with an alphanumeric or a backslash has no
    delimiters and is used verbatim (PHP rejects it), so ``regex.match(s, "\\d+")`` works.
    """
    stripped = pattern.lstrip()
    if not stripped:
        raise RegexError("regex: empty pattern")
    start = stripped[0]
    if start.isalnum() or start == "\\":
        return pattern, ""
    end = _BRACKETS.get(start, start)
    depth, i = 1, 1
    while i < len(stripped):
        c = stripped[i]
        if c == "\\":
            i += 1  # skip the escaped character
        elif c == end:
            depth -= 1
            if depth == 0:
                return stripped[1:i], stripped[i + 1 :]
        elif c == start:
            depth += 1  # only reachable for bracket pairs, which nest
        i += 1
    kind = "matching delimiter" if start != end else "delimiter"
    raise RegexError(f"regex: no ending {kind} '{end}' found in pattern '{pattern}'")


@lru_cache(maxsize=256)
def compile_pattern(
    pattern: str, flags: str = "", line_prefix: str | None = None
) -> regex.Pattern[str]:
    """Compile a PHP-style delimited pattern plus extra modifier letters from ``flags``.

    ``line_prefix`` (a regex) is what a line may start with before its text: each ``^``
    anchor then matches after it too (job logs start each line with a timestamp marker).
    """
    body, modifiers = _split_delimited(pattern)
    if line_prefix is not None:
        body = _anchors_after(body, f"(?:{line_prefix})?")
    compiled_flags = regex.V0
    for mod in modifiers + flags:
        if mod in _IGNORED_MODIFIERS:
            continue
        if mod not in _MODIFIERS:
            raise RegexError(f"regex: unknown modifier '{mod}' in pattern '{pattern}'")
        compiled_flags |= _MODIFIERS[mod]
    if not compiled_flags & regex.UNICODE:
        compiled_flags |= regex.ASCII
    if unrolled_size(body) > MAX_UNROLLED:
        raise RegexError(
            f"regex: pattern '{pattern}' repeats too much to compile (more than"
            f" {MAX_UNROLLED} steps once counted repeats like {{n}} are unrolled)"
        )
    try:
        return regex.compile(body, compiled_flags)
    except regex.error as e:
        raise RegexError(f"regex: invalid pattern '{pattern}': {e}") from None


def _captures(m: regex.Match[str]) -> Captures:
    """PHP's match array: numbered groups, then named groups again by name; unset → ""."""
    caps: Captures = {i: m.group(i) or "" for i in range(m.re.groups + 1)}
    for name, index in m.re.groupindex.items():
        caps[name] = caps[index]
    return caps


def _finditer(
    subject: str, pattern: str, flags: str, timeout: float | None, limit: int = -1
) -> Iterator[regex.Match[str]]:
    """Yield matches, bounding the whole scan (not just each step) by the timeout."""
    seconds = TIMEOUT_SECONDS if timeout is None else timeout
    compiled = compile_pattern(pattern, flags)
    if limit == 0:
        return
    deadline = time.monotonic() + seconds
    try:
        for n, m in enumerate(compiled.finditer(subject, timeout=seconds), 1):
            yield m
            if n == limit:
                return
            if time.monotonic() > deadline:
                raise TimeoutError
    except TimeoutError:
        raise RegexError(
            f"regex: pattern '{pattern}' took longer than {seconds} s (catastrophic backtracking?)"
        ) from None


def match(
    subject: str, pattern: str, flags: str = "", *, timeout: float | None = None
) -> Captures | None:
    """Like ``preg_match``: captures of the first match, or None."""
    m = next(_finditer(subject, pattern, flags, timeout, limit=1), None)
    return None if m is None else _captures(m)


def match_all(
    subject: str, pattern: str, flags: str = "", *, timeout: float | None = None
) -> dict[int | str, list[str]]:
    """Like ``preg_match_all`` with PREG_PATTERN_ORDER; ``{}`` when nothing matches."""
    result: dict[int | str, list[str]] = {}
    for m in _finditer(subject, pattern, flags, timeout):
        for key, value in _captures(m).items():
            result.setdefault(key, []).append(value)
    return result


@lru_cache(maxsize=256)
def _parse_template(template: str) -> tuple[str | tuple[int | str], ...]:
    """Split a PHP replacement string into literal text and ``(group,)`` references."""
    parts: list[str | tuple[int | str]] = []
    pos = 0
    for tok in _TEMPLATE_TOKEN.finditer(template):
        parts.append(template[pos : tok.start()])
        escaped, braced, name, plain = tok.groups()
        if escaped is not None:
            parts.append(escaped)
        else:
            parts.append((name,) if name else (int(braced or plain),))
        pos = tok.end()
    parts.append(template[pos:])
    return tuple(p for p in parts if p != "")


def _expand(parts: tuple[str | tuple[int | str], ...], caps: Captures) -> str:
    return "".join(caps.get(p[0], "") if isinstance(p, tuple) else p for p in parts)


def gsub(
    subject: str,
    pattern: str,
    replacement: Replacement,
    limit: int | None = -1,
    *,
    timeout: float | None = None,
    max_size: int | None = None,
) -> tuple[str, int]:
    """Like ``preg_replace`` / ``preg_replace_callback``; returns (new subject, replacements).

    All matches are collected before a callable replacement runs, so time spent in the
    (Lua) callback does not count against the regex timeout. ``max_size`` bounds what the
    matches and the result cost, counted as they are made: ``OutputTooLarge`` past it.
    """
    if limit is None:
        limit = -1
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < -1:
        raise RegexError(f"regex: limit must be an integer >= -1, got {limit!r}")
    budget = _Budget(max_size)
    matches = []
    for m in _finditer(subject, pattern, "", timeout, limit):
        budget.charge(MATCH_COST + m.end() - m.start())
        matches.append(m)
    out, pos = [], 0
    for m in matches:
        if isinstance(replacement, str):
            new = _expand(_parse_template(replacement), _captures(m))
        else:
            new = replacement(_captures(m))
            if not isinstance(new, str):
                raise RegexError(
                    f"regex: replacement function must return a string, got {type(new).__name__}"
                )
        budget.charge(m.start() - pos + len(new))
        out += [subject[pos : m.start()], new]
        pos = m.end()
    out.append(subject[pos:])
    return "".join(out), len(matches)


class _Budget:
    def __init__(self, size: int | None) -> None:
        self._left = size

    def charge(self, size: int) -> None:
        if self._left is not None:
            self._left -= size
            if self._left < 0:
                raise OutputTooLarge("regex: the result is too large")
