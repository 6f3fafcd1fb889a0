"""Runs scripts in a forked worker process that the parent can always kill.

A count hook cannot interrupt one long C call (a pathological ``string.find``), a ``__gc``
finalizer, or Python code working for the script; killing a process stops all of them. So
the worker enforces the limits softly (clean Lua errors, see ``prelude.lua``) and this module
enforces them hard: it watches the worker's CPU time and the wall clock, and kills it a
moment after a limit passes. The worker streams printed lines as they happen, so a killed
run still reports everything it printed.

Frames on the pipes are a 4-byte big-endian length and a JSON object.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import struct
import time
from collections.abc import Callable
from typing import Any

from ..limits import Limits
from ..result import ExecutionResult
from .engine import Dispatcher, LuaEngine

# How far past a limit the supervisor waits for the worker's own clean error before killing.
GRACE_SECONDS = 0.25
POLL_SECONDS = 0.05
_HEADER = struct.Struct(">I")
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

OutputHandler = Callable[[str], None]


class Worker:
    """A forked Lua worker that keeps its state between runs (the REPL relies on that).

    ``make_dispatch`` is called inside the worker, so clients it builds (HTTP, MCP) belong to
    the worker process alone.
    """

    def __init__(self, limits: Limits, make_dispatch: Callable[[], Dispatcher]) -> None:
        self.limits = limits
        self._make_dispatch = make_dispatch
        self._pid: int | None = None
        self.restarted = False

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run(
        self,
        code: str,
        name: str,
        on_output: OutputHandler | None = None,
        *,
        repl: bool = False,
    ) -> ExecutionResult:
        """Runs one chunk in the worker, starting (or restarting) the worker as needed.

        ``repl`` tries the code as an expression first, so ``1 + 1`` shows 2.
        """
        self.restarted = False
        if self._pid is None:
            self._start()
        started = time.monotonic()
        result = ExecutionResult(success=False)
        try:
            _write_frame(self._requests, {"code": code, "name": name, "repl": repl})
        except BrokenPipeError:
            result.error = self._reap()
            return result
        cpu_at_start = _cpu_seconds(self._pid)
        reader = _FrameReader(self._replies)
        while True:
            killed = self._check_limits(started, cpu_at_start)
            if killed:
                result.error = self.limits.message(killed)
                result.meta["limit"] = killed
                break
            ready, _, _ = select.select([self._replies], [], [], POLL_SECONDS)
            if not ready:
                continue
            messages = reader.read()
            if messages is None:
                result.error = self._reap()
                break
            done = self._handle(messages, result, on_output)
            if done:
                break
        result.execution_time_ms = (time.monotonic() - started) * 1000
        return result

    def close(self) -> None:
        """Stops the worker; it holds no state worth a graceful goodbye."""
        if self._pid is not None:
            self._kill()

    # Parent side -----------------------------------------------------------------------------

    def _start(self) -> None:
        request_read, request_write = os.pipe()
        reply_read, reply_write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the worker
            os.close(request_write)
            os.close(reply_read)
            _serve(request_read, reply_write, self.limits, self._make_dispatch)
        os.close(request_read)
        os.close(reply_write)
        self._pid, self._requests, self._replies = pid, request_write, reply_read

    def _check_limits(self, started: float, cpu_at_start: float) -> str | None:
        """Kills the worker when a limit passed and its own hook did not stop it."""
        timeout = self.limits.timeout_seconds
        if timeout is not None and time.monotonic() - started > timeout + GRACE_SECONDS:
            self._kill()
            return "timeout"
        used = _cpu_seconds(self._pid) - cpu_at_start
        if used > self.limits.cpu_seconds + GRACE_SECONDS:
            self._kill()
            return "cpu"
        return None

    def _handle(
        self,
        messages: list[dict[str, Any]],
        result: ExecutionResult,
        on_output: OutputHandler | None,
    ) -> bool:
        for message in messages:
            if "out" in message:
                result.output.append(message["out"])
                if on_output:
                    on_output(message["out"])
            elif "done" in message:
                done = message["done"]
                result.success = done["error"] is None
                result.error = done["error"]
                result.result = done["result"]
                result.memory_usage = done["memory"]
                if done["limit"]:
                    result.meta["limit"] = done["limit"]
                return True
        return False

    def _reap(self) -> str:
        """The worker closed its pipe without finishing: say how it died."""
        assert self._pid is not None
        _, status = os.waitpid(self._pid, 0)
        self._forget()
        if os.WIFSIGNALED(status):
            return f"The Lua worker stopped unexpectedly (signal {os.WTERMSIG(status)})"
        return (
            f"The Lua worker stopped unexpectedly (exit status {os.waitstatus_to_exitcode(status)})"
        )

    def _kill(self) -> None:
        assert self._pid is not None
        with contextlib.suppress(ProcessLookupError):
            os.kill(self._pid, signal.SIGKILL)
        os.waitpid(self._pid, 0)
        self._forget()
        self.restarted = True

    def _forget(self) -> None:
        os.close(self._requests)
        os.close(self._replies)
        self._pid = None


def _serve(
    requests: int, replies: int, limits: Limits, make_dispatch: Callable[[], Dispatcher]
) -> None:
    """The worker's main loop: one request, one run, until the parent closes the pipe."""
    status = 0
    try:
        engine = LuaEngine(
            limits,
            emit=lambda line: _write_frame(replies, {"out": line}),
            dispatch=make_dispatch(),
        )
        reader = _FrameReader(requests)
        while True:
            messages = reader.read()
            if messages is None:
                break
            for request in messages:
                kind, values, error = engine.run(
                    request["code"], request["name"], expression_first=request["repl"]
                )
                done = {"limit": kind, "result": values, "error": error}
                _write_frame(replies, {"done": {**done, "memory": engine.memory_used}})
    except BaseException:
        status = 70
    finally:
        # Skip interpreter teardown: closing the Lua state would run script finalizers.
        os._exit(status)


class _FrameReader:
    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._buffer = b""

    def read(self) -> list[dict[str, Any]] | None:
        """Reads what is available; returns the complete frames, or None at end of file."""
        chunk = os.read(self._fd, 1 << 16)
        if not chunk:
            return None
        self._buffer += chunk
        frames = []
        while len(self._buffer) >= _HEADER.size:
            (size,) = _HEADER.unpack_from(self._buffer)
            if len(self._buffer) < _HEADER.size + size:
                break
            body = self._buffer[_HEADER.size : _HEADER.size + size]
            self._buffer = self._buffer[_HEADER.size + size :]
            frames.append(json.loads(body))
        return frames


def _write_frame(fd: int, message: dict[str, Any]) -> None:
    body = json.dumps(message).encode()
    view = memoryview(_HEADER.pack(len(body)) + body)
    while view:
        view = view[os.write(fd, view) :]


def _cpu_seconds(pid: int | None) -> float:
    """CPU time a process used so far (Linux /proc); 0 where it cannot be read."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS
