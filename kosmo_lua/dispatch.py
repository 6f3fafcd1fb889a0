"""Where ``app.*`` and ``mcp.*`` calls go: built lazily, so a script that calls nothing
imports nothing.

The CLI hands ``AppDispatcher.factory(...)`` to the worker; the worker builds one dispatcher
per process. The first ``app.integrations.*`` call loads the integrations and the HTTP stack;
the first ``app.mcp.*`` or ``mcp.*`` call loads the MCP SDK and starts servers as needed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .errors import ArgumentError, UnknownFunction
from .limits import CONCURRENCY, MEMORY_BYTES
from .result import Report

if TYPE_CHECKING:
    from .invoker import Asker, Invoker
    from .mcp.client import McpHub
    from .runtime.supervisor import DispatchFactory

# mcp.<name>(...) → (the Lua signature for errors, each argument's kind: "s" a string,
# "s?" an optional string, "t?" an optional table). Each is the McpHub method of that name;
# the sandbox's mcp table is made from these names (runtime/engine.py, prelude.lua).
MCP_FUNCTIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "servers": ("mcp.servers()", ()),
    "tools": ("mcp.tools([server])", ("s?",)),
    "schema": ('mcp.schema("server.tool")', ("s",)),
    "call": ('mcp.call("server.tool", args)', ("s", "t?")),
    "resources": ("mcp.resources(server)", ("s",)),
    "read_resource": ("mcp.read_resource(server, uri)", ("s", "s")),
    "prompts": ("mcp.prompts(server)", ("s",)),
    "get_prompt": ("mcp.get_prompt(server, name, args)", ("s", "s", "t?")),
}


class AppDispatcher:
    """One run's router. ``integrations=False`` (``kosmo mcp:lua``) offers MCP only;
    ``max_body_bytes`` bounds an HTTP reply body (the run's ``Limits.body_bytes``)."""

    def __init__(
        self,
        report: Report,
        *,
        force: bool = False,
        emulate: bool = False,
        emulate_data: Mapping[str, str] | None = None,
        integrations: bool = True,
        max_body_bytes: int = MEMORY_BYTES,
        mcp_read_only: bool = False,
        concurrency: int = CONCURRENCY,
        plan: bool = False,
        ask: Asker | None = None,
        for_agent: bool = False,
    ) -> None:
        """``mcp_read_only``: MCP tools that may write are refused (``mcp:serve
        --read-only``); ``concurrency`` bounds the requests one call has in flight;
        ``plan`` and ``ask``: see ``Invoker`` (under ``plan``, MCP tools that may write are
        refused: they cannot be planned); ``for_agent``: refusals are worded for an agent
        (``mcp:serve``, ``advice.py``)."""
        self._report = report
        self._force = force
        self._mcp_read_only = mcp_read_only
        self._emulate = emulate
        self._emulate_data = emulate_data
        self._integrations = integrations
        self._max_body_bytes = max_body_bytes
        self._concurrency = concurrency
        self._plan = plan
        self._ask = ask
        self._for_agent = for_agent
        self._invoker: Invoker | None = None
        self._hub: McpHub | None = None

    @classmethod
    def factory(
        cls,
        *,
        force: bool = False,
        emulate: bool = False,
        emulate_data: Mapping[str, str] | None = None,
        integrations: bool = True,
        max_body_bytes: int = MEMORY_BYTES,
        concurrency: int = CONCURRENCY,
        plan: bool = False,
    ) -> DispatchFactory:
        return lambda report: cls(
            report,
            force=force,
            emulate=emulate,
            emulate_data=emulate_data,
            integrations=integrations,
            max_body_bytes=max_body_bytes,
            concurrency=concurrency,
            plan=plan,
        )

    def __call__(self, path: str, args: list[Any]) -> tuple[Any, ...]:
        if path.startswith(("app.mcp.", "mcp.")):
            return self._mcp(path, args)
        if not self._integrations:
            raise UnknownFunction(
                f"Unknown function: {path}. kosmo mcp:lua offers only mcp.* and app.mcp.*;"
                " run integrations with kosmo integrations:lua"
            )
        if self._invoker is None:
            self._invoker = self._build_invoker()
        return self._invoker(path, args)

    def close(self) -> None:
        """Ends every MCP session and HTTP client; the worker calls it before it exits."""
        if self._hub is not None:
            self._hub.close()
        if self._invoker is not None:
            self._invoker.close()

    def _build_invoker(self) -> Invoker:
        return run_invoker(
            report=self._report,
            force=self._force,
            emulate=self._emulate,
            emulate_data=self._emulate_data,
            max_body_bytes=self._max_body_bytes,
            concurrency=self._concurrency,
            plan=self._plan,
            ask=self._ask,
            for_agent=self._for_agent,
        )

    def _mcp(self, path: str, args: list[Any]) -> tuple[Any, ...]:
        hub = self._mcp_hub()
        if path.startswith("app.mcp."):
            parts = path.split(".")
            if len(parts) != 4:
                raise UnknownFunction(
                    f"Unknown function: {path}. MCP tools are app.mcp.<server>.<tool>(args)"
                )
            return (hub.call(hub.resolve_lua(parts[2], parts[3]), _table_arg(path, args)),)
        name = path.removeprefix("mcp.")
        if name not in MCP_FUNCTIONS:
            raise UnknownFunction(
                f"Unknown function: {path}. Available: "
                + ", ".join(f"mcp.{n}" for n in MCP_FUNCTIONS)
            )
        signature, kinds = MCP_FUNCTIONS[name]
        return (getattr(hub, name)(*_checked(signature, kinds, args)),)

    def _mcp_hub(self) -> McpHub:
        if self._hub is None:
            from pathlib import Path

            from .config import kosmo_home
            from .mcp.client import READ_ONLY_SERVER, McpHub
            from .mcp.servers import load_servers

            servers = load_servers(Path.cwd(), kosmo_home())
            self._hub = McpHub(
                servers,
                force=self._force,
                read_only=self._mcp_read_only or self._plan,
                report=self._report,
                read_only_reason=READ_ONLY_SERVER
                if self._mcp_read_only
                else "--plan sends no write (an MCP tool's call cannot be planned)",
                for_agent=self._for_agent,
            )
        return self._hub


def run_invoker(
    *,
    report: Report,
    force: bool = False,
    emulate: bool = False,
    emulate_data: Mapping[str, str] | None = None,
    max_body_bytes: int = MEMORY_BYTES,
    concurrency: int = CONCURRENCY,
    plan: bool = False,
    ask: Asker | None = None,
    for_agent: bool = False,
) -> Invoker:
    """The invoker of one run: the installed integrations, the user's configuration and
    environment, under ``--emulate`` the integrations' emulators, and the run's bounds on a
    reply body (``Limits.body_bytes``) and on requests in flight (``--concurrency``)."""
    import os

    from .catalog import Catalog
    from .config import Config
    from .emulation import Emulation
    from .integrations import load
    from .invoker import Invoker

    return Invoker(
        Catalog(load()),
        Config.load(),
        report=report,
        force=force,
        environ=dict(os.environ),
        emulation=Emulation(emulate_data) if emulate else None,
        max_body_bytes=max_body_bytes,
        concurrency=concurrency,
        plan=plan,
        ask=ask,
        for_agent=for_agent,
    )


def _table_arg(path: str, args: list[Any]) -> dict[str, Any]:
    if not args or args[0] == []:
        return {}
    if len(args) > 1 or not isinstance(args[0], dict):
        raise ArgumentError(f"{path} takes one table of named arguments")
    return args[0]


def _checked(signature: str, kinds: tuple[str, ...], args: list[Any]) -> list[Any]:
    """The arguments of an mcp.* function, checked against its kinds, before any server starts."""
    while args and args[-1] is None:
        args = args[:-1]
    if len(args) > len(kinds):
        raise ArgumentError(f"{signature} takes at most {len(kinds)} arguments")
    checked = []
    for position, kind in enumerate(kinds, 1):
        value = args[position - 1] if position <= len(args) else None
        if value is None and kind.endswith("?"):
            break
        if kind.startswith("s") and not isinstance(value, str):
            raise ArgumentError(f"{signature}: argument {position} must be a string")
        if kind.startswith("t"):
            if value == []:  # an empty Lua table arrives as a list
                value = {}
            if not isinstance(value, dict):
                raise ArgumentError(f"{signature}: argument {position} must be a table")
        checked.append(value)
    return checked
