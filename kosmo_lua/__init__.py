"""kosmo-lua: a sandboxed Lua 5.4 host for scripting integrations.

The supported surface is what this package exports; every submodule is private and may
change.

- Running scripts: ``run`` (or keep a ``Worker`` for several), read its ``ExecutionResult``.
- Writing an integration (docs/writing-an-integration.md): ``Integration`` with ``Tool``
  and ``Param`` records, the ``Record`` types its tools return (``Field``,
  ``record_table``), ``CredentialField``, the API's conventions (``Auth``, ``RateLimit``,
  ``Pagination``, ``Mistake``); a handler gets a ``Call`` and sends
  ``Response``s; it raises ``ArgumentError``, ``ApiError`` or ``HostError``; an emulator
  (``EmulatorApp``) may drop a connection with ``DroppedConnection``.

Everything loads on first use, so ``import kosmo_lua`` (done by the CLI) stays cheap.
"""

from __future__ import annotations

from .version import __version__

# Not `typing.TYPE_CHECKING`: importing typing here would run it (~6 ms) before the CLI turns
# the collector off for its imports (kosmo_lua/cli/__init__.py), which made it ~1 ms slower.
TYPE_CHECKING = False

# name -> the private module that defines it
_EXPORTS = {
    "ExecutionResult": "result",
    "Limits": "limits",
    "Worker": "runtime.supervisor",
    "Integration": "tools",
    "Tool": "tools",
    "Param": "tools",
    "CredentialField": "tools",
    "Auth": "tools",
    "RateLimit": "tools",
    "Pagination": "tools",
    "Mistake": "tools",
    "Record": "tools",
    "Field": "tools",
    "record_table": "tools",
    "EmulatorApp": "tools",
    "Call": "request",
    "Response": "rest",
    "KosmoError": "errors",
    "UsageError": "errors",
    "HostError": "errors",
    "ArgumentError": "errors",
    "ApiError": "errors",
    "ConfigError": "errors",
    "DroppedConnection": "emulation",
}

__all__ = [
    "ApiError",
    "ArgumentError",
    "Auth",
    "Call",
    "ConfigError",
    "CredentialField",
    "DroppedConnection",
    "EmulatorApp",
    "ExecutionResult",
    "Field",
    "HostError",
    "Integration",
    "KosmoError",
    "Limits",
    "Mistake",
    "Pagination",
    "Param",
    "RateLimit",
    "Record",
    "Response",
    "Tool",
    "UsageError",
    "Worker",
    "__version__",
    "record_table",
    "run",
]

if TYPE_CHECKING:
    from typing import Any

    from .emulation import DroppedConnection
    from .errors import ApiError, ArgumentError, ConfigError, HostError, KosmoError, UsageError
    from .limits import Limits
    from .request import Call
    from .rest import Response
    from .result import ExecutionResult
    from .runtime.supervisor import Worker
    from .tools import (
        Auth,
        CredentialField,
        EmulatorApp,
        Field,
        Integration,
        Mistake,
        Pagination,
        Param,
        RateLimit,
        Record,
        Tool,
        record_table,
    )


def run(code: str, *, name: str = "script", limits: Limits | None = None) -> ExecutionResult:
    """Runs one Lua chunk in a fresh supervised worker and returns its result."""
    from .dispatch import AppDispatcher
    from .limits import Limits
    from .runtime.supervisor import Worker

    limits = limits or Limits()
    dispatch = AppDispatcher.factory(
        max_body_bytes=limits.body_bytes, concurrency=limits.concurrency
    )
    with Worker(limits, dispatch) as worker:
        return worker.run(code, name)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'kosmo_lua' has no attribute {name!r}")
