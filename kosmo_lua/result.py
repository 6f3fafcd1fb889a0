"""The outcome of a run and its JSON envelope (a contract: keys may be added, never renamed)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class ExecutionResult:
    """Everything a run produced, in the shape the CLI, MCP server and library users share."""

    success: bool
    output: list[str] = field(default_factory=list)
    error: str | None = None
    result: list[Any] | None = None
    execution_time_ms: float = 0.0
    memory_usage: int = 0
    integration_calls: list[dict[str, Any]] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

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
