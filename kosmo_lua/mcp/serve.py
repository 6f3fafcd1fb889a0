"""This host as an MCP server: agents run Lua through ``execute_lua`` and read the reference.

The tools keep the original's names and arguments (``execute_lua`` with ``code``,
``memoryLimit``, ``cpuLimit``; ``lua_read_doc``, ``lua_list_docs``, ``lua_search_docs``), so
agents configured for it work unchanged; ``execute_lua`` answers with a compact reply made
for agents (``reply.py``: the outcome once, ``isError`` and a hint on failure, within a byte
budget), not the command line's envelope. ``expose_integrations`` adds every integration
function as a tool of its own (``buildkite_get_build``), with its JSON Schema, read/write
annotations and an ``account`` argument, for clients that prefer one call per tool to a
script. ``emulate`` sends every integration to its built-in emulator.

Permissions are the same as on the command line: a write needs ``allow`` in the integration's
(or MCP server's) policy, or a server started with ``force``. ``read_only`` hides the write
tools and also refuses writes from inside ``execute_lua``, integration functions and MCP tools
not annotated ``readOnlyHint`` alike, so a read-only server cannot change anything.

Each ``execute_lua`` runs in a fresh worker of its own (``runtime/zygote.py`` keeps one
ready), within the server's ``RunLimits``: a wall-clock timeout, caps on what a client may
ask for, and a bound on runs at once, so one slow run (or session) does not hold up the
others. The SDK's loop handles each request in a task of its own; ``execute_lua`` waits for
its worker's replies on that loop (no thread: a hand-off to one and back cost as much as the
rest of a short call), the other tools run in a thread. So calls from one client run side by
side too, up to that bound, and a call its client cancels kills its worker.

The tools are plain Python (``HostTools``); only ``serve()`` and ``build_server()`` touch the
SDK, and they import it when called.
"""

from __future__ import annotations

import functools
import math
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from .. import redact
from ..calls import recorded
from ..config import DEFAULT_ACCOUNT
from ..errors import HostError, PermissionDenied, UsageError
from ..limits import MAX_CALLS, MIB, MIN_MEMORY, Limits
from ..result import ExecutionResult, Report
from .reply import MAX_REPLY_BYTES, MIN_REPLY_BYTES, REPLY_BYTES, compact, encode, fit

if TYPE_CHECKING:
    import anyio
    from mcp.server import Server, ServerRequestContext
    from starlette.types import ASGIApp, Receive, Scope, Send

    from ..calls import BoundedReport
    from ..catalog import Catalog
    from ..dispatch import AppDispatcher
    from ..invoker import Invoker
    from ..reference import Reference
    from ..runtime.engine import Dispatcher
    from ..runtime.supervisor import Asking, DispatchFactory
    from ..runtime.zygote import Spawned
    from ..tools import Tool

EXECUTE_LUA_DESCRIPTION = """\
Run Lua 5.4 in a sandbox. One script may make many calls: prefer one script to many tool \
calls. Integration functions (app.integrations.NAME.fn{named args}) raise errors (pcall; \
err.status). \
Also json.encode/decode, regex.match/match_all/gsub, print, app.map(items, fn) to call in \
parallel, docs.read/search. Find functions with lua_search_docs, arguments with lua_read_doc. \
Replies compact JSON: success, result (the return values) or error, output, \
integration_calls, meta (meta.error.hint: what to do next; meta.truncated: cut to \
maxReplyBytes). Return only the fields you need."""

SERVER_INSTRUCTIONS = """\
Runs Lua scripts against integrations (Buildkite, ...): write one execute_lua script instead \
of many calls."""


SEARCH_LINES = 8  # lua_search_docs' answer: the best few, not every function a word matches


class ToolFailed(Exception):
    """A tool call failed; the message becomes an MCP error result (``isError``)."""


class ToolReply(NamedTuple):
    """A tool's answer: its text, its structured content (or None), and whether it is an
    error (``isError``: a script that failed answers so, with its reply)."""

    text: str
    structured: Any = None
    error: bool = False


@dataclass(frozen=True)
class RunLimits:
    """What one ``execute_lua`` run may use on this server; clients ask within it.

    ``timeout_seconds`` is every run's wall-clock limit and the most a client may ask for;
    ``max_memory_bytes`` and ``max_cpu_seconds`` cap ``memoryLimit`` and ``cpuLimit``;
    ``max_runs`` runs at once (each in its own worker), the next waits for a free one; a
    ``mode = "check"`` counts as a run (it is done in the server's process).
    """

    timeout_seconds: float = 120.0
    max_memory_bytes: int = 256 * MIB
    max_cpu_seconds: float = 60.0
    max_runs: int = 4


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
        limits: RunLimits | None = None,
        mcp_servers: bool = False,
        emulate: bool = False,
    ) -> None:
        """``mcp_servers``: MCP servers are configured, so runs may call them (their workers
        then start with the MCP client loaded). ``emulate``: every integration talks to its
        built-in emulator (``integrations:lua --emulate``), for trying agents offline."""
        self.read_only = read_only
        self.expose_integrations = expose_integrations
        self.force = force
        self.emulate = emulate
        self.limits = limits or RunLimits()
        self._runs = threading.BoundedSemaphore(self.limits.max_runs)
        self._integration_tools: dict[str, Tool] | None = None
        self._invoker: Invoker | None = None
        # Calls run in threads: the lock guards making (and closing) the session's invoker,
        # not the calls, so one slow call never holds up another session's.
        self._invoker_lock = threading.Lock()
        self._async_runs: anyio.Semaphore | None = None  # made on the server's loop
        from ..runtime.zygote import WorkerPool

        self._pool = WorkerPool(
            self._dispatch_factory, limits=self.run_limits({}), mcp_client=mcp_servers
        )

    def start(self) -> None:
        """Starts the worker pool now (``execute_lua`` does so when needed); ``serve()`` calls
        it before it loads the SDK, so workers come from a small, single-threaded process."""
        self._pool.start()

    # Listing -------------------------------------------------------------------------------

    def listing(self) -> list[dict[str, Any]]:
        """Every tool as ``{name, description, inputSchema, annotations}``."""
        tools = [
            {
                "name": "execute_lua",
                "description": EXECUTE_LUA_DESCRIPTION
                + (" This server is read-only: writes are refused." if self.read_only else "")
                + _sheets(),
                "inputSchema": self._execute_lua_schema(),
                "annotations": {
                    "title": "Run Lua",
                    "readOnlyHint": self.read_only,
                    "destructiveHint": not self.read_only,
                    "openWorldHint": True,
                },
            },
            _doc_tool(
                "lua_read_doc",
                "Read a page of the Lua reference: lua, json, regex, an integration"
                " (buildkite) or a function (buildkite.get_build), with its arguments.",
                {"page": {"type": "string"}},
                ["page"],
            ),
            _doc_tool("lua_list_docs", "The reference's index: every page and function.", {}, []),
            _doc_tool(
                "lua_search_docs",
                "Find integration functions for a phrase ('tail log of failed job'), best first.",
                {"query": {"type": "string"}},
                ["query"],
            ),
        ]
        accounts = self._accounts()
        for name, tool in self._integrations().items():
            if self.read_only and tool.access == "write":
                continue
            tools.append(
                {
                    "name": name,
                    "description": tool.summary,
                    "inputSchema": _exposed_schema(tool.schema(), accounts[tool.integration]),
                    "annotations": {
                        "readOnlyHint": tool.access == "read",
                        "destructiveHint": tool.access == "write",
                        "openWorldHint": True,
                    },
                }
            )
        return tools

    # Calling -------------------------------------------------------------------------------

    def call(self, name: str, args: dict[str, Any] | None) -> ToolReply:
        """Runs tool ``name``.

        Raises ``ToolFailed`` for a failed call, ``KeyError`` for an unknown tool.
        """
        args = _given(args)
        if name == "execute_lua":
            return _lua_reply(self.execute_lua(args))
        if name in ("lua_read_doc", "lua_list_docs", "lua_search_docs"):
            try:
                return _doc_reply(name, args)
            except HostError as exc:  # a page name or query past MAX_QUERY
                raise ToolFailed(str(exc)) from None
        tool = self._integrations().get(name)
        if tool is None or (self.read_only and tool.access == "write"):
            raise KeyError(name)
        budget = _reply_budget(args)  # before anything is sent
        args = {key: value for key, value in args.items() if key != "maxReplyBytes"}
        data, _ = fit(self.call_integration(tool, args), budget, whole_top=False)
        text = data if isinstance(data, str) else encode(data)
        return ToolReply(text, data if isinstance(data, dict) else None)

    async def call_async(
        self, name: str, args: dict[str, Any] | None, ask: Asking | None = None
    ) -> ToolReply:
        """``call`` on the server's event loop: ``execute_lua`` waits for its worker with the
        loop (``execute_lua_async``); the other tools run in a thread. ``ask`` answers a
        run's questions about writes under the ``ask`` policy (``approval.asker``)."""
        if name != "execute_lua":
            import anyio.to_thread

            return await anyio.to_thread.run_sync(self.call, name, args)
        return _lua_reply(await self.execute_lua_async(_given(args), ask))

    def execute_lua(self, args: dict[str, Any]) -> dict[str, Any]:
        """Runs the code in a fresh worker, within the limits asked for and the server's
        caps; returns the reply (``reply.compact``). At most ``max_runs`` run at once (of
        those called this way: the server's own go through ``execute_lua_async``)."""
        from ..runtime.zygote import PoolError

        code = _string(args, "code")
        budget = _reply_budget(args)
        if _mode(args) == "check":  # in this process, so it counts as a run
            with self._runs:
                return _checked(code, budget)
        limits = self.run_limits(args)
        try:
            with self._runs, self._pool.worker(limits) as worker:
                result = worker.run(code, "execute_lua")
        except PoolError as exc:
            raise ToolFailed(str(exc)) from None
        return self._reply(result, limits, budget)

    async def execute_lua_async(
        self, args: dict[str, Any], ask: Asking | None = None
    ) -> dict[str, Any]:
        """``execute_lua`` in a task on the server's event loop, with no thread: the run
        takes the worker the zygote pushed ahead of need (or waits in a thread for one) and
        waits for its replies with the loop. At most ``max_runs`` run (or check) at once."""
        import anyio

        from ..runtime.zygote import PoolError

        code = _string(args, "code")
        limits = None if _mode(args) == "check" else self.run_limits(args)
        budget = _reply_budget(args)
        if self._async_runs is None:
            self._async_runs = anyio.Semaphore(self.limits.max_runs, fast_acquire=True)
        async with self._async_runs:
            if limits is None:  # a check is done in this process: it counts as a run
                import anyio.to_thread

                return await anyio.to_thread.run_sync(_checked, code, budget)
            worker = self._pool.worker(limits)
            try:
                worker.adopt(self._pool.take_ready() or await self._take())
            except PoolError as exc:
                raise ToolFailed(str(exc)) from None
            result = await worker.run_async(code, "execute_lua", on_ask=ask)
        return self._reply(result, limits, budget)

    def _reply(self, result: ExecutionResult, limits: Limits, budget: int) -> dict[str, Any]:
        if self.emulate:
            result.meta["emulated"] = True  # as integrations:lua --emulate says: demo data
        return compact(result, limits, budget)

    async def _take(self) -> Spawned:
        """A worker when none was pushed ahead of need (calls at once took it): the zygote's
        ready one, asked for in a thread. Never dropped once taken, even by a cancel."""
        import anyio.to_thread

        with anyio.CancelScope(shield=True):
            spawned = await anyio.to_thread.run_sync(self._pool.take)
        return spawned

    def run_limits(self, args: dict[str, Any]) -> Limits:
        """The limits of one run: what the client asked for (``memoryLimit``, ``cpuLimit``,
        ``timeout``, ``maxCalls``) or the defaults, each refused past the server's cap."""
        caps, defaults = self.limits, Limits()
        memory = args.get("memoryLimit", min(defaults.memory_bytes, caps.max_memory_bytes))
        if isinstance(memory, float) and memory.is_integer():
            memory = int(memory)
        if isinstance(memory, bool) or not isinstance(memory, int):
            raise ToolFailed("memoryLimit must be a positive whole number of bytes")
        cpu = args.get("cpuLimit", min(defaults.cpu_seconds, caps.max_cpu_seconds))
        timeout = args.get("timeout", caps.timeout_seconds)
        max_calls = args.get("maxCalls")
        if max_calls is not None and (
            isinstance(max_calls, bool) or not isinstance(max_calls, int) or max_calls < 0
        ):
            raise ToolFailed("maxCalls must be a whole number of calls, 0 or more")
        if max_calls is not None and max_calls > MAX_CALLS:
            raise ToolFailed(
                f"maxCalls must be at most {MAX_CALLS}; leave it out for no bound on calls"
            )
        if memory < MIN_MEMORY:
            raise ToolFailed(f"memoryLimit must be at least {MIN_MEMORY} bytes (the sandbox's own)")
        return Limits(
            memory_bytes=int(_capped("memoryLimit", memory, caps.max_memory_bytes, "bytes")),
            cpu_seconds=_capped("cpuLimit", cpu, caps.max_cpu_seconds, "seconds"),
            timeout_seconds=_capped("timeout", timeout, caps.timeout_seconds, "seconds"),
            max_calls=max_calls,
        )

    def _dispatch_factory(self, limits: Limits) -> DispatchFactory:
        """What builds a run's dispatcher in its worker: HTTP replies bounded by the run's
        memory limit, as on the command line; under ``read_only``, no writes."""
        from ..dispatch import AppDispatcher

        def build(report: BoundedReport) -> Dispatcher:
            inner = AppDispatcher(
                report,
                force=self.force,
                emulate=self.emulate,
                max_body_bytes=limits.body_bytes,
                mcp_read_only=self.read_only,
                concurrency=limits.concurrency,
                ask=report.ask,  # a write under `ask`: the parent asks
                for_agent=True,
            )
            return ReadOnlyDispatch(inner, report) if self.read_only else inner

        return build

    def _execute_lua_schema(self) -> dict[str, Any]:
        caps, defaults = self.limits, Limits()
        memory = min(defaults.memory_bytes, caps.max_memory_bytes)
        cpu = min(defaults.cpu_seconds, caps.max_cpu_seconds)
        return {
            "type": "object",
            "properties": {
                "code": {"type": "string"},
                "memoryLimit": {
                    "type": "integer",
                    "minimum": MIN_MEMORY,
                    "maximum": caps.max_memory_bytes,
                    "description": f"Bytes (default {memory}).",
                },
                "cpuLimit": {
                    "type": "number",
                    "exclusiveMinimum": 0,
                    "maximum": caps.max_cpu_seconds,
                    "description": f"CPU seconds (default {cpu:g}).",
                },
                "timeout": {
                    "type": "number",
                    "exclusiveMinimum": 0,
                    "maximum": caps.timeout_seconds,
                    "description": "Wall-clock seconds (default the maximum).",
                },
                "maxCalls": {
                    "type": "integer",
                    "minimum": 0,
                    "maximum": MAX_CALLS,
                    "description": "Integration and MCP calls allowed (default no bound).",
                },
                "maxReplyBytes": REPLY_BYTES_PROPERTY,
                "mode": {
                    "type": "string",
                    "enum": list(MODES),
                    "description": "check: report mistakes by line, run nothing.",
                },
            },
            "required": ["code"],
        }

    def call_integration(self, tool: Tool, args: dict[str, Any]) -> Any:
        """One integration function, through the same invoker (and policy) as the CLI, with
        the account ``args["account"]`` names (checked against the configured ones). The
        session's invoker reads the settings on its first call."""
        args = dict(args)
        account = args.pop("account", DEFAULT_ACCOUNT)
        if account != DEFAULT_ACCOUNT:
            accounts = self._accounts(always=True)[tool.integration]
            if account not in accounts:
                raise ToolFailed(
                    f"Unknown {tool.integration} account {account!r}: 'account' must be one of"
                    f" {', '.join(accounts)}. Nothing was sent."
                )
        path = f"app.integrations.{tool.integration}.{account}.{tool.name}"
        try:
            with self._invoker_lock:
                if self._invoker is None:
                    from ..dispatch import run_invoker

                    self._invoker = run_invoker(
                        report=lambda kind, value: None,
                        force=self.force,
                        emulate=self.emulate,
                        for_agent=True,
                    )
                invoker = self._invoker
            data, _meta = invoker.invoke(path, [args])
        except (HostError, ValueError) as exc:
            raise ToolFailed(redact.redact(str(exc))) from None
        return redact.scrub(data)  # an API can echo a token back; no client may see it

    def close(self) -> None:
        """Ends the session: closes the integration tools' HTTP clients and the worker pool."""
        with self._invoker_lock:
            if self._invoker is not None:
                self._invoker.close()
                self._invoker = None
        self._pool.close()

    def _accounts(self, *, always: bool = False) -> dict[str, list[str]]:
        """Each integration's accounts, ``default`` first: what ``account`` may name (read
        when asked: accounts configured since the listing count)."""
        if not (self.expose_integrations or always):
            return {}
        from ..config import Config
        from ..integrations import load

        config = Config.load()
        return {
            integration.name: [
                DEFAULT_ACCOUNT,
                *(a for a in config.accounts(integration.name) if a != DEFAULT_ACCOUNT),
            ]
            for integration in load()
        }

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


def _sheets() -> str:
    """The installed integration's signature sheet (its functions, arguments and result
    types in ~1.5 KB), so a typical task needs no docs read; with several, where each one's
    is (all of them would crowd every client's tool list)."""
    from ..integrations import load
    from ..reference.quick import quick_sheet

    integrations = load()
    if len(integrations) == 1:
        return "\n\n" + quick_sheet(integrations[0])
    pages = ", ".join(f'docs.read("{integration.name}.quick")' for integration in integrations)
    return f" Each integration's functions and result types in brief: {pages}."


class ReadOnlyDispatch:
    """Refuses integration functions that write before they reach the invoker, whatever the
    policy. (MCP tools that may write are refused by the run's hub itself, which resolves
    every spelling of a server's name: ``AppDispatcher(mcp_read_only=True)``.)"""

    def __init__(self, inner: AppDispatcher, report: Report) -> None:
        self._inner = inner
        self._report = report
        self._catalog: Catalog | None = None

    def __call__(self, path: str, args: list[Any]) -> tuple[Any, ...]:
        tool = self._tool(path)
        if tool is not None and tool.access == "write":
            self._refuse(path.removeprefix("app."), tool.full_name, f"{tool.full_name} writes")
        return self._inner(path, args)

    def close(self) -> None:
        """Ends the run's MCP sessions and HTTP clients: the worker closes the dispatcher it
        was given, this one."""
        self._inner.close()

    def _refuse(self, path: str, tool: str, what: str) -> None:
        with recorded(self._report, path, tool=tool):
            raise PermissionDenied(
                f"{what}, and this MCP server is read-only: it may not change anything", tool=tool
            )

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
        from .approval import asker

        try:
            reply = await tools.call_async(params.name, params.arguments or {}, asker(ctx))
        except ToolFailed as exc:
            return CallToolResult(content=[TextContent(type="text", text=str(exc))], is_error=True)
        except KeyError:
            raise MCPError(code=INVALID_PARAMS, message=f"Unknown tool: {params.name}") from None
        return CallToolResult(
            content=[TextContent(type="text", text=reply.text)],
            structured_content=reply.structured,
            is_error=reply.error,
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
    limits: RunLimits | None = None,
    auth_token: str | None = None,
    mcp_servers: bool = False,
    emulate: bool = False,
) -> None:
    """Serves until the client leaves (stdio) or the process is stopped (http, at /mcp).

    Over HTTP, ``auth_token`` makes every request show ``Authorization: Bearer <token>``;
    off loopback it is required, since anyone who reaches the port could run scripts with
    this user's tokens. ``mcp_servers``: MCP servers are configured (see ``HostTools``).
    """
    if transport not in ("stdio", "http", "streamable-http"):
        raise UsageError(f"Unknown MCP transport {transport!r}: use stdio or http")
    if transport != "stdio" and not auth_token and not _loopback(host):
        raise UsageError(
            f"kosmo mcp:serve will not listen on {host} without authentication: put a token"
            " in an environment variable and pass --auth-token-env NAME, or serve on 127.0.0.1"
        )
    tools = HostTools(
        read_only=read_only,
        expose_integrations=expose_integrations,
        force=force,
        limits=limits,
        mcp_servers=mcp_servers,
        emulate=emulate,
    )
    try:
        tools.start()  # before the SDK and its threads: the zygote forks from a small process
        import anyio

        server = build_server(tools)
        _kill_workers_on_termination()
        if transport == "stdio":
            anyio.run(_serve_stdio, server)
        else:
            anyio.run(_serve_http, server, host, port, auth_token)
    finally:
        tools.close()


async def _serve_stdio(server: Server[Any]) -> None:
    from mcp.server.stdio import stdio_server

    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())


async def _serve_http(server: Server[Any], host: str, port: int, token: str | None) -> None:
    import uvicorn

    from ..runtime.supervisor import kill_all

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            kill_all()  # a run in progress would hold up the graceful shutdown until it ends
            super().handle_exit(sig, frame)

    # On loopback the SDK checks Host and Origin (DNS rebinding); elsewhere _HttpGuard checks
    # Origin, and the token stands in for Host, which names whatever clients reach us by.
    app = _HttpGuard(server.streamable_http_app(host=host), token, not _loopback(host))
    config = uvicorn.Config(app, host=host, port=port, log_level="warning")
    await Server(config).serve()


class _HttpGuard:
    """ASGI middleware: a request needs ``Authorization: Bearer <token>`` when a token is set
    (compared in constant time), and with ``same_origin`` a browser's request (an ``Origin``
    header) must come from the address it is sent to."""

    def __init__(self, app: ASGIApp, token: str | None, same_origin: bool) -> None:
        self._app = app
        self._token = token.encode() if token else None
        self._same_origin = same_origin

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = dict(scope["headers"])
            if self._token is not None and not self._authorized(headers):
                await _answer(send, 401, "Unauthorized: send Authorization: Bearer <token>")
                return
            origin = headers.get(b"origin")
            if self._same_origin and origin is not None and not _same_origin(origin, headers):
                await _answer(send, 403, "Forbidden: requests from another site are refused")
                return
        await self._app(scope, receive, send)

    def _authorized(self, headers: dict[bytes, bytes]) -> bool:
        import hmac

        assert self._token is not None
        scheme, _, credential = headers.get(b"authorization", b"").partition(b" ")
        return scheme.lower() == b"bearer" and hmac.compare_digest(credential.strip(), self._token)


def _same_origin(origin: bytes, headers: dict[bytes, bytes]) -> bool:
    host = headers.get(b"host", b"")
    return origin in (b"http://" + host, b"https://" + host)


async def _answer(send: Send, status: int, text: str) -> None:
    body = text.encode()
    headers = [(b"content-type", b"text/plain; charset=utf-8")]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


# The addresses the MCP SDK guards with its Host/Origin checks: only on these may --http run
# without a token (127.0.0.2 is loopback too, but unguarded against DNS rebinding).
GUARDED_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _loopback(host: str) -> bool:
    return host in GUARDED_LOOPBACK


def _kill_workers_on_termination() -> None:
    """SIGTERM and SIGHUP kill the running Lua worker, and what it started, before this process
    dies of the signal. Runs happen in threads, which signals do not reach (after SIGKILL, each
    worker's lifeline ends it)."""
    import signal

    from ..runtime.supervisor import TERMINATIONS, kill_all

    def terminate(signum: int, frame: object) -> None:
        kill_all()
        signal.signal(signum, signal.SIG_DFL)
        signal.raise_signal(signum)

    for number in TERMINATIONS:
        signal.signal(number, terminate)


def _lua_reply(reply: dict[str, Any]) -> ToolReply:
    """execute_lua's answer: the reply as structured content and, for clients that read only
    text, as its compact JSON; an error when the script failed."""
    return ToolReply(encode(reply), reply, error=not reply["success"])


def _doc_reply(name: str, args: dict[str, Any]) -> ToolReply:
    if name == "lua_read_doc":
        return ToolReply(_reference().read(_string(args, "page")))
    if name == "lua_list_docs":
        return ToolReply(_reference().index())
    query = _string(args, "query")
    lines = _reference().search(query, limit=SEARCH_LINES)
    return ToolReply("\n".join(lines) if lines else f"No functions match '{query}'.")


def _given(args: dict[str, Any] | None) -> dict[str, Any]:
    """A call's arguments without those sent as null: clients send null for "not given"."""
    return {name: value for name, value in (args or {}).items() if value is not None}


def _reply_budget(args: dict[str, Any]) -> int:
    budget = args.get("maxReplyBytes", REPLY_BYTES)
    if isinstance(budget, float) and budget.is_integer():
        budget = int(budget)
    if isinstance(budget, bool) or not isinstance(budget, int):
        raise ToolFailed("maxReplyBytes must be a whole number of bytes")
    if not MIN_REPLY_BYTES <= budget <= MAX_REPLY_BYTES:
        raise ToolFailed(
            f"maxReplyBytes must be from {MIN_REPLY_BYTES} to {MAX_REPLY_BYTES} bytes;"
            f" leave it out for {REPLY_BYTES}"
        )
    return budget


REPLY_BYTES_PROPERTY = {
    "type": "integer",
    "minimum": MIN_REPLY_BYTES,
    "maximum": MAX_REPLY_BYTES,
    "description": f"Reply size (default {REPLY_BYTES}).",
}
"""``maxReplyBytes``, on execute_lua and on every exposed function."""


def _exposed_schema(schema: dict[str, Any], accounts: list[str]) -> dict[str, Any]:
    """An exposed function's schema with ``account`` (which configured account to use) and
    ``maxReplyBytes`` (a listing is cut to it, as execute_lua's replies are)."""
    account = {
        "type": "string",
        "enum": accounts,
        "description": f"The account to use (default {DEFAULT_ACCOUNT}).",
    }
    own = schema.get("properties", {})
    return {
        **schema,
        "properties": {**own, "account": account, "maxReplyBytes": REPLY_BYTES_PROPERTY},
    }


def _doc_tool(
    name: str, description: str, properties: dict[str, Any], required: list[str]
) -> dict[str, Any]:
    return {
        "name": name,
        "description": description,
        "inputSchema": {"type": "object", "properties": properties, "required": required},
        "annotations": {"readOnlyHint": True, "destructiveHint": False, "openWorldHint": False},
    }


_CAP_OPTIONS = {"memoryLimit": "--max-memory-limit", "cpuLimit": "--max-cpu-limit"}


def _capped(name: str, value: Any, maximum: float, unit: str) -> float:
    """``value`` if it is a positive number no larger than the server's ``maximum``; refused
    otherwise (never lowered quietly: the client would think it got what it asked for)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ToolFailed(f"{name} must be a positive number of {unit}")
    if not (value > 0 and (isinstance(value, int) or math.isfinite(value))):
        raise ToolFailed(f"{name} must be a positive number of {unit}")
    if value > maximum:  # before any float(): a JSON integer may be past a float's range
        option = _CAP_OPTIONS.get(name, "--timeout")
        asked = _number(value) if value < 10**15 else "(over 10^15)"
        raise ToolFailed(
            f"{name} {asked} is more than this server allows: at most"
            f" {_number(maximum)} {unit} (kosmo mcp:serve {option}). Ask for less, or leave it"
            " out for the default."
        )
    return value


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


MODES = ("run", "check")


def _mode(args: dict[str, Any]) -> str:
    mode = args.get("mode", "run")
    if mode not in MODES:
        raise ToolFailed(f"mode must be one of {', '.join(MODES)}, got {mode!r:.80}")
    return str(mode)


def _checked(code: str, budget: int) -> dict[str, Any]:
    """``mode = "check"``: the check's findings (checker.py) as a run's reply; nothing runs."""
    from ..checker import check_result

    return compact(check_result(code, "execute_lua"), Limits(), budget)


def _string(args: dict[str, Any], name: str) -> str:
    value = args.get(name)
    if not isinstance(value, str):
        raise ToolFailed(f"'{name}' must be a string")
    return value


@functools.cache
def _reference() -> Reference:
    from ..reference import load_reference

    return load_reference()
