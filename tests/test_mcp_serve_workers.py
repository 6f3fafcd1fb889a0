"""``kosmo mcp:serve``'s workers come from a zygote (issue #12): each run starts from a fresh
Lua state, under its own limits, and runs side by side with another from the same client.
The server is the installed ``kosmo`` spoken to by the SDK's client over stdio. (That the
zygote and its workers die with the server is in test_interruptions.py.)"""

from __future__ import annotations

import os
import sys
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any

import pytest
from helpers import (
    alive,
    children,
    cpu_seconds,
    descendants,
    kosmo_path,
    server_env,
    server_of,
    wait_for,
)

pytest.importorskip("mcp")

import anyio
from mcp import Client, StdioServerParameters

Scenario = Callable[[Any], Awaitable[Any]]
BUSY = "local t = os.clock() while os.clock() - t < 1 do end return 'done'"
# One C call that backtracks for ages: no count hook fires inside it, only a kill stops it.
STUCK_IN_C = "return string.find(string.rep('a', 40), string.rep('a?', 40) .. string.rep('a', 40))"


def against(scenario: Scenario) -> Any:
    """``kosmo mcp:serve`` over stdio: runs ``scenario(client)``, then shuts it down."""
    parameters = StdioServerParameters(command=kosmo_path(), args=["mcp:serve"], env=server_env())

    async def main() -> Any:
        async with Client(parameters) as client:
            return await scenario(client)

    return anyio.run(main)


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
    assert stuck["memory_usage"] == 0  # no word from the worker: the server killed it
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
