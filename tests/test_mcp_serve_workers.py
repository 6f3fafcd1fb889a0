"""``kosmo mcp:serve``'s workers come from a zygote (issue #12): each run starts from a fresh
Lua state, under its own limits, and runs side by side with another from the same client.
The server is the installed ``kosmo`` spoken to by the SDK's client over stdio. (That the
zygote and its workers die with the server is in test_interruptions.py.)"""

from __future__ import annotations

import os
import signal
import sys
import time
from contextlib import suppress
from typing import Any

import pytest
from helpers import (
    alive,
    children,
    cpu_seconds,
    descendants,
    server_of,
    wait_for,
)

pytest.importorskip("mcp")

import anyio
from mcp_session import Scenario, against

BUSY = "local t = os.clock() while os.clock() - t < 1 do end return 'done'"
# One C call that backtracks for ages: no count hook fires inside it, only a kill stops it.
STUCK_IN_C = "return string.find(string.rep('a', 40), string.rep('a?', 40) .. string.rep('a', 40))"


def envelopes(*codes: str | dict[str, Any]) -> Scenario:
    """Calls ``execute_lua`` once per code (or argument set), in order: their envelopes."""

    async def scenario(client: Any) -> list[dict[str, Any]]:
        results = []
        for code in codes:
            arguments = code if isinstance(code, dict) else {"code": code}
            results.append((await client.call_tool("execute_lua", arguments)).structured_content)
        return results

    return scenario


def test_every_run_starts_from_a_fresh_lua_state():
    first, second, third = against(
        envelopes(
            "leak = 'one' rawset(_G, 'raw', 2) string.leak = 3 return leak",
            "return leak, raw, string.leak",
            "return type(leak)",
        )
    )
    assert first["result"] == ["one"]
    assert second["success"] and second["result"] == [None, None, None]
    assert third["result"] == ["nil"]


def test_a_run_sees_nothing_of_the_runs_before_it():
    """Every worker is a copy of one Lua state the zygote built and never ran: what a run
    changes, the libraries included, stays in its copy, and each copy starts the same (the
    memory it starts with too)."""
    first, changing, second = against(
        envelopes(
            "return collectgarbage('count')",
            "math.pi = 3 math.leak = {} table.insert = nil string.rep = nil"
            " junk = {} for i = 1, 1e4 do junk[i] = {i} end return math.pi",
            "return collectgarbage('count')",
        )
    )
    assert changing["result"] == [3]
    assert second["result"] == first["result"]
    (after,) = against(
        envelopes("return math.pi, math.leak, table.insert ~= nil, string.rep('a', 2)")
    )
    assert after["result"][0] > 3.14 and after["result"][1:] == [None, True, "aa"]


def test_math_random_differs_from_run_to_run():
    """Copies of one Lua state share its random sequence: each worker seeds its own, and
    a seed one run sets is not the next run's."""
    draw = "return math.random(1, 1 << 40)"
    runs = against(envelopes(draw, draw, draw, f"math.randomseed(42) {draw}", draw))
    values = [run["result"][0] for run in runs]
    assert len(set(values)) == len(values), values


def test_limits_are_each_runs_own_and_still_kill():
    """The worker is ready before a run asks for its limits: they still hold, the hard kill
    (the server reads the worker's CPU time) included, and the next run is unharmed."""
    allocate = "local t = {} for i = 1, 2e5 do t[i] = i end return #t"
    small, roomy, looping, stuck, after = against(
        envelopes(
            {"code": allocate, "memoryLimit": 1_500_000},
            {"code": allocate},
            {"code": "while true do end", "cpuLimit": 0.3},
            {"code": STUCK_IN_C, "cpuLimit": 0.3},
            "return 'still here'",
        )
    )
    assert small["error"].startswith("Memory limit exceeded: the script needed more than 1500000")
    assert roomy["result"] == [200000]
    for stopped in (looping, stuck):
        assert stopped["error"].startswith("CPU limit exceeded"), stopped["error"]
        assert stopped["meta"]["limit"] == "cpu"
    assert after["result"] == ["still here"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="watches Linux's /proc")
def test_calls_from_one_client_run_side_by_side():
    """Two calls sent together both burn CPU in their workers at the same moment: the SDK's
    loop hands each to a thread, and neither waits for the other's worker. (One after the
    other, the first worker would be gone before the second had burnt anything.)"""

    def busy(pid: int) -> bool:
        """A worker at work: no children (the zygote has its ready one), not a zombie."""
        with suppress(OSError):
            return not children(pid) and alive(pid) and cpu_seconds(pid) > 0.3
        return False

    def two_busy_at_once() -> None:
        server = wait_for(lambda: server_of(os.getpid()), "the server to start")
        wait_for(lambda: sum(map(busy, descendants(server))) >= 2, "two workers busy at once")

    async def scenario(client: Any) -> list[Any]:
        results: list[Any] = [None, None]

        async def call(index: int) -> None:
            result = await client.call_tool("execute_lua", {"code": BUSY})
            results[index] = result.structured_content

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(call, 0)
            tasks.start_soon(call, 1)
            await anyio.to_thread.run_sync(two_busy_at_once)
        return results

    results = against(scenario)
    assert [r["result"] for r in results] == [["done"], ["done"]]


def test_runs_at_once_are_bounded_by_max_runs():
    """The server's runs wait for the event loop, not a thread each: --max-runs still
    bounds them."""

    async def scenario(client: Any) -> tuple[list[Any], float]:
        results: list[Any] = [None, None]

        async def call(index: int) -> None:
            result = await client.call_tool("execute_lua", {"code": BUSY})
            results[index] = result.structured_content

        started = time.monotonic()
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(call, 0)
            tasks.start_soon(call, 1)
        return results, time.monotonic() - started

    results, elapsed = against(scenario, "--max-runs", "1")
    assert [r["result"] for r in results] == [["done"], ["done"]]
    assert elapsed >= 1.9  # one after the other


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="watches Linux's /proc")
def test_a_call_the_client_cancels_stops_its_worker():
    """The SDK cancels a call its client gave up on (notifications/cancelled): its worker is
    killed then, not left to run to its limit, and the next call runs as usual."""

    def spinning() -> int | None:
        server = server_of(os.getpid())
        for pid in descendants(server) if server else ():
            with suppress(OSError):
                if not children(pid) and alive(pid) and cpu_seconds(pid) > 0.3:
                    return pid
        return None

    async def scenario(client: Any) -> tuple[int, Any]:
        worker = None
        with anyio.move_on_after(30):
            async with anyio.create_task_group() as tasks:

                async def give_up() -> None:
                    nonlocal worker
                    worker = await anyio.to_thread.run_sync(wait_for, spinning, "a busy worker")
                    tasks.cancel_scope.cancel()

                tasks.start_soon(give_up)
                await client.call_tool("execute_lua", {"code": "while true do end", "cpuLimit": 60})
        assert worker is not None
        await anyio.to_thread.run_sync(wait_for, lambda: not alive(worker), "the worker to die")
        return worker, await client.call_tool("execute_lua", {"code": "return 'next'"})

    _, after = against(scenario)
    assert after.structured_content["result"] == ["next"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="watches Linux's /proc")
def test_a_zygote_that_died_is_replaced():
    """Killed, the zygote takes the worker it kept ready with it (not the one it had pushed
    to the server already); the call that finds it gone forks a new one, and no call fails."""
    zygotes: list[int] = []

    def the_zygote() -> int:
        server = wait_for(lambda: server_of(os.getpid()), "the server to start")
        (zygote,) = wait_for(lambda: [p for p in children(server) if alive(p)], "a zygote")
        return int(zygote)

    def kill_the_zygote() -> None:
        zygotes.append(the_zygote())
        os.kill(zygotes[0], signal.SIGKILL)
        wait_for(lambda: not alive(zygotes[0]), "the zygote to die")

    async def scenario(client: Any) -> list[Any]:
        await client.call_tool("execute_lua", {"code": "return 1"})
        await anyio.to_thread.run_sync(kill_the_zygote)
        results = [await client.call_tool("execute_lua", {"code": "return 2"}) for _ in range(4)]
        zygotes.append(await anyio.to_thread.run_sync(the_zygote))
        return results

    results = against(scenario)
    assert [r.structured_content["result"] for r in results] == [[2]] * 4
    assert zygotes[1] != zygotes[0]
