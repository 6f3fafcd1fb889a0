"""Runs scripts in a forked worker process that the parent can always kill.

A count hook cannot interrupt one long C call (a pathological ``string.find``), a ``__gc``
finalizer, or Python code working for the script; killing a process stops all of them. So
the worker enforces the limits softly (clean Lua errors, see ``prelude.lua``) and this module
enforces them hard: it watches the worker's CPU time and the wall clock, and kills it a
moment after a limit passes. The worker streams printed lines as they happen, so a killed
run still reports everything it printed.

The worker never outlives this process: it holds the read end of a lifeline pipe whose only
write end is this process's, and a thread of its own kills it when that end closes, which the
kernel does however this process dies (even by SIGKILL). Ctrl-C and (under
``terminations_interrupt``) SIGTERM and SIGHUP kill it with what it started.

``kosmo mcp:serve`` does not fork its workers itself: they come from a small process forked
early, one fresh worker per run, each a copy of a Lua state built there once (``zygote.py``),
and are supervised here all the same, from a task on the server's event loop (``run_async``).

Frames on the pipes are a 4-byte big-endian length and a JSON object.
"""

from __future__ import annotations

import _thread  # threading's core: the worker's one thread needs none of threading's rest
import contextlib
import itertools
import json
import math
import os
import select
import signal  # close() needs it on every run anyway
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, NoReturn

from ..calls import BoundedReport
from ..limits import Limits
from ..redact import redact
from ..result import ExecutionResult
from .engine import Dispatcher, LuaEngine, Outcome, limit_outcome

# How far past a limit the supervisor waits for the worker's own clean error before killing.
GRACE_SECONDS = 0.25
POLL_SECONDS = 0.05
# How long close() waits for a worker to leave on its own before killing it.
EXIT_WAIT_SECONDS = 1.0
# ... plus this when it started MCP servers, which it ends before leaving.
MCP_CLOSE_SECONDS = 10.0
# The parent's ends of every live worker's pipes, which a newly forked worker must close.
_PARENT_FDS: set[int] = set()
# Every worker this process has running, for kill_all() in a signal handler.
_LIVE: set[Worker] = set()
# The signals that end the CLI as Ctrl-C does (see terminations_interrupt).
TERMINATIONS = (signal.SIGTERM, signal.SIGHUP)
_HEADER_SIZE = 4
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

OutputHandler = Callable[[str], None]
DispatchFactory = Callable[[BoundedReport], Dispatcher]
"""Makes a run's dispatcher in the worker, from the run's report (whose ``ask`` puts a
write under `ask` to the parent, when the parent can ask)."""
DispatchRecipe = Callable[[Limits], DispatchFactory]
"""What makes a run's dispatcher factory from the limits of the run."""
Asking = Callable[[dict[str, Any]], Awaitable[str]]
"""Answers a worker's question about a write (``mcp:serve``: through MCP elicitation):
``accept``, ``decline`` or ``plan``."""


class Interrupted(SystemExit):
    """SIGTERM or SIGHUP arrived: a run ends as on Ctrl-C; anywhere else the process exits
    with 128 + the signal's number, and ``with Worker(...)`` blocks still close their worker."""

    def __init__(self, signum: int) -> None:
        super().__init__(128 + signum)
        self.signum = signum


@contextlib.contextmanager
def terminations_interrupt() -> Iterator[None]:
    """Within it, SIGTERM and SIGHUP raise ``Interrupted`` (call from the main thread)."""

    def interrupt(signum: int, frame: object) -> None:
        raise Interrupted(signum)

    previous = {number: signal.signal(number, interrupt) for number in TERMINATIONS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def kill_all() -> None:
    """Kills every running worker and what it started; safe in a signal handler because it
    only sends signals (each worker's own thread reaps it, or this process is ending)."""
    for worker in tuple(_LIVE):
        if worker._pid is not None:
            _sigkill(worker._pid)
        worker._kill_children()


class Worker:
    """A forked Lua worker that keeps its state between runs (the REPL relies on that).

    ``make_dispatch(report)`` is called inside the worker, so clients it builds (HTTP, MCP)
    belong to the worker process alone; ``report(kind, value)`` sends a ``call`` record or
    ``meta`` fields to the run's result.

    With ``one_run``, each run has a worker of its own, which leaves as soon as its result is
    sent, not at ``close()``: its exit (~0.5 ms, most of it the kernel's) then overlaps what
    the caller does with the result, such as printing it (``kosmo integrations:lua``).
    """

    def __init__(
        self,
        limits: Limits,
        make_dispatch: DispatchFactory,
        *,
        hide: tuple[str, ...] = (),
        one_run: bool = False,
    ) -> None:
        self.limits = limits
        self._make_dispatch = make_dispatch
        self._hide = hide
        self._one_run = one_run
        self._pid: int | None = None
        self._children: set[int] = set()  # process groups the worker started (MCP servers)
        self.restarted = False
        self.interrupted: int | None = None  # the signal that ended the last run, if one did
        self.asked: list[dict[str, Any]] = []  # the worker's question waiting for an answer

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

        ``repl`` tries the code as an expression first, so ``1 + 1`` shows 2. Ctrl-C (and
        ``Interrupted``) kills the worker and returns the run as interrupted, with what it
        printed so far; ``interrupted`` names the signal. Any other exception (``on_output``
        could not write) kills the worker too before it propagates: nobody reads the worker's
        output any more, and it would block on a full pipe forever.
        """
        self.restarted = False
        self.interrupted = None
        started = time.monotonic()
        result = ExecutionResult(success=False)
        try:
            self._exchange(code, name, repl, result, on_output, started)
        except (KeyboardInterrupt, Interrupted) as exc:
            self.kill()
            self.interrupted = exc.signum if isinstance(exc, Interrupted) else signal.SIGINT
            result.fail(_interruption_message(self.interrupted), "interrupted")
        except BaseException:
            self.kill()
            raise
        result.execution_time_ms = (time.monotonic() - started) * 1000
        return result

    def close(self) -> None:
        """Stops the worker: at end of input it exits at once, without tearing Lua down."""
        if self._pid is None:
            return
        _release(self._requests)
        # The worker's exit closes the reply pipe: wait for that, not in a sleep loop.
        wait = EXIT_WAIT_SECONDS + (MCP_CLOSE_SECONDS if self._children else 0)
        exited, _, _ = select.select([self._replies], [], [], wait)
        if not exited:  # stuck: no longer our problem to be polite about
            _sigkill(self._pid)
        self._let_go()
        self._kill_children()

    def kill(self) -> None:
        """Stops the worker now, whatever it is doing."""
        if self._pid is not None:
            self._kill()

    # Parent side -----------------------------------------------------------------------------

    def _exchange(
        self,
        code: str,
        name: str,
        repl: bool,
        result: ExecutionResult,
        on_output: OutputHandler | None,
        started: float,
    ) -> None:
        """Sends the chunk and fills ``result`` from the replies until the run ends."""
        if self._pid is not None and self._one_run:  # the last run's worker, leaving
            self.close()
        if self._pid is None:
            self._start()
        try:
            _write_frame(self._requests, self._request(code, name, repl))
        except BrokenPipeError:
            result.fail(self._reap(), "internal")
            return
        cpu_at_start = self._cpu_at_start()
        reader = _FrameReader(self._replies)
        while True:
            killed = self._check_limits(started, cpu_at_start)
            if killed:
                result.fail(self.limits.message(killed), "limit", limit=killed)
                result.meta["limit"] = killed
                return
            ready, _, _ = select.select([self._replies], [], [], POLL_SECONDS)
            if not ready:
                continue
            messages = reader.read()
            if messages is None:
                result.fail(self._reap(), "internal")
                return
            if self._handle(messages, result, on_output):
                return
            while self.asked:  # nobody to ask here: the write is planned
                self.asked.pop(0)
                self._answer("plan")

    def _answer(self, answer: str) -> None:
        """Answers the worker's question (it asks one at a time, and waits for this)."""
        with contextlib.suppress(BrokenPipeError):  # the worker died: the loop sees it
            _write_frame(self._requests, {"answer": answer})

    async def run_async(
        self, code: str, name: str, on_ask: Asking | None = None
    ) -> ExecutionResult:
        """``run`` for a task on an event loop (``kosmo mcp:serve``): waits for the worker's
        replies with the loop, not in a thread, under the same limits. The worker must be
        running (``adopt``). Cancelled (Ctrl-C, a client's cancel) or failing, it kills the
        worker before the exception propagates. Ends with the worker's ``close()``."""
        assert self._pid is not None, "adopt() a worker first"
        self.restarted = False
        self.interrupted = None
        started = time.monotonic()
        result = ExecutionResult(success=False)
        try:
            await self._exchange_async(code, name, result, started, on_ask)
        except BaseException:
            self.kill()
            raise
        result.execution_time_ms = (time.monotonic() - started) * 1000
        return result

    async def _exchange_async(
        self,
        code: str,
        name: str,
        result: ExecutionResult,
        started: float,
        on_ask: Asking | None,
    ) -> None:
        import anyio
        from anyio.to_thread import run_sync

        try:
            _write_frame(self._requests, self._request(code, name, False))
        except BrokenPipeError:
            result.fail(await run_sync(self._reap), "internal")
            return
        cpu_at_start = self._cpu_at_start()
        reader = _FrameReader(self._replies)
        check_at = started + POLL_SECONDS
        while True:
            now = time.monotonic()
            if now >= check_at:
                exceeded = self._exceeded(started, cpu_at_start)
                if exceeded:  # killing waits for the worker to go: not on the loop
                    await run_sync(self._kill)
                    result.fail(self.limits.message(exceeded), "limit", limit=exceeded)
                    result.meta["limit"] = exceeded
                    return
                check_at = now + POLL_SECONDS
            with anyio.move_on_after(check_at - now) as waiting:
                await anyio.wait_readable(self._replies)
            if waiting.cancelled_caught:
                continue
            messages = reader.read()
            if messages is None:
                result.fail(await run_sync(self._reap), "internal")
                return
            if self._handle(messages, result, None):
                break
            while self.asked:
                await self._ask(self.asked.pop(0), on_ask, started)
        if self._children:  # it ends its MCP servers before it leaves: wait, not on the loop
            await run_sync(self.close)
        else:
            self.close()

    async def _ask(self, question: dict[str, Any], on_ask: Asking | None, started: float) -> None:
        """Answers the worker's question with ``on_ask``'s answer (``plan`` without one),
        given within the run's timeout (``decline`` once that has passed)."""
        import anyio

        answer = "decline"
        timeout = self.limits.timeout_seconds
        left = math.inf if timeout is None else timeout - (time.monotonic() - started)
        with anyio.move_on_after(left):
            answer = "plan" if on_ask is None else await on_ask(question)
        self._answer(answer)

    def _request(self, code: str, name: str, repl: bool) -> dict[str, Any]:
        """The frame that asks the worker for one run."""
        return {"code": code, "name": name, "repl": repl}

    def adopt(self, spawned: tuple[int, int, int, int]) -> None:
        """Runs the next chunk in this worker, started elsewhere (``_spawn``'s tuple)."""
        assert self._pid is None
        self._pid, self._requests, self._replies, self._lifeline = spawned
        _PARENT_FDS.update((self._requests, self._replies, self._lifeline))
        _LIVE.add(self)

    def _start(self) -> None:
        self.adopt(self._spawn())

    def _cpu_at_start(self) -> float:
        """The worker's CPU time before the run: the limit counts what the run adds."""
        return _cpu_seconds(self._pid)

    def _spawn(self) -> tuple[int, int, int, int]:
        """Forks the worker: its pid, and this process's ends of its request, reply and
        lifeline pipes."""
        request_read, request_write = os.pipe()
        reply_read, reply_write = os.pipe()
        lifeline_read, lifeline_write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the worker
            # Other workers' pipe ends too: holding them would keep those workers from ever
            # seeing end of input, or their parent's death.
            for fd in (request_write, reply_read, lifeline_write, *_PARENT_FDS):
                os.close(fd)
            _bind_to_parent(lifeline_read)
            made = self._make_dispatch  # for self.limits, which no request changes
            limits, hide = self.limits, self._hide
            make = lambda: Serving(limits, lambda _: made, hide)  # noqa: E731
            requests = _frames(request_read)
            if self._one_run:
                requests = itertools.islice(requests, 1)
            _serve(make, requests, reply_write, request_read)
        for fd in (request_read, reply_write, lifeline_read):
            os.close(fd)
        return pid, request_write, reply_read, lifeline_write

    def _wait(self) -> int | None:
        """Reaps the worker, which has exited or been killed: its wait status (None when it
        cannot be known)."""
        assert self._pid is not None
        return os.waitpid(self._pid, 0)[1]

    def _let_go(self) -> None:
        """At ``close()``, the worker is leaving or killed: reaps it and forgets it."""
        self._wait()
        self._forget()

    def _check_limits(self, started: float, cpu_at_start: float) -> str | None:
        """Kills the worker when a limit passed and its own hook did not stop it."""
        exceeded = self._exceeded(started, cpu_at_start)
        if exceeded:
            self._kill()
        return exceeded

    def _exceeded(self, started: float, cpu_at_start: float) -> str | None:
        """The limit the worker passed, with the grace its own hook had to stop it."""
        timeout = self.limits.timeout_seconds
        if timeout is not None and time.monotonic() - started > timeout + GRACE_SECONDS:
            return "timeout"
        used = _cpu_seconds(self._pid) - cpu_at_start
        if used > self.limits.cpu_seconds + GRACE_SECONDS:
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
            elif "call" in message:
                result.add_call(message["call"])
            elif "meta" in message:
                result.meta.update(message["meta"])
            elif "plan" in message:
                result.add_plan_step(message["plan"])
            elif "ask" in message:
                self.asked.append(message["ask"])
            elif "child" in message:
                self._children.add(message["child"])
            elif "done" in message:
                done = message["done"]
                result.success = done["error"] is None
                result.error = done["error"]
                result.result = done["result"]
                result.memory_usage = done["memory"]
                result.error_info = done["error_info"]
                if done["limit"]:
                    result.meta["limit"] = done["limit"]
                return True
        return False

    def _reap(self) -> str:
        """The worker closed its pipe without finishing: say how it died."""
        status = self._wait()
        self._forget()
        if status is None:
            return "The Lua worker stopped unexpectedly"
        if os.WIFSIGNALED(status):
            return f"The Lua worker stopped unexpectedly (signal {os.WTERMSIG(status)})"
        code = os.waitstatus_to_exitcode(status)
        return f"The Lua worker stopped unexpectedly (exit status {code})"

    def _kill(self) -> None:
        assert self._pid is not None
        _sigkill(self._pid)
        self._wait()
        self._forget()
        self._kill_children()
        self.restarted = True

    def _kill_children(self) -> None:
        """Ends what the worker started and could not end itself (it was killed)."""
        for group in tuple(self._children):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, signal.SIGKILL)
        self._children.clear()

    def _forget(self) -> None:
        """After the worker is reaped: its pipes' ends, the lifeline last."""
        for fd in (self._requests, self._replies, self._lifeline):
            _release(fd)
        self._pid = None
        _LIVE.discard(self)


def _interruption_message(signum: int) -> str:
    if signum == signal.SIGINT:
        return "Interrupted (Ctrl-C)"
    return f"Interrupted ({signal.Signals(signum).name})"


def _release(fd: int) -> None:
    """Closes one of the parent's pipe ends, once (close() ends input before the rest)."""
    if fd in _PARENT_FDS:
        _PARENT_FDS.discard(fd)
        os.close(fd)


def _sigkill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _bind_to_parent(lifeline: int) -> None:
    """In a new worker: dies with the parent, whatever kills it.

    The parent holds the lifeline's only write end and never writes, so a read returns only
    when the kernel closes that end: when the parent is gone. A thread waits for that (lupa
    lets it run while Lua runs) and kills the worker, on every POSIX system. SIGTERM and
    SIGHUP get their default action back: the parent's handlers (which raise
    ``Interrupted`` or kill workers) mean nothing here.
    """
    for number in TERMINATIONS:
        signal.signal(number, signal.SIG_DFL)

    def watch() -> None:
        with contextlib.suppress(OSError):
            os.read(lifeline, 1)
        os.kill(os.getpid(), signal.SIGKILL)

    _thread.start_new_thread(watch, ())


def _cap_data(size: int) -> None:
    """The backstop: past ``size`` bytes of data more than the worker had when it was forked,
    its allocations fail (Python raises MemoryError, which ends the run as the memory
    limit), so a host-side blow-up nobody foresaw stops the run, not the machine. What the
    worker inherited is its parent's, not the run's: a worker forked from a big process (a
    test session, a server) would otherwise start past its cap, unable even to start a
    thread. Set before the host first works for a script: a run that calls no host
    function (``return 1``) need not load ``resource``."""
    import resource

    limit = _data_in_use() + size
    with contextlib.suppress(ValueError, OSError):  # a platform without RLIMIT_DATA
        resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))


def _data_in_use() -> int:
    """The process's data segment and private mappings now (Linux ``VmData``); 0 where
    unknown."""
    try:
        with open("/proc/self/status", "rb") as status:
            for line in status:
                if line.startswith(b"VmData:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


class Serving:
    """A worker's side: its Lua state, and what it sends the parent on ``replies``.

    Made before the worker has its pipes (``kosmo mcp:serve``'s zygote makes one, and every
    worker it forks starts from a copy: see zygote.py); ``_serve`` then runs the requests.
    The run's dispatcher is made at its first host call, from ``recipe`` and the limits of
    that run: ``return 1`` needs none. ``before_host_work`` arms the data backstop there too.
    """

    def __init__(self, limits: Limits, recipe: DispatchRecipe, hide: tuple[str, ...]) -> None:
        self.replies = -1
        self.requests = -1
        self._asking = _thread.allocate_lock()  # one question to the parent at a time
        self._recipe = recipe
        self._dispatcher: Dispatcher | None = None
        self._making = _thread.allocate_lock()  # parallel branches call from their threads
        # Calls of parallel branches report from threads of their own: one frame at a time.
        self._writing = _thread.allocate_lock()
        # Call records are bounded where they are made: a pcall loop cannot flood the pipe.
        self.report = BoundedReport(lambda kind, value: self.send({kind: value}), ask=self.ask)
        self.engine = LuaEngine(
            limits,
            emit=lambda line: self.send({"out": line}),
            dispatch=self._dispatch,
            hide=hide,
            before_host_work=lambda: _cap_data(self.engine.limits.data_bytes),
        )

    def send(self, message: dict[str, Any]) -> None:
        frame = _frame(message)
        with self._writing:
            _write(self.replies, frame)

    def ask(self, question: dict[str, Any]) -> str:
        """Asks the parent about a write (``ask`` frame) and waits for its ``answer``
        frame, on the request pipe, which carries nothing else during a run."""
        with self._asking:
            self.send({"ask": question})
            reader = _FrameReader(self.requests)
            while (frames := reader.read()) is not None:
                if frames:
                    return str(frames[0].get("answer", "decline"))
            return "decline"

    def _dispatch(self, path: str, args: list[Any]) -> tuple[Any, ...]:
        dispatcher = self._dispatcher
        if dispatcher is None:
            with self._making:
                if self._dispatcher is None:
                    self._dispatcher = self._recipe(self.engine.limits)(self.report)
                dispatcher = self._dispatcher
        return dispatcher(path, args)

    def run(self, request: dict[str, Any]) -> None:
        """One run: its output and call records as they come, then its ``done`` frame."""
        engine = self.engine
        if "limits" in request:  # a warm worker's run, with limits of its own
            limits = Limits(**request["limits"])
            if _limit_values(limits) != _limit_values(engine.limits):
                engine.set_limits(limits)
        self.report.start_run()
        try:
            outcome = engine.run(request["code"], request["name"], expression_first=request["repl"])
            frame = _done_frame(outcome, engine.memory_used)
        except MemoryError:  # the data backstop (_cap_data), past every other check
            frame = _done_frame(limit_outcome("memory", engine.limits), engine.memory_used)
        self.report.end_run()
        with self._writing:
            _write(self.replies, frame)

    def warm(self) -> None:
        """Readies a forked copy for its run, before the request comes: the run's first
        steps on the host side (reading a request, the limits, the report, converting and
        sending a result) are taken on dummy values. A forked process shares its parent's
        pages until it writes to them, and each first write copies one: done here, that is
        not on the run's path (a first run took 0.55 ms, 0.19 ms after this). The Lua state
        is not touched: no Lua code runs. (Having Lua's collector walk it too saved another
        0.03 ms of the run for 0.4 ms more here, competing for the CPU with the call.)"""
        engine = self.engine
        limits = {field: getattr(engine.limits, field) for field in Limits.__slots__}
        frame = _frame({"code": "", "name": "", "repl": False, "limits": limits})
        read, write = os.pipe()
        try:
            os.write(write, frame)
            requests = _FrameReader(read).read() or []
        finally:
            os.close(read)
            os.close(write)
        _limit_values(Limits(**requests[0]["limits"]))
        self.report.start_run()
        self.report.end_run()
        with engine.unbounded_memory():
            values = [engine.to_python(value, strict=False) for value in (1, b"")]
        _done_frame((None, values, None, None), engine.memory_used)

    def close(self) -> None:
        """Ends what the run's dispatcher holds (MCP sessions, HTTP clients), if it has one."""
        close = getattr(self._dispatcher, "close", None)
        if close is not None:
            with contextlib.suppress(Exception):
                close()


def _serve(
    make: Callable[[], Serving],
    requests: Iterator[dict[str, Any]],
    replies: int,
    request_fd: int,
) -> NoReturn:
    """The worker's main loop: one request, one run, until the parent closes the pipe (or,
    for a fresh worker, after its one run), in the state ``make()`` gives. ``math.random`` is
    seeded anew: a worker forked from a built state would share its sequence with every
    other. Leaves without interpreter teardown."""
    status = 0
    serving: Serving | None = None
    try:
        serving = make()
        serving.replies = replies
        serving.requests = request_fd  # where answers to its questions come (Serving.ask)
        serving.engine.reseed()
        for request in requests:
            serving.run(request)
    except KeyboardInterrupt:
        status = 130
    except BaseException:  # a bug of ours: say where, without any secret, and stop
        import traceback

        os.write(2, redact(f"kosmo: the Lua worker failed:\n{traceback.format_exc()}").encode())
        status = 70
    finally:
        if serving is not None:
            serving.close()
        os.close(replies)  # the parent sees the end now, not once the process is torn down
        # Skip interpreter teardown: closing the Lua state would run script finalizers.
        os._exit(status)


def _limit_values(limits: Limits) -> tuple[Any, ...]:
    return tuple(getattr(limits, field) for field in Limits.__slots__)


def _frames(fd: int) -> Iterator[dict[str, Any]]:
    """The frames arriving on ``fd``, one at a time, until end of file."""
    reader = _FrameReader(fd)
    while (frames := reader.read()) is not None:
        yield from frames


class _FrameReader:
    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._buffer = bytearray()  # grows in place: a large frame arrives in many reads

    def read(self) -> list[dict[str, Any]] | None:
        """Reads what is available; returns the complete frames, or None at end of file."""
        chunk = os.read(self._fd, 1 << 16)
        if not chunk:
            return None
        self._buffer += chunk
        frames = []
        start = 0
        while len(self._buffer) - start >= _HEADER_SIZE:
            size = int.from_bytes(self._buffer[start : start + _HEADER_SIZE], "big")
            end = start + _HEADER_SIZE + size
            if len(self._buffer) < end:
                break
            frames.append(json.loads(self._buffer[start + _HEADER_SIZE : end]))
            start = end
        del self._buffer[:start]
        return frames


def _done_frame(outcome: Outcome, memory: int) -> bytes:
    kind, values, error, info = outcome
    done = {"limit": kind, "result": values, "error": error, "error_info": info}
    return _frame({"done": {**done, "memory": memory}})


def _write_frame(fd: int, message: dict[str, Any]) -> None:
    _write(fd, _frame(message))


def _frame(message: dict[str, Any]) -> bytes:
    body = redact(json.dumps(message)).encode()
    return len(body).to_bytes(_HEADER_SIZE, "big") + body


def _write(fd: int, frame: bytes) -> None:
    view = memoryview(frame)
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
