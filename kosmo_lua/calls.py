"""The envelope's ``integration_calls``: one timed entry per call, ok or error, in order,
bounded where they are made (``BoundedReport``) as where they are collected (``CallLog``)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .errors import HostError
from .result import DROPPED, CallLog, Report, ReportKind


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
        entry["durationMs"] = round((time.monotonic() - started) * 1000, 3)
        entry.setdefault("status", "ok")
        if report is not None:
            report("call", entry)


class BoundedReport:
    """A worker's report with its call entries bounded at the source: past the first
    ``FIRST_CALLS`` it holds the last ``LAST_CALLS`` and counts the others, and ``end_run``
    sends those; a loop of calls cannot flood the pipe to the parent."""

    def __init__(self, report: Report) -> None:
        self._report = report
        self._log = CallLog()

    def __call__(self, kind: ReportKind, value: Any) -> None:
        if kind != "call" or self._log.add(value):
            self._report(kind, value)

    def end_run(self) -> None:
        """Sends the held entries, then the count of dropped ones; the next run starts
        afresh (the REPL's runs share a worker)."""
        for entry in self._log.last:
            self._report("call", entry)
        if self._log.dropped:
            self._report("meta", {DROPPED: self._log.dropped})
        self._log = CallLog()
