"""This host as an MCP server: agents run Lua through ``execute_lua`` and read the reference.

The tools keep the original's names and arguments (``execute_lua`` with ``code``,
``memoryLimit``, ``cpuLimit``; ``lua_read_doc``, ``lua_list_docs``, ``lua_search_docs``), so
agents configured for it work unchanged. ``expose_integrations`` adds every integration
function as a tool of its own (``buildkite_get_build``), with its JSON Schema and read/write
annotations, for clients that prefer one call per tool to a script.

Permissions are the same as on the command line: a write needs ``allow`` in the integration's
policy, or a server started with ``force``. ``read_only`` hides the write tools and also
refuses writes from inside ``execute_lua``, so a read-only server cannot change anything.

The tools are plain Python (``HostTools``); only ``serve()`` and ``build_server()`` touch the
SDK, and they import it when called.
"""

from __future__ import annotations

import functools
import json
import threading
from typing import TYPE_CHECKING, Any

from ..calls import recorded
from ..errors import HostError, PermissionDenied, UsageError
from ..limits import Limits
from ..result import Report

if TYPE_CHECKING:
    from mcp.server import Server, ServerRequestContext

    from ..catalog import Catalog
    from ..invoker import Invoker
    from ..reference import Reference
    from ..runtime.engine import Dispatcher
    from ..tools import Tool

EXECUTE_LUA_DESCRIPTION = """\
Run Lua 5.4 code in a sandbox and return a JSON envelope: success, output (printed lines), \
error, result (the chunk's return values), execution_time_ms, memory_usage, \
integration_calls, meta.

Inside the sandbox: integration functions under app.integrations.<integration>.<function> \
(named arguments in one table, e.g. app.integrations.buildkite.get_build{organization = \
"acme", pipeline = "deploy", number = 42}), json.encode/decode, regex.match/match_all/gsub, \
print and dump, and the reference as docs.read(page), docs.list(), docs.search(query). \
Read the docs (lua_list_docs, lua_read_doc) before calling a function you have not used. \
Calls raise Lua errors on failure: catch them with pcall. Writes follow the host's \
permission policy. One script can make many calls: prefer one script to many tool calls."""

SERVER_INSTRUCTIONS = """\
kosmo-lua runs Lua scripts against integrations (Buildkite, ...) in a sandbox. Write one \
script with execute_lua instead of many separate calls; find functions with \
lua_search_docs or lua_list_docs and read their page with lua_read_doc."""


class ToolFailed(Exception):
    """A tool call failed; the message becomes an MCP error result (``isError``)."""


class HostTools:
    """The tools this server offers, as plain data and plain calls (no SDK types).

    Integration tools share one invoker for the session, so HTTP connections and rate-limit
    state carry over between calls; ``close()`` ends it.
    """

    def __init__(
        self,
        *,
        read_only: bool = False,
        expose_integrations: bool = False,
        force: bool = False,
    ) -> None:
        self.read_only = read_only
        self.expose_integrations = expose_integrations
        self.force = force
        # One Lua worker at a time: each run forks, and a fork is safest with no other fork
        # or pipe bookkeeping under way in this process.
        self._run_lock = threading.Lock()
        self._integration_tools: dict[str, Tool] | None = None
        self._invoker: Invoker | None = None
        # Calls run in threads; the invoker's per-account clients are not made for that.
        self._invoker_lock = threading.Lock()

    # Listing -------------------------------------------------------------------------------

    def listing(self) -> list[dict[str, Any]]:
        """Every tool as ``{name, description, inputSchema, annotations}``."""
        tools = [
            {
                "name": "execute_lua",
                "description": EXECUTE_LUA_DESCRIPTION
                + (
                    " This server is read-only: write functions are refused."
                    if self.read_only
                    else ""
                ),
                "inputSchema": {
                    "type": "object",
                    "properties": {
                        "code": {"type": "string", "description": "The Lua code to run."},
                        "memoryLimit": {
                            "type": "integer",
                            "minimum": 1,
                            "description": "Memory limit in bytes (default 32 MiB).",
                        },
                        "cpuLimit": {
                            "type": "number",
                            "exclusiveMinimum": 0,
                            "description": "CPU time limit in seconds (default 30).",
                        },
                    },
                    "required": ["code"],
                },
                "annotations": {
                    "title": "Run Lua",
                    "readOnlyHint": self.read_only,
                    "destructiveHint": not self.read_only,
                    "openWorldHint": True,
                },
            },
            _doc_tool(
                "lua_read_doc",
                "Read one page of the Lua reference: a host page (lua, json, regex), an"
                " integration (integrations.buildkite) or a function"
                " (integrations.buildkite.get_build), with its parameters and an example.",
                {"page": {"type": "string", "description": "The page, e.g. buildkite.get_build."}},
                ["page"],
            ),
            _doc_tool(
                "lua_list_docs",
                "The index of the Lua reference: host pages and every integration function.",
                {},
                [],
            ),
            _doc_tool(
                "lua_search_docs",
                "Find integration functions by keywords; returns 'integration.function -"
                " summary' lines, best match first.",
                {"query": {"type": "string", "description": "Keywords, e.g. 'retry failed job'."}},
                ["query"],
            ),
        ]
        for name, tool in self._integrations().items():
            if self.read_only and tool.access == "write":
                continue
            tools.append(
                {
                    "name": name,
                    "description": tool.summary,
                    "inputSchema": tool.schema(),
                    "annotations": {
                        "readOnlyHint": tool.access == "read",
                        "destructiveHint": tool.access == "write",
                        "openWorldHint": True,
                    },
                }
            )
        return tools

    # Calling -------------------------------------------------------------------------------

    def call(self, name: str, args: dict[str, Any] | None) -> tuple[str, Any]:
        """Runs tool ``name``: returns (text, structured content or None).

        Raises ``ToolFailed`` for a failed call, ``KeyError`` for an unknown tool.
        """
        args = args or {}
        if name == "execute_lua":
            envelope = self.execute_lua(args)
            return json.dumps(envelope, indent=2, ensure_ascii=False), envelope
        if name == "lua_read_doc":
            return _reference().read(_string(args, "page")), None
        if name == "lua_list_docs":
            return _reference().index(), None
        if name == "lua_search_docs":
            query = _string(args, "query")
            lines = _reference().search(query)
            return ("\n".join(lines) if lines else f"No functions match '{query}'."), None
        tool = self._integrations().get(name)
        if tool is None or (self.read_only and tool.access == "write"):
            raise KeyError(name)
        data = self.call_integration(tool, args)
        text = data if isinstance(data, str) else json.dumps(data, indent=2, ensure_ascii=False)
        return text, data if isinstance(data, dict) else None

    def execute_lua(self, args: dict[str, Any]) -> dict[str, Any]:
        """Runs the code in a fresh worker with the requested limits; returns the envelope."""
        from ..dispatch import AppDispatcher
        from ..runtime.supervisor import Worker

        code = _string(args, "code")
        defaults = Limits()
        memory = args.get("memoryLimit", defaults.memory_bytes)
        cpu = args.get("cpuLimit", defaults.cpu_seconds)
        if isinstance(memory, float) and memory.is_integer():
            memory = int(memory)
        if isinstance(memory, bool) or not isinstance(memory, int) or memory <= 0:
            raise ToolFailed("memoryLimit must be a positive whole number of bytes")
        if isinstance(cpu, bool) or not isinstance(cpu, int | float) or cpu <= 0:
            raise ToolFailed("cpuLimit must be a positive number of seconds")
        factory = AppDispatcher.factory(force=self.force)
        if self.read_only:
            inner_factory = factory

            def factory(report: Report) -> Dispatcher:
                return ReadOnlyDispatch(inner_factory(report), report)

        with self._run_lock, Worker(Limits(memory_bytes=memory, cpu_seconds=cpu), factory) as w:
            result = w.run(code, "execute_lua")
        return result.envelope()

    def call_integration(self, tool: Tool, args: dict[str, Any]) -> Any:
        """One integration function, through the same invoker (and policy) as the CLI. The
        session's invoker reads the settings on its first call."""
        path = f"app.integrations.{tool.integration}.default.{tool.name}"
        try:
            with self._invoker_lock:
                if self._invoker is None:
                    from ..dispatch import run_invoker

                    self._invoker = run_invoker(report=lambda kind, value: None, force=self.force)
                data, _meta = self._invoker.invoke(path, [args])
        except (HostError, ValueError) as exc:
            raise ToolFailed(str(exc)) from None
        return data

    def close(self) -> None:
        """Ends the session: closes the integration tools' HTTP clients."""
        with self._invoker_lock:
            if self._invoker is not None:
                self._invoker.close()
                self._invoker = None

    def _integrations(self) -> dict[str, Tool]:
        """MCP name (``buildkite_get_build``) → tool, when integrations are exposed."""
        if not self.expose_integrations:
            return {}
        if self._integration_tools is None:
            from ..integrations import load

            self._integration_tools = {
                f"{tool.integration}_{tool.name}": tool
                for integration in load()
                for tool in integration.tools
            }
        return self._integration_tools


class ReadOnlyDispatch:
    """Refuses every write function before it reaches the invoker, whatever the policy."""

    def __init__(self, inner: Dispatcher, report: Report) -> None:
        self._inner = inner
        self._report = report
        self._catalog: Catalog | None = None

    def __call__(self, path: str, args: list[Any]) -> tuple[Any, ...]:
        tool = self._tool(path)
        if tool is not None and tool.access == "write":
            with recorded(self._report, path.removeprefix("app."), tool=tool.full_name):
                raise PermissionDenied(
                    f"{tool.full_name} writes, and this MCP server is read-only"
                    " (started with --read-only)",
                    tool=tool.full_name,
                )
        return self._inner(path, args)

    def _tool(self, path: str) -> Tool | None:
        if not path.startswith("app.integrations."):
            return None
        if self._catalog is None:
            from ..catalog import Catalog
            from ..integrations import load

            self._catalog = Catalog(load())
        try:
            return self._catalog.resolve(path)[2]
        except HostError:
            return None  # the invoker reports unknown functions in its own words


def build_server(tools: HostTools) -> Server[Any]:
    """The SDK's low-level ``Server`` over ``tools``: raw JSON Schemas, dynamic list."""
    import anyio.to_thread
    from mcp import MCPError
    from mcp.server.lowlevel import Server
    from mcp.types import (
        INVALID_PARAMS,
        CallToolRequestParams,
        CallToolResult,
        ListToolsResult,
        PaginatedRequestParams,
        TextContent,
        Tool,
        ToolAnnotations,
    )

    from .. import __version__

    listing = [
        Tool(
            name=row["name"],
            description=row["description"],
            input_schema=row["inputSchema"],
            annotations=ToolAnnotations.model_validate(row["annotations"]),
        )
        for row in tools.listing()
    ]
    names = {tool.name for tool in listing}

    async def list_tools(
        ctx: ServerRequestContext[Any], params: PaginatedRequestParams | None
    ) -> ListToolsResult:
        return ListToolsResult(tools=listing)

    async def call_tool(
        ctx: ServerRequestContext[Any], params: CallToolRequestParams
    ) -> CallToolResult:
        if params.name not in names:
            raise MCPError(code=INVALID_PARAMS, message=f"Unknown tool: {params.name}")
        try:
            text, structured = await anyio.to_thread.run_sync(
                tools.call, params.name, params.arguments or {}
            )
        except ToolFailed as exc:
            return CallToolResult(content=[TextContent(type="text", text=str(exc))], is_error=True)
        except KeyError:
            raise MCPError(code=INVALID_PARAMS, message=f"Unknown tool: {params.name}") from None
        return CallToolResult(
            content=[TextContent(type="text", text=text)], structured_content=structured
        )

    return Server(
        "kosmo-lua",
        version=__version__,
        instructions=SERVER_INSTRUCTIONS,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )


def serve(
    *,
    transport: str = "stdio",
    read_only: bool = False,
    expose_integrations: bool = False,
    force: bool = False,
    host: str = "127.0.0.1",
    port: int = 8765,
) -> None:
    """Serves until the client leaves (stdio) or the process is stopped (http, at /mcp)."""
    if transport not in ("stdio", "http", "streamable-http"):
        raise UsageError(f"Unknown MCP transport {transport!r}: use stdio or http")
    import anyio

    tools = HostTools(read_only=read_only, expose_integrations=expose_integrations, force=force)
    server = build_server(tools)
    _kill_workers_on_termination()
    try:
        if transport == "stdio":
            anyio.run(_serve_stdio, server)
        else:
            anyio.run(_serve_http, server, host, port)
    finally:
        tools.close()


async def _serve_stdio(server: Server[Any]) -> None:
    from mcp.server.stdio import stdio_server

    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())


async def _serve_http(server: Server[Any], host: str, port: int) -> None:
    import uvicorn

    from ..runtime.supervisor import kill_all

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            kill_all()  # a run in progress would hold up the graceful shutdown until it ends
            super().handle_exit(sig, frame)

    app = server.streamable_http_app(host=host)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning")
    await Server(config).serve()


def _kill_workers_on_termination() -> None:
    """SIGTERM and SIGHUP kill the running Lua worker, and what it started, before this process
    dies of the signal. Runs happen in threads, which signals do not reach (SIGKILL is left to
    the kernel: a worker dies with its parent on Linux)."""
    import signal

    from ..runtime.supervisor import TERMINATIONS, kill_all

    def terminate(signum: int, frame: object) -> None:
        kill_all()
        signal.signal(signum, signal.SIG_DFL)
        signal.raise_signal(signum)

    for number in TERMINATIONS:
        signal.signal(number, terminate)


def _doc_tool(
    name: str, description: str, properties: dict[str, Any], required: list[str]
) -> dict[str, Any]:
    return {
        "name": name,
        "description": description,
        "inputSchema": {"type": "object", "properties": properties, "required": required},
        "annotations": {"readOnlyHint": True, "destructiveHint": False, "openWorldHint": False},
    }


def _string(args: dict[str, Any], name: str) -> str:
    value = args.get(name)
    if not isinstance(value, str):
        raise ToolFailed(f"'{name}' must be a string")
    return value


@functools.cache
def _reference() -> Reference:
    from ..reference import load_reference

    return load_reference()
