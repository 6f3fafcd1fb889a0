"""The outcome of a run and its JSON envelope (a contract: keys may be added, never renamed)."""

from __future__ import annotations

from typing import Any


class ExecutionResult:
    """Everything a run produced, in the shape the CLI, MCP server and library users share.

    A plain class, not a dataclass: importing dataclasses costs start-up time on every run.
    """

    def __init__(
        self, success: bool, *, error: str | None = None, result: list[Any] | None = None
    ) -> None:
        self.success = success
        self.error = error
        self.result = result
        self.output: list[str] = []
        self.execution_time_ms = 0.0
        self.memory_usage = 0
        self.integration_calls: list[dict[str, Any]] = []
        self.meta: dict[str, Any] = {}

    def envelope(self) -> dict[str, Any]:
        """The JSON envelope: a superset of the original's."""
        return {
            "success": self.success,
            "output": "\n".join(self.output),
            "error": self.error,
            "result": self.result if self.success else None,
            "execution_time_ms": round(self.execution_time_ms, 3),
            "memory_usage": self.memory_usage,
            "integration_calls": self.integration_calls,
            "meta": {"permission_bypassed": False, **self.meta},
        }
