"""Other MCP servers, called synchronously from one Lua run.

The SDK is asynchronous and the Lua host is not, so ``McpHub`` keeps one event loop in a
daemon thread and hands it one coroutine per operation, each with a timeout. A server starts
on first use and serves the rest of the run; ``close()`` ends every session and makes sure no
server process outlives the run (the SDK kills the process group; ``close()`` checks, and
kills it itself if anything survived).

The SDK costs most of a second to import, so it is imported here inside functions only: a
script that never calls an MCP server never loads it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import os
import signal
import tempfile
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import IO, TYPE_CHECKING, Any, TypeVar

from ..advice import approval
from ..calls import recorded
from ..config import Config
from ..errors import PermissionDenied
from ..result import Report
from .errors import McpError, McpServerFailed, McpToolError, McpUntrusted
from .servers import ServerConfig, lua_name

if TYPE_CHECKING:  # the SDK loads with the first server, not with this module
    from mcp import Client
    from mcp.client import Transport
    from mcp.types import CallToolResult, ListToolsResult, Tool
    from pydantic import BaseModel

_T = TypeVar("_T")

# Extra time the calling thread waits past an operation's own timeout before giving up on the
# event loop itself.
_LOOP_MARGIN_SECONDS = 5.0
# How long close() gives all sessions to end (the SDK's own escalation takes up to ~6 s).
_CLOSE_SECONDS = 10.0
_STDERR_TAIL_CHARS = 2000
_STDERR_TAIL_LINES = 8


# The most tools (and pages of them) a server's listing may hold: each becomes a stub and a
# function, and a hostile server could page without end.
MAX_TOOLS = 1000
MAX_TOOL_PAGES = 100
READ_ONLY_SERVER = "this MCP server is read-only: it may not change anything"


class McpHub:
    """The MCP servers one run may use, started lazily and reused until ``close()``.

    Tool calls follow the permission policy (``Config.mcp_permission``); ``force`` lets through
    the calls it would refuse. Nothing starts a project's server that is not trusted.
    """

    def __init__(
        self,
        servers: list[ServerConfig],
        *,
        force: bool = False,
        read_only: bool = False,
        timeout: float = 30.0,
        report: Report | None = None,
        read_only_reason: str = READ_ONLY_SERVER,
        for_agent: bool = False,
    ) -> None:
        """``read_only`` (``mcp:serve --read-only``, ``--plan``) refuses every tool that may
        write, whatever the policy or ``force``, saying ``read_only_reason``: checked here,
        where names are resolved, so no spelling of a server's name gets around it.
        ``for_agent``: refusals say what an agent can do (``advice.py``)."""
        self._configs = {server.name: server for server in servers}
        self._force = force
        self._read_only = read_only
        self._read_only_reason = read_only_reason
        self._for_agent = for_agent
        self._settings: Config | None = None  # the permission policy, read on the first call
        self.timeout = timeout
        self._report = report
        self._connections: dict[str, _Connection] = {}
        self._errors: dict[str, str] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False

    def __enter__(self) -> McpHub:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # Configuration ---------------------------------------------------------------------------

    def servers(self) -> list[dict[str, Any]]:
        """Every configured server, started or not."""
        rows = []
        for config in self._configs.values():
            row: dict[str, Any] = {
                "name": config.name,
                "lua_name": config.lua_name,
                "type": config.type,
                "enabled": config.enabled,
                "source": config.source,
                "project": config.project,
                "trusted": config.trusted,
            }
            if config.command is not None:
                row["command"] = config.target()
            if config.url is not None:
                row["url"] = config.url
            if config.problem:
                row["problem"] = config.problem
            rows.append(row)
        return rows

    @property
    def pids(self) -> dict[str, int]:
        """The process id of every stdio server started so far (tests check they are gone)."""
        return {name: c.pid for name, c in self._connections.items() if c.pid is not None}

    # Tools -----------------------------------------------------------------------------------

    def tools(self, server: str | None = None) -> list[dict[str, Any]]:
        """The tools of one server, or of every enabled and usable one.

        Listing every server skips those that fail to start; their errors are reported as
        ``meta`` (``mcp_errors``) so the listing of the others still works.
        """
        if server is not None:
            name = self._usable(server).name
            return self._run(self._tool_rows(name))
        names = [c.name for c in self._configs.values() if self._listable(c)]
        if not names:
            return []
        rows: list[dict[str, Any]] = []
        for name, found in zip(names, self._run(self._all_tool_rows(names)), strict=True):
            if isinstance(found, McpError):
                self._errors[name] = str(found)
            else:
                rows.extend(found)
        if self._errors and self._report:
            self._report("meta", {"mcp_errors": dict(self._errors)})
        return rows

    def schema(self, qualified: str) -> dict[str, Any]:
        """The JSON Schema of a tool's arguments (``server.tool``)."""
        name, tool = self._split(qualified)
        schema: dict[str, Any] = self._run(self._find_tool(name, tool))["input_schema"]
        return schema

    def call(self, qualified: str, args: dict[str, Any] | None = None) -> Any:
        """Calls ``server.tool`` as the permission policy allows: structured content, else
        decoded text, else content blocks."""
        with recorded(self._report, f"mcp.{qualified}") as entry:
            name, tool = self._split(qualified)
            row = self._run(self._find_tool(name, tool))
            if self._check_permission(name, row):
                entry["permission_bypassed"] = True
                if self._report:
                    self._report("meta", {"permission_bypassed": True})
            return self._run(self._call(name, tool, args or {}))

    def resolve_lua(self, server_lua_name: str, tool_lua_name: str) -> str:
        """``app.mcp.<server>.<tool>`` as ``server.tool``, from the names Lua can spell."""
        config = self._usable(server_lua_name)
        rows = self._run(self._tool_rows(config.name))
        for row in rows:
            if tool_lua_name in (row["lua_name"], row["name"]):
                qualified: str = row["qualified"]
                return qualified
        raise _unknown(
            f"MCP server '{config.name}' has no tool '{tool_lua_name}'",
            tool_lua_name,
            [row["lua_name"] for row in rows],
            "Tools",
        )

    # Resources and prompts -------------------------------------------------------------------

    def resources(self, server: str) -> list[dict[str, Any]]:
        name = self._usable(server).name
        return self._run(self._list(name, "resources"))

    def read_resource(self, server: str, uri: str) -> list[dict[str, Any]]:
        """The resource's contents: ``{uri, mimeType, text}`` or ``{uri, mimeType, blob}``."""
        return self._reported(
            f"mcp.{server}.read_resource",
            lambda: self._run(self._read_resource(self._usable(server).name, uri)),
            uri=uri,
        )

    def prompts(self, server: str) -> list[dict[str, Any]]:
        name = self._usable(server).name
        return self._run(self._list(name, "prompts"))

    def get_prompt(
        self, server: str, name: str, args: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """``{description, messages = {{role, text}, ...}}``."""
        return self._reported(
            f"mcp.{server}.get_prompt",
            lambda: self._run(self._get_prompt(self._usable(server).name, name, args or {})),
            prompt=name,
        )

    # Shutting down ---------------------------------------------------------------------------

    def close(self) -> None:
        """Ends every session and makes sure no server process is left running."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        with contextlib.suppress(Exception):
            future = asyncio.run_coroutine_threadsafe(self._close_all(), loop)
            future.result(_CLOSE_SECONDS + _LOOP_MARGIN_SECONDS)
        for connection in self._connections.values():
            connection.kill_leftovers()
        loop.call_soon_threadsafe(loop.stop)
        thread.join(_LOOP_MARGIN_SECONDS)
        if not thread.is_alive():
            loop.close()
        for connection in self._connections.values():
            connection.release()

    # Checks ----------------------------------------------------------------------------------

    def _config(self, server: str) -> ServerConfig:
        config = self._configs.get(server)
        if config is None:
            matches = [c for c in self._configs.values() if c.lua_name == server]
            if len(matches) == 1:
                config = matches[0]
        if config is None:
            if not self._configs:
                raise McpError(
                    f"Unknown MCP server '{server}': no MCP servers are configured (.mcp.json,"
                    " .vscode/mcp.json, .cursor/mcp.json or $KOSMO_HOME/mcp.json)"
                )
            raise _unknown(
                f"Unknown MCP server '{server}'", server, list(self._configs), "Configured"
            )
        return config

    def _usable(self, server: str) -> ServerConfig:
        """The server's configuration, or the reason it may not run."""
        config = self._config(server)
        name = config.name
        if not config.enabled:
            raise McpError(f"MCP server '{name}' is disabled in {config.source}")
        if config.problem:
            raise McpError(f"MCP server '{name}' cannot be used: {config.problem}")
        if config.type == "sse":
            raise McpError(
                f"MCP server '{name}' uses the SSE transport, which kosmo does not support;"
                ' use its streamable HTTP endpoint (type "http")'
            )
        if config.project and not config.trusted:
            state = "has changed since it was trusted" if config.changed else "is not trusted"
            raise McpUntrusted(
                f"MCP server '{name}' is defined by {config.source} and {state}: check what it"
                f" runs ({config.target()}), then run `kosmo mcp:trust {name}`"
            )
        if config.missing:
            variables = ", ".join(config.missing)
            raise McpError(
                f"MCP server '{name}' needs the environment variable(s) {variables}"
                f" (unset and without a default in {config.source})"
            )
        return config

    def _check_permission(self, server: str, row: dict[str, Any]) -> bool:
        """Raises when the policy refuses the call; True when only ``force`` lets it through.

        A tool reads only when annotated ``readOnlyHint``: without annotations, the MCP
        specification says a tool may write, and so do we.
        """
        access = "read" if row.get("annotations", {}).get("readOnlyHint") is True else "write"
        if access == "write" and self._read_only:
            raise PermissionDenied(
                f"MCP tool {row['qualified']} may write (it is not annotated readOnlyHint),"
                f" and {self._read_only_reason}",
                tool=f"mcp.{row['qualified']}",
            )
        if self._settings is None:
            self._settings = Config.load()
        policy = self._settings.mcp_permission(server, access)
        if policy == "allow":
            return False
        if self._force:
            return True
        qualified = row["qualified"]
        if policy == "deny":
            raise PermissionDenied(
                f"MCP server '{server}' {access} access denied ({qualified})",
                tool=f"mcp.{qualified}",
            )
        what = "reads" if access == "read" else "may write (it is not annotated readOnlyHint)"
        raise PermissionDenied(
            f"MCP tool {qualified} {what}, and MCP server '{server}' {access} requires"
            f" approval. {approval(f'mcp.{server}', access, agent=self._for_agent)}",
            tool=f"mcp.{qualified}",
        )

    def _listable(self, config: ServerConfig) -> bool:
        try:
            self._usable(config.name)
        except McpError:
            return False
        return True

    def _split(self, qualified: str) -> tuple[str, str]:
        """``server.tool`` → (server, tool); server names may hold dots, tool names too."""
        names = sorted(self._configs, key=len, reverse=True)
        server = next((n for n in names if qualified.startswith(n + ".")), None)
        if server is None:
            server, _, tool = qualified.partition(".")
            if not tool:
                raise McpError(f"MCP tool names look like 'server.tool', got '{qualified}'")
        else:
            tool = qualified[len(server) + 1 :]
        return self._usable(server).name, tool

    # Running on the loop ---------------------------------------------------------------------

    def _run(self, coroutine: Coroutine[Any, Any, _T]) -> _T:
        """Runs one operation on the hub's loop; the operation enforces its own timeout."""
        try:
            loop = self._ensure_loop()
        except McpError:
            coroutine.close()
            raise
        future = asyncio.run_coroutine_threadsafe(coroutine, loop)
        try:
            return future.result(self.timeout * 4 + _LOOP_MARGIN_SECONDS)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise McpServerFailed(
                f"MCP: no answer within {self.timeout:g} s (the client's event loop is stuck)"
            ) from None

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._closed:
                raise McpError("The MCP client is closed")
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name="kosmo-mcp", daemon=True)
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    def _reported(self, path: str, operation: Callable[[], _T], **extra: Any) -> _T:
        with recorded(self._report, path, **extra):
            return operation()

    def _spawned(self, pid: int) -> None:
        """Tells the run at once: if the worker is killed mid-start, the server goes too."""
        if self._report:
            self._report("child", pid)

    # Coroutines (run on the loop) --------------------------------------------------------------

    async def _connection(self, name: str) -> _Connection:
        connection = self._connections.get(name)
        if connection is None:
            connection = _Connection(self._configs[name], self.timeout, self._spawned)
            self._connections[name] = connection
        await connection.started()
        return connection

    async def _tool_rows(self, name: str) -> list[dict[str, Any]]:
        connection = await self._connection(name)
        tools = await connection.tools()
        return [_tool_row(name, tool) for tool in tools]

    async def _all_tool_rows(self, names: list[str]) -> list[list[dict[str, Any]] | McpError]:
        """Every server's tools, the servers started side by side; failures as values."""

        async def rows(name: str) -> list[dict[str, Any]] | McpError:
            try:
                return await self._tool_rows(name)
            except McpError as exc:
                return exc

        return list(await asyncio.gather(*(rows(name) for name in names)))

    async def _find_tool(self, name: str, tool: str) -> dict[str, Any]:
        rows = await self._tool_rows(name)
        for row in rows:
            if row["name"] == tool:
                return row
        raise _unknown(
            f"MCP server '{name}' has no tool '{tool}'", tool, [r["name"] for r in rows], "Tools"
        )

    async def _call(self, name: str, tool: str, args: dict[str, Any]) -> Any:
        connection = await self._connection(name)
        result = await connection.request(
            f"tool {tool}", lambda client: client.call_tool(tool, args)
        )
        return _tool_result(result, f"{name}.{tool}")

    async def _list(self, name: str, kind: str) -> list[dict[str, Any]]:
        connection = await self._connection(name)

        async def fetch_all(client: Any) -> list[Any]:
            items: list[Any] = []
            cursor = None
            method = getattr(client, f"list_{kind}")
            while True:
                page = await method(cursor=cursor)
                items.extend(getattr(page, kind))
                cursor = page.next_cursor
                if not cursor:
                    return items

        items = await connection.request(f"{kind}/list", fetch_all)
        return [_plain(item) for item in items]

    async def _read_resource(self, name: str, uri: str) -> list[dict[str, Any]]:
        connection = await self._connection(name)
        result = await connection.request(
            f"resource {uri}", lambda client: client.read_resource(uri)
        )
        return [_plain(content) for content in result.contents]

    async def _get_prompt(self, name: str, prompt: str, args: dict[str, Any]) -> dict[str, Any]:
        connection = await self._connection(name)
        arguments = {
            key: value if isinstance(value, str) else json.dumps(value)
            for key, value in args.items()
        }
        result = await connection.request(
            f"prompt {prompt}", lambda client: client.get_prompt(prompt, arguments)
        )
        messages: list[dict[str, Any]] = []
        for message in result.messages:
            content = message.content
            if content.type == "text":
                messages.append({"role": message.role, "text": content.text})
            else:
                messages.append({"role": message.role, "content": _plain(content)})
        return {"description": result.description, "messages": messages}

    async def _close_all(self) -> None:
        connections = list(self._connections.values())
        await asyncio.gather(*(c.stop() for c in connections), return_exceptions=True)


class _Connection:
    """One server's session, owned by a task that lives as long as the session.

    The SDK's transports are anyio context managers, which must be entered and left by the
    same task; so one task holds them open and other tasks send requests through the client.
    """

    def __init__(
        self, config: ServerConfig, timeout: float, on_spawn: Callable[[int], None]
    ) -> None:
        self.config = config
        self.timeout = timeout
        self._on_spawn = on_spawn
        self.pid: int | None = None
        self.client: Client | None = None
        self.failure: McpError | None = None
        self._tools: list[Tool] | None = None
        self._errlog: IO[str] | None = None
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._closing = asyncio.Event()

    async def started(self) -> None:
        """Starts the server on first use; raises why it cannot run."""
        if self._task is None:
            self._task = asyncio.create_task(self._hold())
            try:
                await asyncio.wait_for(asyncio.shield(self._ready.wait()), self.timeout)
            except TimeoutError:
                self.failure = McpServerFailed(
                    self._failed(f"did not answer within {self.timeout:g} s while starting")
                )
                self._kill_group()
                await self._end_task()
        else:
            await self._ready.wait()
        if self.failure is not None:
            raise self.failure

    async def tools(self) -> list[Tool]:
        if self._tools is None:
            tools: list[Tool] = []
            cursor = None
            for _ in range(MAX_TOOL_PAGES):
                page = await self.request("tools/list", _tools_page(cursor))
                tools.extend(page.tools)
                cursor = page.next_cursor
                if not cursor or len(tools) > MAX_TOOLS:
                    break
            if cursor or len(tools) > MAX_TOOLS:
                raise McpServerFailed(
                    f"MCP server '{self.config.name}' lists more than {MAX_TOOLS} tools (or"
                    f" {MAX_TOOL_PAGES} pages of them), more than kosmo uses: disable it in"
                    ' its mcp.json ("disabled": true) or serve fewer tools'
                )
            self._tools = tools
        return self._tools

    async def request(self, what: str, send: Callable[[Client], Awaitable[_T]]) -> _T:
        """Sends one request with the timeout; a lost connection fails the server for good."""
        from mcp import MCPError
        from mcp.types import CONNECTION_CLOSED

        if self.failure is not None:
            raise self.failure
        name = self.config.name
        assert self.client is not None  # started() raised unless the session is open
        try:
            return await asyncio.wait_for(send(self.client), self.timeout)
        except TimeoutError:
            raise McpServerFailed(
                f"MCP server '{name}' did not answer {what} within {self.timeout:g} s"
            ) from None
        except MCPError as exc:
            if exc.code != CONNECTION_CLOSED:
                raise McpToolError(
                    f"MCP server '{name}' refused {what}: {exc.message}", detail=exc.message
                ) from None
            self.failure = McpServerFailed(self._failed("stopped unexpectedly"))
        except McpError:
            raise
        except Exception as exc:  # the transport broke: the process died or the link dropped
            self.failure = McpServerFailed(self._failed(f"stopped unexpectedly ({_reason(exc)})"))
        raise self.failure

    async def stop(self) -> None:
        if self._task is not None:
            self._closing.set()
            await self._end_task()

    def kill_leftovers(self) -> None:
        """Kills the server's process group if anything in it survived the session's end."""
        if self.pid is None:
            return
        try:
            os.killpg(self.pid, 0)
        except (ProcessLookupError, PermissionError):
            return
        self._kill_group()

    def release(self) -> None:
        if self._errlog is not None:
            self._errlog.close()
            self._errlog = None

    # The task that holds the session -----------------------------------------------------------

    async def _hold(self) -> None:
        from contextlib import AsyncExitStack

        try:
            async with AsyncExitStack() as stack:
                streams = await self._open(stack)
                client = _client(_Opened(streams))
                await stack.enter_async_context(client)
                self.client = client
                self._ready.set()
                await self._closing.wait()
        except asyncio.CancelledError:
            pass
        except BaseException as exc:
            if self.failure is None:
                self.failure = McpServerFailed(self._failed(f"failed to start: {_reason(exc)}"))
        finally:
            if self.client is None and self.failure is None:
                self.failure = McpServerFailed(self._failed("failed to start"))
            self._ready.set()

    async def _open(self, stack: Any) -> Any:
        config = self.config.launch()
        if config.type == "http":
            from mcp.client.streamable_http import streamable_http_client
            from mcp.shared._httpx_utils import create_mcp_http_client

            http = await stack.enter_async_context(
                create_mcp_http_client(headers=config.headers or None)
            )
            assert config.url is not None
            return await stack.enter_async_context(
                streamable_http_client(config.url, http_client=http)
            )
        from mcp.client.stdio import StdioServerParameters, stdio_client

        assert config.command is not None
        # Open for the session's life (release() closes it): errors quote its tail.
        self._errlog = tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace")  # noqa: SIM115
        parameters = StdioServerParameters(
            command=config.command, args=config.args, env=config.env or None, cwd=config.cwd
        )
        thread = threading.get_native_id()
        before = _children(thread)
        streams = await stack.enter_async_context(stdio_client(parameters, errlog=self._errlog))
        spawned = _children(thread) - before
        if len(spawned) == 1:
            self.pid = spawned.pop()
            self._on_spawn(self.pid)
        return streams

    async def _end_task(self) -> None:
        assert self._task is not None
        if not self._task.done():
            try:
                await asyncio.wait_for(asyncio.shield(self._task), _CLOSE_SECONDS)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                    await asyncio.wait_for(self._task, 2.0)

    def _kill_group(self) -> None:
        if self.pid is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)

    def _failed(self, what: str) -> str:
        """``MCP server 'x' <what> (<command>)`` and the tail of what it wrote to stderr."""
        message = f"MCP server '{self.config.name}' {what} ({self.config.target()})"
        tail = self._stderr_tail()
        return self.config.conceal(f"{message}; its stderr ends with:\n{tail}" if tail else message)

    def _stderr_tail(self) -> str:
        if self._errlog is None:
            return ""
        try:
            self._errlog.flush()
            self._errlog.seek(0, os.SEEK_END)
            size = self._errlog.tell()
            self._errlog.seek(max(0, size - _STDERR_TAIL_CHARS * 4))
            text = self._errlog.read()
        except (OSError, ValueError):
            return ""
        lines = [line for line in text.splitlines() if line.strip()]
        return "\n".join(lines[-_STDERR_TAIL_LINES:])[-_STDERR_TAIL_CHARS:]


class _Opened:
    """A transport already open: the session task opened it to learn the process id first."""

    def __init__(self, streams: Any) -> None:
        self._streams = streams

    async def __aenter__(self) -> Any:
        return self._streams

    async def __aexit__(self, *exc: object) -> None:
        return None


def _client(transport: Transport) -> Client:
    from mcp import Client
    from mcp.types import Implementation

    from .. import __version__

    return Client(
        transport,
        client_info=Implementation(name="kosmo-lua", version=__version__),
        cache=None,
    )


def _tools_page(cursor: str | None) -> Callable[[Client], Awaitable[ListToolsResult]]:
    return lambda client: client.list_tools(cursor=cursor)


def _children(thread_id: int) -> set[int]:
    """Processes the given thread of this process started (Linux); empty where unknown."""
    try:
        with open(f"/proc/self/task/{thread_id}/children", encoding="ascii") as handle:
            return {int(pid) for pid in handle.read().split()}
    except OSError:
        return set()


def _tool_row(server: str, tool: Tool) -> dict[str, Any]:
    row: dict[str, Any] = {
        "server": server,
        "name": tool.name,
        "lua_name": lua_name(tool.name),
        "qualified": f"{server}.{tool.name}",
        "description": tool.description or "",
        "input_schema": tool.input_schema,
    }
    if tool.output_schema is not None:  # its calls answer with structured content of it
        row["output_schema"] = tool.output_schema
    if tool.annotations is not None:
        row["annotations"] = _plain(tool.annotations)
    return row


def _tool_result(result: CallToolResult, qualified: str) -> Any:
    """Structured content, else one text block (JSON-decoded when it parses), else blocks."""
    if result.is_error:
        text = "\n".join(b.text for b in result.content if b.type == "text")
        text = text or "the tool reported an error"
        raise McpToolError(
            f"MCP tool {qualified} failed: {text}", tool=f"mcp.{qualified}", detail=text
        )
    if result.structured_content is not None:
        return result.structured_content
    content = result.content
    if len(content) == 1 and content[0].type == "text":
        text = content[0].text
        try:
            return json.loads(text)
        except ValueError:
            return text
    return [_plain(block) for block in content]


def _plain(model: BaseModel) -> dict[str, Any]:
    """An SDK model as the JSON the protocol uses (camelCase, nothing unset)."""
    plain: dict[str, Any] = model.model_dump(mode="json", by_alias=True, exclude_none=True)
    return plain


def _reason(exc: BaseException) -> str:
    """The innermost useful message of an exception (task groups wrap them)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    text = str(exc).strip()
    return text or type(exc).__name__


def _unknown(message: str, name: str, candidates: list[str], label: str) -> McpError:
    from ..catalog import closest

    hint = closest(name, candidates)
    parts = [message + "."]
    if hint:
        parts.append(f"Did you mean: {', '.join(hint)}?")
    parts.append(f"{label}: {', '.join(sorted(candidates)) or 'none'}")
    return McpError(" ".join(parts))
