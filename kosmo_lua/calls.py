"""The envelope's ``integration_calls``: one timed entry per call, ok or error, in the order
they ended, bounded where they are made (``BoundedReport``) as where they are collected
(``CallLog``). In a worker's run an entry also says when the call started and ended, in ms
since the run began (``startMs``, ``endMs``): calls of parallel branches overlap."""

from __future__ import annotations

import _thread
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from .errors import HostError
from .result import DROPPED, CallLog, Report, ReportKind

if TYPE_CHECKING:
    from .invoker import Asker

MAX_PLAN_STEPS = 1000
"""Planned writes one run's ``meta.plan`` keeps; the rest are counted in ``plan_dropped``."""


class _Site(_thread._local):
    line: int | None = None


CALL_SITE = _Site()
"""The script's line of the call this thread runs (the engine sets it, for the call and for
a branch's call on its thread): a planned write is recorded with it."""


@contextmanager
def recorded(report: Report | None, path: str, **fields: Any) -> Iterator[dict[str, Any]]:
    """Times the block and reports its entry; the block may add fields to it."""
    started = time.monotonic()
    entry: dict[str, Any] = {"path": path, **fields}
    try:
        yield entry
    except HostError as exc:
        entry.update(status="error", error=str(exc))
        raise
    finally:
        ended = time.monotonic()
        entry["durationMs"] = _ms(ended - started)
        run_started = getattr(report, "run_started", None)
        if run_started is not None:
            entry.update(startMs=_ms(started - run_started), endMs=_ms(ended - run_started))
        entry.setdefault("status", "ok")
        if report is not None:
            report("call", entry)


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


class BoundedReport:
    """A worker's report with its call entries bounded at the source: past the first
    ``FIRST_CALLS`` it holds the last ``LAST_CALLS`` and counts the others, and ``end_run``
    sends those; a loop of calls cannot flood the pipe to the parent."""

    def __init__(self, report: Report, *, ask: Asker | None = None) -> None:
        self._report = report
        self._log = CallLog()
        self._lock = _thread.allocate_lock()  # parallel branches report from their threads
        self.run_started: float | None = None
        self._plan_steps = 0  # planned writes: past MAX_PLAN_STEPS only counted
        self.ask = ask
        """Asks the parent (and so a human) about a write (``Serving.ask``), if it can."""

    def __call__(self, kind: ReportKind, value: Any) -> None:
        with self._lock:
            if kind == "plan":
                self._plan_steps += 1
                if self._plan_steps > MAX_PLAN_STEPS:
                    return
            if kind != "call" or self._log.add(value):
                self._report(kind, value)

    def start_run(self) -> None:
        """Calls from now on are timed from this moment."""
        self.run_started = time.monotonic()

    def end_run(self) -> None:
        """Sends the held entries, then the count of dropped ones; the next run starts
        afresh (the REPL's runs share a worker)."""
        with self._lock:
            for entry in self._log.last:
                self._report("call", entry)
            if self._log.dropped:
                self._report("meta", {DROPPED: self._log.dropped})
            if self._plan_steps > MAX_PLAN_STEPS:
                self._report("meta", {"plan_dropped": self._plan_steps - MAX_PLAN_STEPS})
            self._log = CallLog()
            self._plan_steps = 0
