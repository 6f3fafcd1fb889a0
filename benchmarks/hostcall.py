"""What a cheap host call costs: `json.encode{a = 1}` in a real LuaEngine, as a ratio to a
raw lupa → Python call.

The floor is the least any lupa host pays to call Python from Lua: a Python function
registered in a fresh LuaRuntime, called from a Lua loop with no arguments. Both loops run
in this process, alternately, and time themselves with os.clock; the ratio of the medians is
the figure to track (target: at most 25x). Run by hand:

    .venv/bin/python benchmarks/hostcall.py [--rounds 15] [--calls 20000]
"""

from __future__ import annotations

import argparse
import statistics
from typing import Any

import lupa.lua54 as lupa

from kosmo_lua.errors import HostError
from kosmo_lua.limits import Limits
from kosmo_lua.runtime.engine import LuaEngine

OURS = """
local encode, clock = json.encode, os.clock
local started = clock()
for _ = 1, {calls} do
  local _ = encode({{a = 1}})
end
return clock() - started
"""

FLOOR = """
function(f, calls)
  local clock = os.clock
  local started = clock()
  for _ = 1, calls do
    local _ = f()
  end
  return clock() - started
end
"""


def no_calls(path: str, args: list[Any]) -> tuple[Any, ...]:
    raise HostError("no app calls in this benchmark")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=20000)
    options = parser.parse_args()
    engine = LuaEngine(Limits(), emit=print, dispatch=no_calls)
    ours_code = OURS.format(calls=options.calls)
    floor_loop = lupa.LuaRuntime().eval(FLOOR)

    def python_function() -> None:
        return None

    floor, ours = [], []
    for _ in range(options.rounds + 1):  # the first round warms up and is not counted
        floor.append(floor_loop(python_function, options.calls) / options.calls)
        kind, values, error, _ = engine.run(ours_code, "hostcall")
        if kind or error or not values:
            raise SystemExit(f"the benchmark chunk failed: {kind or error}")
        ours.append(values[0] / options.calls)
    floor_us = statistics.median(floor[1:]) * 1e6
    ours_us = statistics.median(ours[1:]) * 1e6
    print(f"rounds: {options.rounds} of {options.calls} calls each, alternating")
    print(f"floor:  {floor_us:7.3f} us per call  (a Python function called from a Lua loop)")
    print(f"ours:   {ours_us:7.3f} us per call  (json.encode{{a = 1}} in a LuaEngine)")
    print(f"ratio:  {ours_us / floor_us:7.1f}x  (target <= 25x)")


if __name__ == "__main__":
    main()
