"""The outcome of a run and its JSON envelope (a contract: keys may be added, never renamed)."""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable
from typing import Any, Literal

ReportKind = Literal["call", "meta", "child", "plan"]
Report = Callable[[ReportKind, Any], None]
"""How the host side of a run adds to its result: ``report("call", entry)`` appends an
``integration_calls`` entry, ``report("meta", fields)`` adds fields to ``meta``,
``report("plan", step)`` appends a planned write to ``meta.plan``, and
``report("child", pid)`` names a process group the worker started (MCP servers), so
the parent can kill it with the worker."""

POSITION = re.compile(r"^([^\n]*?):(\d+): ")
"""A message's script position, as Lua writes it: ``file:line: `` at its start."""
# integration_calls keeps the first and the last this many entries of a run, and counts the
# rest in meta.integration_calls_dropped: a pcall loop once made 443,192 (a 160 MB envelope).
FIRST_CALLS = 100
LAST_CALLS = 100
DROPPED = "integration_calls_dropped"


class CallLog:
    """A run's ``integration_calls``, bounded: the first ``FIRST_CALLS`` entries, the last
    ``LAST_CALLS``, and how many between were dropped."""

    __slots__ = ("dropped", "first", "last")

    def __init__(self) -> None:
        self.first: list[dict[str, Any]] = []
        self.last: deque[dict[str, Any]] = deque(maxlen=LAST_CALLS)
        self.dropped = 0

    def add(self, entry: dict[str, Any]) -> bool:
        """Keeps ``entry``; True when it is one of the first (kept for good)."""
        if len(self.first) < FIRST_CALLS:
            self.first.append(entry)
            return True
        if len(self.last) == LAST_CALLS:
            self.dropped += 1
        self.last.append(entry)
        return False

    def entries(self) -> list[dict[str, Any]]:
        return [*self.first, *self.last]


def error_info(kind: str, message: str, **fields: Any) -> dict[str, Any]:
    """The envelope's ``meta.error``: what failed, as data. The script position the message
    starts with (``workflow.lua:12: ...``) moves to ``file`` and ``line``.

    Kinds: syntax, runtime, integration, argument, permission, limit, timeout (a function
    that waits ran out of its own time), interrupted, usage (the command line could not
    start a run), internal (the worker died) and check (``--check`` found problems; they
    are in ``meta.check.findings``).
    """
    info: dict[str, Any] = {"kind": kind, "message": message}
    position = POSITION.match(message)
    if position:
        info.update(
            message=message[position.end() :],
            file=position.group(1),
            line=int(position.group(2)),
        )
    info.update({k: v for k, v in fields.items() if v not in (None, "")})
    return info


class ExecutionResult:
    """Everything a run produced, in the shape the CLI, MCP server and library users share.

    A plain class, not a dataclass: importing dataclasses costs start-up time on every run.
    """

    def __init__(
        self, success: bool, *, error: str | None = None, result: list[Any] | None = None
    ) -> None:
        self.success = success
        self.error = error
        # A result that fails as it is made could not start a run (no code, a bad option).
        self.error_info = error_info("usage", error) if error else None
        self.result = result
        self.output: list[str] = []
        self.execution_time_ms = 0.0
        self.memory_usage = 0
        self._calls = CallLog()
        self.meta: dict[str, Any] = {}

    @property
    def integration_calls(self) -> list[dict[str, Any]]:
        """The call entries the envelope shows (see ``CallLog``)."""
        return self._calls.entries()

    def add_call(self, entry: dict[str, Any]) -> None:
        """One ``integration_calls`` entry, as the worker reported it."""
        self._calls.add(entry)

    def add_plan_step(self, step: dict[str, Any]) -> None:
        """One planned write (``meta.plan``), as the worker reported it."""
        self.meta.setdefault("plan", []).append(step)

    def fail(self, message: str, kind: str, **fields: Any) -> None:
        self.success = False
        self.error = message
        self.error_info = error_info(kind, message, **fields)

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
            "meta": {
                "permission_bypassed": False,
                **self.meta,
                **self._dropped(),
                **({"error": self.error_info} if self.error_info else {}),
            },
        }

    def _dropped(self) -> dict[str, int]:
        """``integration_calls_dropped`` when any were: by the worker (its meta) and here."""
        dropped = self.meta.get(DROPPED, 0) + self._calls.dropped
        return {DROPPED: dropped} if dropped else {}
