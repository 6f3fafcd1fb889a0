"""The envelope's ``integration_calls``: one timed entry per call, ok or error, in order."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .errors import HostError
from .result import Report


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
