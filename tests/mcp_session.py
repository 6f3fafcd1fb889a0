"""One MCP session with the installed ``kosmo mcp:serve``, spoken to by the official SDK's
client over stdio: the way the MCP server tests drive it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from helpers import kosmo_path, server_env
from mcp import Client, StdioServerParameters

Scenario = Callable[[Any], Awaitable[Any]]
"""What a test does with the client; its result is ``against``'s."""


def against(scenario: Scenario, *options: str) -> Any:
    """``kosmo mcp:serve OPTIONS`` over stdio: runs ``scenario(client)``, then shuts it down."""
    parameters = StdioServerParameters(
        command=kosmo_path(), args=["mcp:serve", *options], env=server_env()
    )

    async def main() -> Any:
        async with Client(parameters) as client:
            return await scenario(client)

    return anyio.run(main)
