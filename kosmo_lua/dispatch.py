"""Where ``app.*`` and ``mcp.*`` calls go: built lazily, so a script that calls nothing
imports nothing.

The CLI hands ``AppDispatcher.factory(...)`` to the worker; the worker builds one dispatcher
per process. The first ``app.integrations.*`` call loads the integrations and the HTTP stack;
the first ``app.mcp.*`` or ``mcp.*`` call loads the MCP SDK and starts servers as needed.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from .errors import ArgumentError, UnknownFunction
from .runtime.supervisor import DispatchFactory, Report

# mcp.<name>(...) → (hub method, the Lua signature for errors, which arguments are strings)
MCP_FUNCTIONS: dict[str, tuple[str, str, tuple[bool, ...]]] = {
    "servers": ("servers", "mcp.servers()", ()),
    "tools": ("tools", "mcp.tools([server])", (False,)),
    "schema": ("schema", 'mcp.schema("server.tool")', (True,)),
    "call": ("call", 'mcp.call("server.tool", args)', (True, False)),
    "resources": ("resources", "mcp.resources(server)", (True,)),
    "read_resource": ("read_resource", "mcp.read_resource(server, uri)", (True, True)),
    "prompts": ("prompts", "mcp.prompts(server)", (True,)),
    "get_prompt": ("get_prompt", "mcp.get_prompt(server, name, args)", (True, True, False)),
}


class AppDispatcher:
    """One run's router. ``integrations=False`` (``kosmo mcp:lua``) offers MCP only."""

    def __init__(
        self,
        report: Report,
        *,
        force: bool = False,
        emulate: bool = False,
        emulate_data: str | None = None,
        integrations: bool = True,
    ) -> None:
        self._report = report
        self._force = force
        self._emulate = emulate
        self._emulate_data = emulate_data
        self._integrations = integrations
        self._invoker: Callable[[str, list[Any]], tuple[Any, ...]] | None = None
        self._hub: Any = None
        self._children: set[int] = set()

    @classmethod
    def factory(
        cls,
        *,
        force: bool = False,
        emulate: bool = False,
        emulate_data: str | None = None,
        integrations: bool = True,
    ) -> DispatchFactory:
        return lambda report: cls(
            report,
            force=force,
            emulate=emulate,
            emulate_data=emulate_data,
            integrations=integrations,
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
        """Ends every MCP session; the worker calls it before it exits."""
        if self._hub is not None:
            self._hub.close()

    def _build_invoker(self) -> Callable[[str, list[Any]], tuple[Any, ...]]:
        from .catalog import Catalog
        from .config import Config
        from .integrations import load
        from .invoker import Invoker

        return Invoker(
            Catalog(load()),
            Config.load(),
            force=self._force,
            report=self._report,
            emulate=self._emulate,
            emulate_data=self._emulate_data,
            environ=dict(os.environ),
        )

    def _mcp(self, path: str, args: list[Any]) -> tuple[Any, ...]:
        hub = self._mcp_hub()
        try:
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
            method, signature, strings = MCP_FUNCTIONS[name]
            _check_strings(signature, strings, args)
            args = [{} if value == [] else value for value in args]  # {} arrives as a list
            return (getattr(hub, method)(*args[: len(strings)]),)
        finally:
            self._report_children(hub)

    def _mcp_hub(self) -> Any:
        if self._hub is None:
            from pathlib import Path

            from .config import kosmo_home
            from .mcp.client import McpHub
            from .mcp.servers import load_servers

            servers = load_servers(Path.cwd(), kosmo_home())
            self._hub = McpHub(servers, force=self._force, report=self._report)
        return self._hub

    def _report_children(self, hub: Any) -> None:
        """Tells the supervisor about new server processes, so a killed run takes them too."""
        for pid in hub.pids.values():
            if pid not in self._children:
                self._children.add(pid)
                self._report("child", pid)


def _table_arg(path: str, args: list[Any]) -> dict[str, Any]:
    if not args or args[0] == []:
        return {}
    if len(args) > 1 or not isinstance(args[0], dict):
        raise ArgumentError(f"{path} takes one table of named arguments")
    return args[0]


def _check_strings(signature: str, strings: tuple[bool, ...], args: list[Any]) -> None:
    if len(args) > len(strings):
        raise ArgumentError(f"{signature} takes at most {len(strings)} arguments")
    for position, (must_be_string, value) in enumerate(zip(strings, args, strict=False), 1):
        if must_be_string and not isinstance(value, str):
            raise ArgumentError(f"{signature}: argument {position} must be a string")
    required = len(strings) - list(reversed(strings)).index(True) if any(strings) else 0
    if len(args) < required:
        raise ArgumentError(f"{signature}: missing arguments")
