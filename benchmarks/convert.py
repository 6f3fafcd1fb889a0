"""Host -> Lua conversion of a big value: `LuaEngine.to_lua` of a Buildkite list-builds reply.

The value is N builds as the emulator serves them (jobs, agents, authors; about 10 KB of JSON
each), decoded afresh for every measurement so nothing is shared. Three ways are timed,
alternately, in this process: `json.loads` of the same text (the floor: Python building the
value at C speed), the entry-by-entry method (one lupa `__setitem__` per table entry, as
`to_lua` did before issue 12; kept here for comparison) and `to_lua` as it is. Medians of the
rounds are printed. Run by hand:

    .venv/bin/python benchmarks/convert.py [--builds 10000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

import httpx
import lupa.lua54 as lupa

from kosmo_lua.errors import HostError
from kosmo_lua.integrations.buildkite.emulator import Emulator
from kosmo_lua.limits import GIB, Limits
from kosmo_lua.runtime.engine import LuaEngine

TABLE_COST, ENTRY_COST, STRING_COST = 64, 40, 24


def builds_text(count: int) -> str:
    """``count`` builds as JSON text: the emulator's demo builds, repeated."""
    emulator = Emulator()
    with httpx.Client(
        transport=httpx.WSGITransport(app=emulator),
        base_url="http://bk.test/v2",
        headers={"Authorization": "Bearer bk-emulator-token"},
    ) as client:
        page = client.get("/builds", params={"per_page": 100}).json()
    return json.dumps([page[i % len(page)] for i in range(count)])


class EntryByEntry:
    """``to_lua`` before issue 12: the same cost check, then one lupa call per entry."""

    def __init__(self, engine: LuaEngine, lua: lupa.LuaRuntime) -> None:
        self._engine = engine
        self._lua = lua
        self._null = lua.eval("{}")
        self._kinds = lua.eval("setmetatable({}, {__mode = 'k'})")

    def to_lua(self, value: Any, keep_null: bool = False) -> Any:
        room = self._engine.limits.memory_bytes - self._engine.memory_used
        if self._cost(value, room) is None:
            raise MemoryError
        return self._build(value, keep_null)

    @staticmethod
    def _cost(value: Any, room: int) -> int | None:
        cost = 0
        stack = [value]
        while stack:
            item = stack.pop()
            if isinstance(item, str | bytes):
                cost += STRING_COST + len(item)
            elif isinstance(item, dict):
                cost += TABLE_COST + ENTRY_COST * len(item)
                stack.extend(item.keys())
                stack.extend(item.values())
            elif isinstance(item, list | tuple):
                cost += TABLE_COST + ENTRY_COST * len(item)
                stack.extend(item)
            if cost > room:
                return None
        return cost

    def _build(self, value: Any, keep_null: bool) -> Any:
        if isinstance(value, str):
            return value.encode("utf-8", "surrogateescape")
        if isinstance(value, bool) or value is None or isinstance(value, float | bytes):
            return value
        if isinstance(value, int):
            return value if -(2**63) <= value < 2**63 else float(value)
        if isinstance(value, dict):
            table = self._lua.table()
            for k, v in value.items():
                if v is None and not keep_null:
                    continue
                table[self._build(k, keep_null)] = (
                    self._null if v is None else self._build(v, keep_null)
                )
            if not value:
                self._kinds[table] = b"object"
            return table
        if isinstance(value, list | tuple):
            table = self._lua.table()
            for i, v in enumerate(value, 1):
                table[i] = self._null if v is None else self._build(v, keep_null)
            if not value:
                self._kinds[table] = b"array"
            return table
        raise TypeError(type(value).__name__)


def no_calls(path: str, args: list[Any]) -> tuple[Any, ...]:
    raise HostError("no app calls in this benchmark")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--builds", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=5)
    options = parser.parse_args()
    text = builds_text(options.builds)
    engine = LuaEngine(Limits(memory_bytes=16 * GIB), emit=print, dispatch=no_calls)
    lua = engine._lua  # the benchmark's one look inside: a full collection between runs
    old = EntryByEntry(engine, lua)

    def timed(convert: Callable[[Any], Any]) -> float:
        value = json.loads(text)
        lua.execute("collectgarbage()")
        gc.collect()
        with engine.unbounded_memory():
            started = time.perf_counter()
            converted = convert(value)
            elapsed = time.perf_counter() - started
        del converted
        return elapsed

    def floor(_: Any) -> Any:
        return json.loads(text)

    times: dict[str, list[float]] = {"floor": [], "old": [], "new": []}
    for _ in range(options.rounds):
        times["floor"].append(timed(floor))
        times["old"].append(timed(old.to_lua))
        times["new"].append(timed(engine.to_lua))
    floor_s, old_s, new_s = (statistics.median(times[name]) for name in ("floor", "old", "new"))
    print(f"value:  {options.builds} builds, {len(text) / 1e6:.1f} MB of JSON")
    print(f"rounds: {options.rounds}, alternating; medians")
    print(f"floor:  {floor_s * 1000:8.0f} ms  (json.loads of the text)")
    print(f"old:    {old_s * 1000:8.0f} ms  ({old_s / floor_s:.1f}x the floor; entry by entry)")
    print(f"new:    {new_s * 1000:8.0f} ms  ({new_s / floor_s:.1f}x the floor; to_lua)")
    print(f"speed-up: {old_s / new_s:.1f}x")


if __name__ == "__main__":
    main()
