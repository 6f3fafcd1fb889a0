"""What ``execute_lua`` answers an agent: a run's outcome once, compact, within a byte budget.

The command line's envelope is a contract for programs; an agent pays for every byte it
reads. So the reply keeps what an agent acts on: ``success``, ``result`` or ``error`` (once),
printed ``output``, ``integration_calls`` as a count per function when the run succeeded
(``meta.failed_calls`` counts those that failed, caught by the script) and in detail when it
failed, and ``meta`` (``meta.error``: kind, line, tool, status and a
``hint`` from ``advice.py``). Timings and memory use stay out.

A reply larger than its budget is cut as JSON that still parses (and one nested deeper than
``MAX_DEPTH`` is cut whatever its size): arrays keep their first
items and end with a marker item saying how many were left out, objects likewise with a
``"…"`` key, long strings keep their start and say their full length, and values nested
deeper than ``MAX_DEPTH`` become a marker. One cap on items and characters applies to the
whole value, the largest that fits (found by bisection, each try abandoned as soon as it
passes the budget), so no one branch of a result starves the others. ``meta.truncated``
reports the cut.
"""

from __future__ import annotations

import json
from typing import Any

from ..advice import hint
from ..limits import LIMIT_OPTIONS, Limits
from ..result import ExecutionResult

REPLY_BYTES = 16_000  # execute_lua's maxReplyBytes by default
MAX_REPLY_BYTES = 1_000_000  # the most maxReplyBytes may ask for
MIN_REPLY_BYTES = 1_000  # room for an error, its hint and the markers
# Deeper values become a marker: no agent reads them, and clients' JSON parsers have
# recursion limits (the SDK's pydantic refused a 200-level reply; serde_json stops at 128).
MAX_DEPTH = 32
_TIMING = ("startMs", "endMs", "durationMs")
_ROOM = 64  # for meta.truncated, added once the cut is known


def compact(result: ExecutionResult, limits: Limits, budget: int = REPLY_BYTES) -> dict[str, Any]:
    """The reply to one run under ``limits`` (whose limit messages it words for an agent),
    no larger than ``budget`` bytes as compact JSON (``encode``)."""
    body: dict[str, Any] = {"success": result.success}
    if result.success:
        body["result"] = result.result
    else:
        body["error"] = _error_text(result, limits)
    if result.output:
        body["output"] = "\n".join(result.output)
    calls = result.integration_calls
    if calls:
        body["integration_calls"] = (
            _counts(calls) if result.success else [_detail(call) for call in calls]
        )
    meta = _meta(result)
    failed = _counts([call for call in calls if call.get("status") == "error"])
    if result.success and failed:
        meta["failed_calls"] = failed
    meta_size = size(meta)
    if meta_size > budget // 2:  # meta's own strings (an MCP server's error) may be long
        meta, _ = fit(meta, budget // 2)
        meta_size = size(meta)
    room = budget - meta_size - 9  # 9: `,"meta":`
    cut, truncated = fit(body, room)
    if truncated:
        cut, _ = fit(body, room - _ROOM)
        meta = {**meta, "truncated": {"bytes": size(body) + meta_size + 9, "budget": budget}}
    return {**cut, "meta": meta} if meta else cut


def encode(reply: dict[str, Any]) -> str:
    """The reply as compact JSON text: what clients that read only text get."""
    return json.dumps(reply, ensure_ascii=False, separators=(",", ":"))


def size(value: Any) -> int:
    """Bytes of ``value`` as compact JSON (UTF-8)."""
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())


def fit(value: Any, budget: int, *, whole_top: bool = True) -> tuple[Any, bool]:
    """``value`` cut to at most ``budget`` bytes of compact JSON and ``MAX_DEPTH`` levels (see
    the module's text), and whether anything was cut. With ``whole_top`` the top level keeps
    all its keys (a reply's own few); without, it is cut like any object (an API's data)."""
    whole = _Cutter(budget, budget, budget, whole_top)  # cuts nothing that fits, but the depth
    if whole.fits(value):
        return whole.result, whole.cut_any
    low, high = 0, budget  # the largest cap that fits: cap 0 keeps only markers
    while low < high:
        middle = (low + high + 1) // 2
        if _cutter(middle, budget, whole_top).fits(value):
            low = middle
        else:
            high = middle - 1
    final = _cutter(low, budget, whole_top)
    final.fits(value)
    return final.result, True


def _cutter(cap: int, budget: int, whole_top: bool) -> _Cutter:
    return _Cutter(cap, 8 + 64 * cap, budget, whole_top)


class _TooLarge(Exception):
    """A try passed the budget: abandoned at once."""


class _Cutter:
    """Cuts a value to ``items`` items per array or object and ``chars`` characters per
    string, counting the bytes of the result as it goes and giving up past ``budget``."""

    def __init__(self, items: int, chars: int, budget: int, whole_top: bool) -> None:
        self.items = items
        self.whole_top = whole_top
        self.chars = chars
        self.left = budget
        self.cut_any = False  # whether the result differs from the value
        self.result: Any = None

    def fits(self, value: Any) -> bool:
        """Cuts ``value`` into ``result``; False when that passes the budget."""
        try:
            self.result = self.cut(value, 0)
        except _TooLarge:
            return False
        return True

    def _spend(self, n: int) -> None:
        self.left -= n
        if self.left < 0:
            raise _TooLarge

    def cut(self, value: Any, depth: int) -> Any:
        if isinstance(value, str):
            return self._string(value)
        if isinstance(value, list | dict) and depth >= MAX_DEPTH:
            self.cut_any = True
            return self._string(f"…[nested deeper than {MAX_DEPTH} levels]")
        if isinstance(value, list):
            return self._list(value, depth)
        if isinstance(value, dict):
            return self._dict(value, depth)
        self._spend(len(json.dumps(value)))
        return value

    def _string(self, text: str) -> str:
        if len(text) > self.chars:
            self.cut_any = True
            text = f"{text[: self.chars]}…[cut: {len(text)} characters in all]"
        self._spend(len(json.dumps(text, ensure_ascii=False).encode()))
        return text

    def _list(self, items: list[Any], depth: int) -> list[Any]:
        self._spend(2)
        kept = [self._item(item, depth) for item in items[: self.items]]
        if len(items) > self.items:
            self.cut_any = True
            kept.append(self._item(f"…[{len(items) - self.items} more items]", depth))
        return kept

    def _item(self, value: Any, depth: int) -> Any:
        self._spend(1)  # its comma
        return self.cut(value, depth + 1)

    def _dict(self, entries: dict[str, Any], depth: int) -> dict[str, Any]:
        self._spend(2)
        keep = len(entries) if depth == 0 and self.whole_top else self.items
        kept: dict[str, Any] = {}
        for key, value in list(entries.items())[:keep]:
            key = self._key(key, kept)
            self._spend(len(json.dumps(key, ensure_ascii=False).encode()) + 2)
            kept[key] = self.cut(value, depth + 1)
        if len(entries) > keep:
            self.cut_any = True
            self._spend(6)
            kept["…"] = self._string(f"{len(entries) - keep} more keys")
        return kept

    def _key(self, key: str, kept: dict[str, Any]) -> str:
        """A key cut as a string is (a script's or an API's key may be megabytes long); one
        that then meets a kept key says which of them it is."""
        if len(key) <= self.chars:
            return key
        self.cut_any = True
        cut = f"{key[: self.chars]}…[cut: {len(key)} characters in all]"
        return cut if cut not in kept else f"{cut} #{len(kept) + 1}"


def _error_text(result: ExecutionResult, limits: Limits) -> str:
    """The error once, a limit's worded for an agent (it names execute_lua's arguments)."""
    info = result.error_info or {}
    limit = info.get("limit")
    if info.get("kind") == "limit" and limit in LIMIT_OPTIONS:
        return limits.message(limit, agent=True)
    return result.error or ""


def _meta(result: ExecutionResult) -> dict[str, Any]:
    """The envelope's meta without what says nothing (no bypass) or is said already (the
    error's message), and with the agent's hint."""
    meta = {
        key: value
        for key, value in result.envelope()["meta"].items()
        if key != "error" and not (key == "permission_bypassed" and value is False)
    }
    if result.error_info:
        error = {k: v for k, v in result.error_info.items() if k != "message"}
        advice = hint(result.error_info)
        meta["error"] = {**error, "hint": advice} if advice else error
    return meta


def _counts(calls: list[dict[str, Any]]) -> dict[str, int]:
    """Calls per function as the script names it (``buildkite.list_builds``,
    ``mcp.github.search``), in the order each was first made."""
    counts: dict[str, int] = {}
    for call in calls:
        name = str(call.get("path", "")).removeprefix("integrations.")
        counts[name] = counts.get(name, 0) + 1
    return counts


def _detail(call: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in call.items() if key not in _TIMING}
