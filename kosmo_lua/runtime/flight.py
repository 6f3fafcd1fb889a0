"""Host calls in flight: what lets ``app.parallel`` branches wait on the network together.

The Lua state runs on one thread. The prelude's scheduler hands a branch's call to
``InFlight.start`` (its arguments already converted), which runs the dispatcher on a thread of
its own, and takes finished calls back one at a time with ``InFlight.next_finished``; the
engine converts their results on the Lua thread. Nothing here touches Lua, so the dispatcher
(HTTP clients, MCP sessions) is the only thing that must be safe to use from several threads.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from ..calls import CALL_SITE
from ..limits import MAX_CONCURRENCY

Finished = tuple[int, "Future[tuple[Any, ...]]"]
THREAD_STACK_BYTES = 2 * 1024 * 1024


class InFlight:
    """The calls one worker has running. Each script bounds how many it starts at once
    (``opts.concurrency``); the pool only needs room for the most any script may ask."""

    def __init__(self, dispatch: Callable[[str, list[Any]], tuple[Any, ...]]) -> None:
        self._dispatch = dispatch
        self._pool: ThreadPoolExecutor | None = None
        self._finished: queue.SimpleQueue[Finished] = queue.SimpleQueue()
        self._next_ticket = 0
        self.running = 0

    def start(self, path: str, args: list[Any], line: int | None = None) -> int:
        """Starts ``dispatch(path, args)`` on a thread; returns the ticket of the call.
        ``line``: the script's line of the call (``CALL_SITE`` on that thread)."""
        if self._pool is None:
            # The worker's data limit counts thread stacks: MAX_CONCURRENCY threads of the
            # default 8 MiB would pass it. 2 MiB is twice what the deepest C recursion the
            # recursion limit allows (json, repr) needs.
            threading.stack_size(THREAD_STACK_BYTES)
            self._pool = ThreadPoolExecutor(MAX_CONCURRENCY, thread_name_prefix="kosmo-call")
        self._next_ticket += 1
        ticket = self._next_ticket
        future = self._pool.submit(self._run, path, args, line)
        self.running += 1
        future.add_done_callback(lambda done: self._finished.put((ticket, done)))
        return ticket

    def _run(self, path: str, args: list[Any], line: int | None) -> tuple[Any, ...]:
        CALL_SITE.line = line
        return self._dispatch(path, args)

    def next_finished(self, timeout: float | None) -> Finished | None:
        """The next call to finish, waiting at most ``timeout`` seconds (None: until one
        does); None when none finished in time."""
        try:
            finished = self._finished.get(timeout=timeout)
        except queue.Empty:
            return None
        self.running -= 1
        return finished

    def drain(self) -> None:
        """Waits for every running call to finish and forgets their results: a run that
        ended early (an error, a limit) still lets what it sent complete and be recorded."""
        while self.running:
            self.next_finished(None)
