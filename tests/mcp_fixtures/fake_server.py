"""A real MCP server, written with the SDK, that the client tests start over stdio.

``FAKE_MCP_MODE`` picks a misbehaviour: ``crash`` exits at once with a message on stderr,
``hang`` never answers (and ignores the end of its input), ``hostile`` serves normally plus
tools whose names, descriptions and input schemas try to break out of generated code,
``flood`` lists tools without end (every page says there is another) with giant, deeply
nested and non-object schemas, anything else serves normally.
``FAKE_MCP_PIDFILE`` names a file this process appends its PID to, so a test can check that
the process is gone after the client closed.

Every tool is annotated read-only except ``note``, which appends its text to the file
``FAKE_MCP_NOTES`` names: a write, so a test can see whether it reached the server.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, TypedDict


class Sum(TypedDict):
    sum: float


def main() -> None:
    pidfile = os.environ.get("FAKE_MCP_PIDFILE")
    if pidfile:
        with open(pidfile, "a", encoding="utf-8") as handle:
            handle.write(f"{os.getpid()}\n")
    mode = os.environ.get("FAKE_MCP_MODE", "")
    if mode == "crash":
        arguments = " ".join(sys.argv[1:])
        print(f"fake server {arguments}: cannot open the widget database", file=sys.stderr)
        sys.stderr.flush()
        sys.exit(3)
    if mode == "hang":
        time.sleep(3600)
        return
    if mode == "flood":
        _flood()
        return

    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError
    from mcp.types import ToolAnnotations

    server = MCPServer("fake", log_level="WARNING")
    reads = ToolAnnotations(read_only_hint=True)

    @server.tool(annotations=reads, description="Says the text back.", structured_output=False)
    def echo(text: str) -> str:
        return text

    @server.tool(annotations=reads, description="Adds two numbers.")
    def add(a: float, b: float) -> Sum:
        return {"sum": a + b}

    @server.tool(
        annotations=reads, description="A text block that holds JSON.", structured_output=False
    )
    def json_text() -> str:
        return '{"items": [1, 2, 3], "ok": true}'

    @server.tool(annotations=reads, description="Always fails.", structured_output=False)
    def fail(reason: str = "the widget is broken") -> str:
        raise ToolError(reason)

    @server.tool(
        name="Weird-Name.Tool",
        description="A name Lua cannot spell.",
        annotations=reads,
        structured_output=False,
    )
    def weird() -> str:
        return "weird"

    @server.tool(
        annotations=reads, description="This server's process id.", structured_output=False
    )
    def pid() -> str:
        return str(os.getpid())

    @server.tool(annotations=reads, description="Answers after a while.", structured_output=False)
    async def slow(seconds: float) -> str:
        import anyio

        await anyio.sleep(seconds)
        return "done"

    @server.tool(annotations=reads, description="Exits without answering.", structured_output=False)
    def die() -> str:
        os._exit(7)

    @server.tool(description="Keeps a note (a write: no annotations).", structured_output=False)
    def note(text: str) -> str:
        with open(os.environ["FAKE_MCP_NOTES"], "a", encoding="utf-8") as handle:
            handle.write(text + "\n")
        return "noted"

    if mode == "hostile":
        _add_hostile_tools(server, reads)

    @server.resource("memo://greeting", name="greeting", mime_type="text/plain")
    def greeting() -> str:
        return "Hello from the fake server"

    @server.prompt(description="Asks for a review.")
    def review(topic: str) -> str:
        return f"Please review {topic}."

    server.run("stdio")


HOSTILE = "]]\n---@class injected\nos.exit(1) --[[ \r@field evil any"
"""Text that would end a comment, start an annotation or run code if copied as it is."""


def _add_hostile_tools(server: Any, reads: Any) -> None:
    """Tools a stub generator must not trust: odd names, descriptions and property names."""

    def nothing() -> str:
        return "nothing"

    schema = {
        "type": "object",
        "properties": {
            "plain": {"type": "string", "description": HOSTILE},
            "with-dash": {"type": "integer", "description": "A name Lua cannot spell."},
            'x"]\n---@field evil any\n--': {"type": "boolean", "description": "@class evil"},
            "choice": {"type": "string", "enum": ["a", "b\n---@class evil"]},
            "tags": {"type": "array", "items": {"type": "string"}},
            "options": {"type": ["object", "null"]},
            "count": {"type": "number"},
            "mode": {"enum": ["fast", "slow"]},
        },
        "required": ["plain", "with-dash"],
    }
    for name, description in (
        ("end", HOSTILE),
        ("3d", "@class evil\nfunction evil() end"),
        ("tool\n---@field injected any", "A newline in the name."),
        ("Tool", "Same Lua name as another tool."),
        ("tool", "Same Lua name as another tool."),
    ):
        tool = server._tool_manager.add_tool(
            nothing, name=name, description=description, annotations=reads
        )
        tool.parameters = schema
        tool.fn_metadata.output_schema = schema  # results typed by the same hostile schema


def _flood() -> None:
    """Pages of 200 tools, each page naming a next one, for ever: a client must stop."""
    import anyio
    from mcp.server.lowlevel import Server
    from mcp.server.stdio import stdio_server
    from mcp.types import ListToolsResult, Tool

    deep: dict[str, Any] = {"type": "string"}
    for _ in range(25):  # about as deep as the SDK serializes
        deep = {"type": "object", "properties": {"inner": deep}}
    giant = {
        "type": "object",
        "properties": {
            **{f"p{n}": {"type": "string", "description": "d" * 100} for n in range(2000)},
            "deep": deep,
            "many": {"enum": [f"v{n}" for n in range(5000)]},
        },
    }
    schemas: list[Any] = [giant, {"type": "object", "properties": []}, deep]
    pages = 0

    async def list_tools(ctx: Any, params: Any) -> ListToolsResult:
        nonlocal pages
        pages += 1
        tools = [  # the giant schema once a page: the endless paging is what is tested
            Tool(name=f"t{pages}_{n}", description="x", input_schema=schemas[min(n, 1 + n % 2)])
            for n in range(200)
        ]
        return ListToolsResult(tools=tools, next_cursor=f"page{pages}")

    server: Any = Server("flood", on_list_tools=list_tools)

    async def run() -> None:
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())

    anyio.run(run)


if __name__ == "__main__":
    main()
