"""Job logs in bounded memory, however big the log (the API allows 1 GiB).

``tail`` asks for the end of the log only (suffix ``Range`` requests, growing until the lines
are there); ``head`` and ``search`` read the log as it streams in and stop when they have
what they need. None of them holds more than a few chunks of the log, or the lines asked for.
"""

from __future__ import annotations

import collections
import re
from collections.abc import Callable, Iterator
from typing import Any

from ...errors import ApiError, ArgumentError, LimitExceeded
from ...limits import size_text
from ...request import Call
from ...runtime import regexlib

# Timestamp markers (`ESC _bk;t=<ms> BEL`, as the buildkite CLI strips them) and ANSI
# escape sequences (colours, erase-line, cursor moves, titles). A title (`ESC ] ... BEL`)
# stops at the next ESC: else a log of unended ones is read to its end from each of them.
_LOG_NOISE = re.compile(r"\x1b(?:_bk;t=\d+\x07|\[[0-9;?]*[A-Za-z]|\][^\x07\x1b]*\x07)|bk;t=\d+\x07")
TEXT = {"Accept": "text/plain"}
FIRST_TAIL_BYTES = 64 * 1024  # the first suffix asked for; each next one is 4x larger
LINE_GUESS = 256  # bytes a log line takes, for the first suffix of a long tail
SEARCH_CHUNK = 1 << 20  # bytes of log searched at once
# What a raw log line starts with before its text: a timestamp marker, colour codes.
LINE_START = r"\x1b_bk;t=\d+\x07(?:\x1b\[[0-9;?]*[A-Za-z])*|(?:\x1b\[[0-9;?]*[A-Za-z])+"
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+)")


def strip_log(text: str) -> str:
    """A job log as plain text: no colours, no timestamp markers."""
    return _LOG_NOISE.sub("", text)


def get_job_log(call: Call) -> tuple[Any, dict[str, Any]]:
    """The API's JSON by default; ``format = "text"`` asks for the raw log (text/plain);
    ``tail`` or ``head`` give that many lines of it as text."""
    args = call.args
    strip = args.get("strip_ansi", False)
    if args.get("tail") and args.get("head"):
        raise ArgumentError(
            f"{call.tool.full_name}: give tail or head, not both", tool=call.tool.full_name
        )
    if args.get("tail") or args.get("head"):
        text, meta = tail(call, args["tail"]) if args.get("tail") else head(call, args["head"])
        return (strip_log(text) if strip else text), meta
    if args.get("format") == "text":
        response = call.send(headers=TEXT, text=True)
        return (strip_log(response.data) if strip else response.data), response.meta()
    response = call.send()
    data = response.data
    if strip and isinstance(data, dict) and isinstance(data.get("content"), str):
        data = {**data, "content": strip_log(data["content"])}
    return data, response.meta()


def tail(call: Call, lines: int, path: str | None = None) -> tuple[str, dict[str, Any]]:
    """The last ``lines`` lines of the log at ``path`` (default: the call's own), from
    suffix ranges: 64 KiB (or ``lines`` x 256 bytes) first, four times more each time the
    lines are not all there, never more than the memory limit. A server that ignores
    ``Range`` sends the whole log; its last lines are kept as it streams by."""
    size = max(FIRST_TAIL_BYTES, lines * LINE_GUESS)
    limit = call.client.max_body_bytes

    def too_long() -> LimitExceeded:
        return _too_long(call, f"the last {lines} lines")

    while True:
        kept = _LastLines(lines + 1, limit, too_long)  # one more: the first may be cut
        try:
            response = call.send(
                "GET",
                path or call.path(),
                headers={**TEXT, "Range": f"bytes=-{size}"},
                consume=kept,
            )
        except ApiError as exc:
            if exc.status == 416:  # the log is empty
                return "", {"status": 416, "bytes": 0}
            raise
        start, total = _content_range(response.headers.get("Content-Range"))
        whole = response.status != 206 or start == 0
        if whole or kept.count > lines:
            meta = response.meta()
            meta["bytes"] = total if total is not None else kept.bytes
            return kept.text(lines, complete_first=whole), meta
        if size >= limit:
            raise too_long()
        size = min(size * 4, limit, total or size * 4)


def head(call: Call, lines: int) -> tuple[str, dict[str, Any]]:
    """The first ``lines`` lines: the log streams in until they are there, then the
    connection is dropped."""
    limit = call.client.max_body_bytes

    def first_lines(chunks: Iterator[bytes]) -> bytes:
        taken = bytearray()
        seen = 0
        for chunk in chunks:
            taken += chunk
            seen += chunk.count(b"\n")
            if seen >= lines:
                break
            if len(taken) > limit:
                raise _too_long(call, f"the first {lines} lines")
        return bytes(taken)

    response = call.send(headers=TEXT, consume=first_lines)
    kept = response.data.split(b"\n")[:lines]
    return _text(b"\n".join(kept)), response.meta()


def search_job_log(call: Call) -> tuple[Any, dict[str, Any]]:
    """Matches of a pattern, line by line, with ``context`` lines around each: the log
    streams in a chunk at a time and the search stops at ``limit`` matches."""
    args = call.args
    pattern = line_pattern(call, args["pattern"], ignore_case=args["ignore_case"])
    return search(call, pattern, args["context"], args["limit"], args["strip_ansi"])


def line_pattern(call: Call, pattern: str, *, ignore_case: bool = False) -> Any:
    """A pattern in the regex.* syntax, compiled to match in a log's raw lines, as grep
    would: ``^`` and ``$`` at each line's ends, ``^`` also after the timestamp marker and
    colour codes a line starts with. A bad one is the call's argument error, before
    anything is sent."""
    try:
        flags = "mi" if ignore_case else "m"
        return regexlib.compile_pattern(pattern, flags, LINE_START)
    except regexlib.RegexError as exc:
        raise ArgumentError(f"{call.tool.full_name}: {exc}", tool=call.tool.full_name) from None


def search(
    call: Call, pattern: Any, context: int, limit: int, strip: bool, path: str | None = None
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The matches of a compiled pattern in the log at ``path`` (default: the call's own)."""
    found = _Search(pattern, context, limit, strip, call.client.max_body_bytes)
    response = call.send("GET", path or call.path(), headers=TEXT, consume=found.run)
    meta = response.meta()
    meta["lines_read"] = found.line
    meta["truncated"] = found.truncated
    return found.matches, meta


def get_job_log_info(call: Call) -> tuple[Any, dict[str, Any]]:
    """The log's size in bytes, from a HEAD request: nothing of the log is sent."""
    response = call.send("HEAD", call.path())
    size = response.headers.get("Content-Length")
    return {"bytes": int(size) if size and size.isdigit() else None}, response.meta()


class _LastLines:
    """Consumes a body, keeping its last ``keep`` lines (and counting all of them); a line
    longer than ``max_line`` bytes is refused, whatever the server sends."""

    def __init__(self, keep: int, max_line: int, too_long: Callable[[], Exception]) -> None:
        self._max_line = max_line
        self._too_long = too_long
        self._lines: collections.deque[bytes] = collections.deque(maxlen=keep)
        self.count = 0  # complete lines seen, the last one too even without its newline
        self.bytes = 0

    def __call__(self, chunks: Iterator[bytes]) -> _LastLines:
        partial: list[bytes] = []  # the line that has not ended yet, in pieces
        partial_size = 0
        for chunk in chunks:
            self.bytes += len(chunk)
            if b"\n" not in chunk:
                partial.append(chunk)
                partial_size += len(chunk)
                if partial_size > self._max_line:
                    raise self._too_long()
                continue
            pieces = (b"".join(partial) + chunk).split(b"\n")
            last = pieces.pop()
            partial, partial_size = [last], len(last)
            self._lines.extend(pieces)
            self.count += len(pieces)
        rest = b"".join(partial)
        if rest:
            self._lines.append(rest)
            self.count += 1
        return self

    def text(self, lines: int, *, complete_first: bool) -> str:
        kept = list(self._lines)
        if not complete_first and len(kept) > lines:
            kept = kept[1:]  # the range may start in the middle of it
        return _text(b"\n".join(kept[-lines:]))


class _Search:
    """One search through a streamed log, a chunk of whole lines at a time: the pattern runs
    over the chunk (line numbers counted from its newlines), so a big log costs no more
    Python per line than a few matches do. A pattern that means the same on bytes searches
    the bytes as they came; only the lines returned are decoded."""

    def __init__(self, pattern: Any, context: int, limit: int, strip: bool, max_line: int) -> None:
        twin = regexlib.bytes_twin(pattern)
        self._pattern = twin or pattern
        self._raw = twin is not None  # searching bytes: lines are decoded when shown
        self._newline: Any = b"\n" if self._raw else "\n"
        self._max_line = max_line
        self._context = context
        self._limit = limit
        self._strip = strip
        self._before: collections.deque[str] = collections.deque(maxlen=context)
        self._waiting: list[dict[str, Any]] = []  # matches still collecting lines after
        self.matches: list[dict[str, Any]] = []
        self.line = 0  # lines read so far
        self.truncated = False  # stopped at the limit, with log left unread

    def run(self, chunks: Iterator[bytes]) -> list[dict[str, Any]]:
        pieces: list[bytes] = []
        size = 0
        for chunk in chunks:
            pieces.append(chunk)
            size += len(chunk)
            if size < SEARCH_CHUNK:
                continue
            data = b"".join(pieces)
            cut = data.rfind(b"\n") + 1
            if not cut:  # one line, longer than a chunk so far
                if size > self._max_line:
                    raise LimitExceeded(
                        "search_job_log: a line of the log is longer than"
                        f" {size_text(self._max_line)} (the run's --memory-limit)"
                    )
                pieces = [data]
                continue
            pieces, size = [data[cut:]], len(data) - cut
            if self._lines(data[:cut]):
                self.truncated = True
                return self.matches
        rest = b"".join(pieces)
        if rest:
            self._lines(rest if rest.endswith(b"\n") else rest + b"\n")
        return self.matches

    def _lines(self, data: bytes) -> bool:
        """Searches whole lines; True once the limit is reached and every match has its
        lines after."""
        text: Any = data if self._raw else _text(data)
        if self._waiting or self._context:
            lines = text.split(self._newline)
            lines.pop()  # what follows the last newline: nothing
            found = self._line_by_line(lines)
        else:
            found = self._whole_chunk(text)
        return found and len(self.matches) >= self._limit and not self._waiting

    def _shown(self, line: Any) -> str:
        text = _text(line) if self._raw else line
        return strip_log(text) if self._strip else text

    def _whole_chunk(self, text: Any) -> bool:
        """Without context lines: one pass of the pattern over the chunk, lines counted
        between matches."""
        newline = self._newline
        first_line = self.line
        position, line = 0, first_line
        for found in self._pattern.finditer(text, timeout=regexlib.TIMEOUT_SECONDS):
            start = text.rfind(newline, 0, found.start()) + 1
            line += text.count(newline, position, start)
            position = start
            if self.matches and self.matches[-1]["line"] == line + 1:
                continue  # one entry per line
            end = text.find(newline, start)
            shown = self._shown(text[start:end])
            self.matches.append({"line": line + 1, "text": shown, "before": [], "after": []})
            if len(self.matches) >= self._limit:
                self.line = line + 1
                return True
        self.line = first_line + text.count(newline)
        return False

    def _line_by_line(self, lines: list[Any]) -> bool:
        """With context lines: each line is kept as context for the next match."""
        search = self._pattern.search
        for raw in lines:
            self.line += 1
            shown = self._shown(raw)
            for match in self._waiting:
                match["after"].append(shown)
            self._waiting = [m for m in self._waiting if len(m["after"]) < self._context]
            if len(self.matches) < self._limit and search(raw, timeout=regexlib.TIMEOUT_SECONDS):
                before = list(self._before)
                match = {"line": self.line, "text": shown, "before": before, "after": []}
                self.matches.append(match)
                if self._context:
                    self._waiting.append(match)
            self._before.append(shown)
            if len(self.matches) >= self._limit and not self._waiting:
                return True
        return False


def _too_long(call: Call, what: str) -> LimitExceeded:
    """``what`` of the log cannot be held under the run's memory limit."""
    return LimitExceeded(
        f"{call.tool.full_name}: {what} of the log are longer than"
        f" {size_text(call.client.max_body_bytes)} (the run's --memory-limit); ask for fewer"
        " lines",
        tool=call.tool.full_name,
    )


def _content_range(header: str | None) -> tuple[int, int | None]:
    """The first byte and the total size a ``Content-Range`` names: (0, None) without it."""
    found = _CONTENT_RANGE.fullmatch((header or "").strip())
    return (int(found[1]), int(found[3])) if found else (0, None)


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace")
