"""Faults injected on demand, so clients can be tested against a misbehaving server."""

from __future__ import annotations

import fnmatch
import threading
from dataclasses import asdict, dataclass
from typing import Any

KINDS = ("latency", "error", "rate_limit", "drop")


@dataclass
class Fault:
    """``path`` is an fnmatch pattern on the path after ``/v2`` (``/organizations/*/builds*``)."""

    path: str
    kind: str
    count: int = 1
    status: int = 500  # for ``error``
    seconds: float = 0.0  # the delay for ``latency``; the advertised reset for ``rate_limit``
    method: str | None = None  # None: any method

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() != method:
            return False
        return fnmatch.fnmatchcase(path, self.path)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


class Faults:
    """The pending faults; each match uses up one of its ``count``."""

    def __init__(self) -> None:
        self._pending: list[Fault] = []
        self._lock = threading.Lock()

    def add(
        self,
        path_pattern: str,
        kind: str,
        *,
        count: int = 1,
        status: int = 500,
        seconds: float = 0.0,
        method: str | None = None,
    ) -> Fault:
        if kind not in KINDS:
            raise ValueError(f"fault kind must be one of {', '.join(KINDS)}, not {kind!r}")
        if count < 1:
            raise ValueError("a fault's count must be at least 1")
        fault = Fault(path_pattern, kind, count, status, seconds, method)
        with self._lock:
            self._pending.append(fault)
        return fault

    def take(self, method: str, path: str) -> Fault | None:
        """The first pending fault for this request, with one use consumed."""
        with self._lock:
            for fault in self._pending:
                if fault.matches(method, path):
                    fault.count -= 1
                    if fault.count == 0:
                        self._pending.remove(fault)
                    return fault
        return None

    def __len__(self) -> int:
        return len(self._pending)
