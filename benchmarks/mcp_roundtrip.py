"""Round trip of `execute_lua('return 1')` on `kosmo mcp:serve`, as a ratio to a floor.

The floor is a minimal server on the same SDK and transport (minimal_mcp_server.py: one
tool that returns "1"). Both run as real processes over stdio, spoken to by the SDK's own
client; calls alternate between them in the same run, so machine noise hits both. The
ratio of the medians is the figure to track (target: at most 2x). Run by hand:

    .venv/bin/python benchmarks/mcp_roundtrip.py [--calls 300]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, StdioServerParameters

MINIMAL = Path(__file__).with_name("minimal_mcp_server.py")


def kosmo() -> str:
    found = shutil.which("kosmo", path=str(Path(sys.executable).parent))
    if found is None:
        sys.exit("kosmo is not installed next to this Python; run `make demo` first")
    return found


def server(command: str, *args: str, home: str) -> StdioServerParameters:
    # The SDK passes a server only a safe set of variables; these get this process's (so a
    # PYTHONPATH pointing at a checkout reaches kosmo too), and an empty home and folder: no
    # accounts, no MCP servers.
    env = {**os.environ, "KOSMO_HOME": home}
    return StdioServerParameters(command=command, args=list(args), env=env, cwd=home)


async def round_trip(client: Any, tool: str, arguments: dict[str, Any]) -> float:
    started = time.perf_counter()
    result = await client.call_tool(tool, arguments)
    elapsed = time.perf_counter() - started
    assert not result.is_error and (result.structured_content or {}).get("success", True), result
    return elapsed


async def measure(calls: int) -> tuple[list[float], list[float]]:
    floor: list[float] = []
    ours: list[float] = []
    with tempfile.TemporaryDirectory() as home:
        async with (
            Client(server(sys.executable, str(MINIMAL), home=home)) as minimal,
            Client(server(kosmo(), "mcp:serve", home=home)) as kosmo_lua,
        ):
            one = ("one", {})
            lua = ("execute_lua", {"code": "return 1"})
            for _ in range(20):  # warm up both: imports on first use, the page cache
                await round_trip(minimal, *one)
                await round_trip(kosmo_lua, *lua)
            for _ in range(calls):
                floor.append(await round_trip(minimal, *one))
                ours.append(await round_trip(kosmo_lua, *lua))
    return floor, ours


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    calls = parser.parse_args().calls
    floor, ours = anyio.run(measure, calls)
    floor_ms = statistics.median(floor) * 1000
    ours_ms = statistics.median(ours) * 1000
    print(f"calls:  {calls} each, alternating")
    print(f"floor:  {floor_ms:6.2f} ms  (one tool returning '1', same SDK, stdio)")
    print(f"kosmo:  {ours_ms:6.2f} ms  (kosmo mcp:serve, execute_lua('return 1'))")
    print(f"ratio:  {ours_ms / floor_ms:6.2f}x  (target <= 2x)")


if __name__ == "__main__":
    main()
