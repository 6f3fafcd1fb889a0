"""Fresh workers for ``kosmo mcp:serve``, forked ahead of need by a small process.

Every ``execute_lua`` runs in a worker of its own, so no run ever sees another's state. The
server used to fork each one itself: a copy of a process with the MCP SDK, a web stack and
threads, paid on every call. Instead, ``WorkerPool.start()`` forks a *zygote* while the server
is still small and has one thread (before the SDK is imported). The zygote loads what runs
use and builds one Lua state (``supervisor.Serving``) under the limits most runs ask for, which
it never runs: every worker is a fork of it, so each run starts in its own copy of a state
nobody used (and seeds its ``math.random`` anew: copies would share the sequence).

Two sockets join the server and the zygote. On the control socket the server asks, and the
zygote answers: ``take`` (the worker it has ready: its pid and the server's ends of its pipes,
by SCM_RIGHTS), ``wait`` (reap one), ``release`` (reap one when it has left; no answer). On
the supply socket the zygote pushes a worker each time the server says ``want`` (no answer
either), which the server does when a run is over: the next run takes that worker with one
non-blocking read (``take_ready``), with no wait on the zygote, and the zygote forks the next
one while the server answers its client, not while a run goes on. Calls at once that find
the supply empty ``take`` the one the zygote keeps ready. A worker warms its copy (see
``Serving.warm``) and waits for its one request, which brings the run's limits; it serves
that run and exits. From there on it is an ordinary ``supervisor.Worker``; the server waits
for its replies on its event loop (``Worker.run_async``).

What the supervisor guarantees still holds:

- Dying with the server: the server holds each taken worker's lifeline; the zygote holds the
  lifeline of the one it keeps ready, and its control socket is the zygote's own lifeline. A
  worker pushed and not taken yet has its lifeline in the supply socket's queue, which the
  kernel empties (closing it) when the server's end closes. However the server dies, the
  zygote exits, and so does every worker.
- Limits: the server knows each worker's pid, reads its CPU time and kills it. The zygote
  reaps a worker only when the server lets it: ``wait`` for one that died or was killed
  (the server says how), ``release`` for one whose run is over. Until then a dead worker
  stays a zombie, so its pid is never reused while the server may still signal it.
- Clean workers: when the zygote forks, it holds no pipe end of any worker but the new one.
  It ignores Ctrl-C (it leaves with the server); its workers get Python's handler back.
  Both have /dev/null for stdin and stdout, which over stdio are the MCP connection.
- A zygote that died is replaced: the call that finds it gone forks another (from the server,
  now large) and runs; only if that one fails too does the call fail.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import itertools
import os
import signal
import socket
import threading
from typing import Any, NoReturn

from ..limits import Limits
from .supervisor import (
    _PARENT_FDS,
    TERMINATIONS,
    DispatchRecipe,
    Serving,
    Worker,
    _bind_to_parent,
    _frames,
    _serve,
)

# What a run loads on its first host call: json, regex and docs; the integrations' HTTP
# stack (and the integrations themselves, read once). Loaded in the zygote, every worker
# starts with them.
RUN_MODULES = (
    "kosmo_lua.runtime.library",
    "kosmo_lua.runtime.jsonlib",
    "kosmo_lua.runtime.regexlib",
    "kosmo_lua.invoker",
    "httpx",
)
# ... and on its first mcp.* call. The MCP SDK doubles the zygote, and with it what every
# fork costs: loaded only when MCP servers are configured.
MCP_CLIENT_MODULES = ("kosmo_lua.mcp.client", "mcp.client.stdio", "mcp.client.streamable_http")

_TAKE = b"t"
_WANT = b"s"
_WAIT = b"w"
_RELEASE = b"r"
_WORD = 4  # bytes of a pid or a wait status on the socket


class PoolError(Exception):
    """No worker could be had: the zygote is gone, or could not fork."""


Spawned = tuple[int, int, int, int]
"""A worker as the server holds it: its pid, and the server's ends of its request, reply
and lifeline pipes."""


class WorkerPool:
    """The server's side of the zygote: ``worker(limits)`` is a fresh worker for one run.

    Safe to use from many threads: one request at a time goes over the control socket. The
    zygote also pushes workers, unasked for a reply, into a second socket (``want``): the next
    run takes one from there without waiting on anything (``take_ready``).
    """

    def __init__(
        self, recipe: DispatchRecipe, *, limits: Limits | None = None, mcp_client: bool = False
    ) -> None:
        """``recipe`` makes each run's dispatcher factory, in its worker; ``limits`` are what
        most runs ask for (the zygote builds its Lua state under them, and a run that asks for
        the same need not change them); ``mcp_client`` loads the MCP client in the zygote
        too."""
        self.recipe = recipe
        self.limits = limits or Limits()
        self.built_under = {field: getattr(self.limits, field) for field in Limits.__slots__}
        self._mcp_client = mcp_client
        self._lock = threading.Lock()  # one exchange at a time on the control socket
        self._socket: socket.socket | None = None
        self._supply: socket.socket | None = None
        self._zygote: int | None = None
        self._stock_lock = threading.Lock()  # never held across a blocking call
        self._stock = 0  # workers pushed into the supply socket, or asked for, not taken yet

    def start(self) -> None:
        """Forks the zygote, if it is not running (``take`` does so when needed), and asks
        for a worker ahead of need: call it early, while this process is small and has one
        thread."""
        with self._lock:
            self._connect()
        self.want()

    def worker(self, limits: Limits) -> FreshWorker:
        """A worker for one run under ``limits``, taken from the zygote when it runs."""
        return FreshWorker(self, limits)

    def take_ready(self) -> Spawned | None:
        """A worker the zygote pushed ahead of need, if one is there: never waits."""
        supply = self._supply
        if supply is None:
            return None
        try:
            message, fds, _, _ = socket.recv_fds(supply, 1024, 3)  # non-blocking
        except OSError:  # none there yet (BlockingIOError), or the zygote restarted meanwhile
            return None
        if not message:  # the zygote is gone: take() finds out, and starts another
            return None
        with self._stock_lock:
            self._stock -= 1
        return _received(message, fds, strict=False)

    def take(self) -> Spawned:
        """A worker: one pushed ahead of need, or the one the zygote has ready (it forks one
        if it has none)."""
        ready = self.take_ready()
        if ready is not None:
            return ready
        with self._lock:
            for _ in range(2):  # the zygote is gone: a new one, once (forked from here)
                try:
                    control = self._connect()
                    control.sendall(_TAKE)
                    message, fds, _, _ = socket.recv_fds(control, 1024, 3)
                except OSError:
                    message, fds = b"", []
                if message:
                    break
                self._end()
            else:  # this run fails; the next tries again
                raise PoolError("The Lua worker pool stopped unexpectedly, and again at restart")
        spawned = _received(message, fds, strict=True)
        assert spawned is not None
        return spawned

    def want(self) -> None:
        """Asks the zygote to push a worker ahead of need, unless one is there or coming.
        Never waits: call it when a run is over (the zygote then forks the next one while
        this process answers its client, not while the run goes on)."""
        with self._stock_lock:
            if self._stock > 0 or self._socket is None:
                return
            self._stock += 1
            with contextlib.suppress(OSError):  # the zygote is gone: take() finds out
                self._socket.send(_WANT)

    def wait(self, pid: int) -> int | None:
        """Has the zygote reap worker ``pid``, which has exited: its wait status, or None
        if the zygote is gone (init reaps the worker then, and only it knows)."""
        with self._lock:
            if self._socket is None:
                return None
            try:
                self._socket.sendall(_WAIT + pid.to_bytes(_WORD, "big"))
                status = self._socket.recv(_WORD)
            except OSError:
                return None
        return int.from_bytes(status, "big") if status else None

    def release(self, pid: int) -> None:
        """Has the zygote reap worker ``pid`` once it has exited, which it is doing; this
        process no longer signals it. Never waits (the zygote does not answer)."""
        control = self._socket
        if control is not None:
            with contextlib.suppress(OSError):  # the zygote is gone: init reaps it
                control.send(_RELEASE + pid.to_bytes(_WORD, "big"))

    def close(self) -> None:
        """Ends the zygote, and with it the workers it keeps ready (those pushed into the
        supply socket too: the kernel closes their lifelines with it)."""
        with self._lock:
            self._end()

    def _end(self) -> None:
        if self._socket is not None and self._zygote is not None:
            assert self._supply is not None
            self._supply.close()
            self._socket.close()  # its lifeline: it leaves
            os.waitpid(self._zygote, 0)
            with self._stock_lock:
                self._socket = self._supply = self._zygote = None
                self._stock = 0

    def _connect(self) -> socket.socket:
        if self._socket is None:
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            supply, pushing = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            pid = os.fork()
            if pid == 0:
                ours.close()
                supply.close()
                _Zygote(theirs, pushing, self.recipe).serve(self.limits, self._mcp_client)
            theirs.close()
            pushing.close()
            supply.setblocking(False)  # (recv_fds ignores its flags before Python 3.12)
            with self._stock_lock:
                self._socket, self._supply, self._zygote = ours, supply, pid
                self._stock = 0
        return self._socket


def _received(message: bytes, fds: list[int], *, strict: bool) -> Spawned | None:
    """A worker the zygote sent: its pid and pipe ends. A message without them says why
    the zygote could not fork: an error when ``strict``, else None."""
    if len(fds) != 3:
        for fd in fds:
            os.close(fd)
        if strict:
            raise PoolError(f"No Lua worker could be started: {message.decode()}")
        return None
    for fd in fds:  # received inheritable; ours are not (PEP 446)
        os.set_inheritable(fd, False)
    requests, replies, lifeline = fds
    return int.from_bytes(message, "big"), requests, replies, lifeline


class FreshWorker(Worker):
    """A worker from the pool: one run, in a Lua state nobody used before."""

    def __init__(self, pool: WorkerPool, limits: Limits) -> None:
        # The worker makes its dispatcher itself, from the zygote's copy of the recipe.
        super().__init__(limits, pool.recipe(limits))
        self._pool = pool

    def close(self) -> None:
        """After its run, a worker that started no MCP servers is let go at once: it is
        leaving, and has nothing to end that this process would wait for."""
        if self._pid is not None and not self._children:
            self._let_go()
        else:
            super().close()

    def _request(self, code: str, name: str, repl: bool) -> dict[str, Any]:
        # The run's limits come with it when they are not those its Lua state was built
        # under: the worker changes its state's to them.
        request = super()._request(code, name, repl)
        limits = {field: getattr(self.limits, field) for field in Limits.__slots__}
        if limits != self._pool.built_under:
            request["limits"] = limits
        return request

    def _spawn(self) -> Spawned:
        return self._pool.take()

    def _cpu_at_start(self) -> float:
        # Fresh: what it used before its run is its start and warm-up (about a millisecond),
        # which the grace past the limit covers; no need to read it first.
        return 0.0

    def _wait(self) -> int | None:
        # Once its reply pipe has closed the worker is exiting, and the zygote's wait is
        # short: a worker still at work would hold up every other take.
        while os.read(self._replies, 1 << 16):
            pass
        assert self._pid is not None
        return self._pool.wait(self._pid)

    def _let_go(self) -> None:
        # The run is over: the worker's teardown need not hold up the reply to the client.
        # Closing its lifeline ends it, if it has not left by itself.
        pid = self._pid
        self._forget()
        assert pid is not None
        self._pool.release(pid)

    def _forget(self) -> None:
        super()._forget()
        self._pool.want()  # the next run's worker


class _Zygote:
    """The zygote's loop: a worker ready for each ``take``, one pushed for each ``want``; a
    ``wait`` reaps one."""

    def __init__(
        self, control: socket.socket, supply: socket.socket, recipe: DispatchRecipe
    ) -> None:
        self._control = control
        self._supply = supply
        self._recipe = recipe
        self._serving: Serving | None = None
        self._ready: tuple[int, list[int]] | None = None
        self._leaving: set[int] = set()  # released workers not reaped yet
        # Ctrl-C reaches the whole process group: the zygote leaves with the server, but its
        # workers get the handler back, to end their run as before.
        self._sigint = signal.signal(signal.SIGINT, signal.SIG_IGN)
        for number in TERMINATIONS:  # not the server's handlers (a zygote restarted late)
            signal.signal(number, signal.SIG_DFL)

    def serve(self, limits: Limits, mcp_client: bool) -> NoReturn:
        status = 0
        try:
            while _PARENT_FDS:  # the server's ends of its workers' pipes (a restart)
                os.close(_PARENT_FDS.pop())
            _detach_stdio()
            _preload(mcp_client)
            # One Lua state for every worker, built once and never run: each worker runs in
            # its own copy (and seeds its math.random afresh, see supervisor._serve).
            self._serving = Serving(limits, self._recipe, hide=())
            self._serving.engine.collect_garbage()  # what building it left: none to copy
            gc.collect()
            gc.freeze()  # the collector leaves them be: workers keep sharing their pages
            self._prepare()
            while request := self._control.recv(1 + _WORD):
                self._reap_released()
                kind, pid = request[:1], int.from_bytes(request[1:], "big")
                if kind == _TAKE:
                    self._hand_over(self._control)
                elif kind == _WANT:
                    self._hand_over(self._supply)
                elif kind == _RELEASE:
                    self._leaving.add(pid)
                else:
                    _, reaped = os.waitpid(pid, 0)
                    self._control.sendall(reaped.to_bytes(_WORD, "big"))
        except BaseException:  # a bug of ours: say where, and stop
            import traceback

            os.write(2, f"kosmo: the Lua worker pool failed:\n{traceback.format_exc()}".encode())
            status = 70
        os._exit(status)  # the server closed the socket: it is gone, or done

    def _reap_released(self) -> None:
        """Reaps the released workers that have exited by now."""
        for pid in tuple(self._leaving):
            if os.waitpid(pid, os.WNOHANG)[0]:
                self._leaving.discard(pid)

    def _hand_over(self, channel: socket.socket) -> None:
        """Sends the ready worker on ``channel``, or why there is none; then readies the
        next one."""
        if self._ready is None:
            try:
                self._ready = self._fork()
            except OSError as exc:  # out of processes or memory: this run fails, not all
                with contextlib.suppress(OSError):
                    channel.sendall(str(exc).encode())
                return
        pid, fds = self._ready
        self._ready = None
        try:
            socket.send_fds(channel, [pid.to_bytes(_WORD, "big")], fds)
        except OSError:  # the server is leaving (closing the control socket next)
            return
        finally:
            for fd in fds:  # sent, or not: its lifeline closes, and it leaves
                os.close(fd)
        self._prepare()

    def _prepare(self) -> None:
        """Forks the next worker now, so the next run need not wait for it."""
        try:
            self._ready = self._fork()
        except OSError:
            self._ready = None  # the next take tries again, and says why if it fails

    def _fork(self) -> tuple[int, list[int]]:
        """A worker waiting for its first request: its pid, and the server's pipe ends."""
        request_read, request_write = os.pipe()
        reply_read, reply_write = os.pipe()
        lifeline_read, lifeline_write = os.pipe()
        pid = os.fork()
        if pid == 0:
            self._control.close()
            self._supply.close()
            for fd in (request_write, reply_read, lifeline_write):
                os.close(fd)
            signal.signal(signal.SIGINT, self._sigint)
            _bind_to_parent(lifeline_read)
            # Its request brings the run's limits; after that one run it leaves at once: the
            # server need not tell it to.
            requests = itertools.islice(_frames(request_read), 1)
            serving = self._serving
            assert serving is not None

            def warmed() -> Serving:
                serving.warm()  # while no request waits for it
                return serving

            _serve(warmed, requests, reply_write, request_read)
        for fd in (request_read, reply_write, lifeline_read):
            os.close(fd)
        return pid, [request_write, reply_read, lifeline_write]


def _preload(mcp_client: bool) -> None:
    from ..integrations import load

    for name in RUN_MODULES + (MCP_CLIENT_MODULES if mcp_client else ()):
        importlib.import_module(name)
    load()


def _detach_stdio() -> None:
    """Stdin and stdout become /dev/null: over stdio they carry the server's MCP messages,
    which nothing forked here may read or write."""
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1):
        os.dup2(null, fd)
    os.close(null)
