"""kosmo-lua: a sandboxed Lua 5.4 host for scripting integrations.

The public surface is small: run a script with ``run`` (or keep a ``Worker`` for several),
read its ``ExecutionResult``; everything else may change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .version import __version__

__all__ = ["ExecutionResult", "KosmoError", "Limits", "UsageError", "Worker", "__version__", "run"]

if TYPE_CHECKING:
    from .errors import KosmoError, UsageError
    from .limits import Limits
    from .result import ExecutionResult
    from .runtime.supervisor import Worker


def run(code: str, *, name: str = "script", limits: Any = None) -> ExecutionResult:
    """Runs one Lua chunk in a fresh supervised worker and returns its result."""
    from .dispatch import AppDispatcher
    from .limits import Limits
    from .runtime.supervisor import Worker

    with Worker(limits or Limits(), AppDispatcher.factory()) as worker:
        return worker.run(code, name)


def __getattr__(name: str) -> Any:
    # Lazy, so that `import kosmo_lua` (done by the CLI) stays cheap.
    modules = {
        "ExecutionResult": "result",
        "KosmoError": "errors",
        "UsageError": "errors",
        "Limits": "limits",
        "Worker": "runtime.supervisor",
    }
    if name in modules:
        import importlib

        return getattr(importlib.import_module(f".{modules[name]}", __name__), name)
    raise AttributeError(name)
