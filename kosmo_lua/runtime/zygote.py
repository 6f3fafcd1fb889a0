"""Fresh workers for ``kosmo mcp:serve``, forked ahead of need by a small process.

Every ``execute_lua`` runs in a worker of its own, so no run ever sees another's state. The
server used to fork each one itself: a copy of a process with the MCP SDK, a web stack and
threads, paid on every call. Instead, ``WorkerPool.start()`` forks a *zygote* while the server
is still small and has one thread (before the SDK is imported). The zygote loads what runs
use, forks one worker ahead of need, and waits on a Unix socket. ``take`` asks it for that
worker: it sends the worker's pid and the server's ends of its pipes (SCM_RIGHTS), closes
its own copies, and forks the next one while the run goes on. The worker built its Lua state
when it was forked, under the default limits; the run's own (each call asks for its own)
come with its request. From there on it is an ordinary ``supervisor.Worker``, which serves
that one run and exits.

What the supervisor guarantees still holds:

- Dying with the server: the server holds each taken worker's lifeline; the zygote holds the
  lifeline of the one it keeps ready, and its socket is the zygote's own lifeline. However
  the server dies, the kernel closes the socket, the zygote exits, and so does that worker.
- Limits: the server knows each worker's pid, reads its CPU time and kills it. The zygote
  reaps a worker only when the server lets it: ``wait`` for one that died or was killed
  (the server says how), ``release`` for one whose run is over. Until then a dead worker
  stays a zombie, so its pid is never reused while the server may still signal it.
- Clean workers: when the zygote forks, it holds no pipe end of any worker but the new one.
  It ignores Ctrl-C (it leaves with the server); its workers get Python's handler back.
  Both have /dev/null for stdin and stdout, which over stdio are the MCP connection.
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
_WAIT = b"w"
_RELEASE = b"r"
_WORD = 4  # bytes of a pid or a wait status on the socket


class PoolError(Exception):
    """No worker could be had: the zygote is gone, or could not fork."""


class WorkerPool:
    """The server's side of the zygote: ``worker(limits)`` is a fresh worker for one run.

    Safe to use from many threads: one request at a time goes over the socket.
    """

    def __init__(self, recipe: DispatchRecipe, *, mcp_client: bool = False) -> None:
        """``recipe`` makes each run's dispatcher factory, in its worker; ``mcp_client``
        loads the MCP client in the zygote too."""
        self.recipe = recipe
        self._mcp_client = mcp_client
        self._lock = threading.Lock()
        self._socket: socket.socket | None = None
        self._zygote: int | None = None

    def start(self) -> None:
        """Forks the zygote, if it is not running (``take`` does so when needed): call it
        early, while this process is small and has one thread."""
        with self._lock:
            self._connect()

    def worker(self, limits: Limits) -> FreshWorker:
        """A worker for one run under ``limits``, taken from the zygote when it runs."""
        return FreshWorker(self, limits)

    def take(self) -> tuple[int, int, int, int]:
        """The worker the zygote has ready: its pid, and this process's ends of its request,
        reply and lifeline pipes."""
        with self._lock:
            try:
                control = self._connect()
                control.sendall(_TAKE)
                message, fds, _, _ = socket.recv_fds(control, 1024, 3)
            except OSError:
                message, fds = b"", []
            if not message:  # the zygote is gone: this run fails, the next starts another
                self._end()
                raise PoolError("The Lua worker pool stopped unexpectedly; it restarts")
        if len(fds) != 3:
            for fd in fds:
                os.close(fd)
            raise PoolError(f"No Lua worker could be started: {message.decode()}")
        for fd in fds:  # received inheritable; ours are not (PEP 446)
            os.set_inheritable(fd, False)
        requests, replies, lifeline = fds
        return int.from_bytes(message, "big"), requests, replies, lifeline

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
        process no longer signals it."""
        with self._lock:
            if self._socket is not None:
                with contextlib.suppress(OSError):  # the zygote is gone: init reaps it
                    self._socket.sendall(_RELEASE + pid.to_bytes(_WORD, "big"))

    def close(self) -> None:
        """Ends the zygote, and with it the worker it keeps ready."""
        with self._lock:
            self._end()

    def _end(self) -> None:
        if self._socket is not None and self._zygote is not None:
            self._socket.close()  # its lifeline: it leaves
            os.waitpid(self._zygote, 0)
            self._socket = self._zygote = None

    def _connect(self) -> socket.socket:
        if self._socket is None:
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            pid = os.fork()
            if pid == 0:
                ours.close()
                _Zygote(theirs, self.recipe).serve(self._mcp_client)
            theirs.close()
            self._socket, self._zygote = ours, pid
        return self._socket


class FreshWorker(Worker):
    """A worker from the pool: one run, in a Lua state nobody used before."""

    def __init__(self, pool: WorkerPool, limits: Limits) -> None:
        # The worker makes its dispatcher itself, from the zygote's copy of the recipe.
        super().__init__(limits, pool.recipe(limits))
        self._pool = pool

    def _request(self, code: str, name: str, repl: bool) -> dict[str, Any]:
        # The run's limits come with it: the worker builds its Lua state with them.
        limits = {field: getattr(self.limits, field) for field in Limits.__slots__}
        return {**super()._request(code, name, repl), "limits": limits}

    def _spawn(self) -> tuple[int, int, int, int]:
        return self._pool.take()

    def _wait(self) -> int | None:
        # Once its reply pipe has closed the worker is exiting, and the zygote's wait is
        # short: a worker still at work would hold up every other take.
        while os.read(self._replies, 1 << 16):
            pass
        assert self._pid is not None
        return self._pool.wait(self._pid)

    def _let_go(self) -> None:
        # The run is over: the worker's teardown need not hold up the reply to the client.
        pid = self._pid
        self._forget()
        assert pid is not None
        self._pool.release(pid)


class _Zygote:
    """The zygote's loop: a worker ready for each ``take``; a ``wait`` reaps one."""

    def __init__(self, control: socket.socket, recipe: DispatchRecipe) -> None:
        self._control = control
        self._recipe = recipe
        self._ready: tuple[int, list[int]] | None = None
        self._leaving: set[int] = set()  # released workers not reaped yet
        # Ctrl-C reaches the whole process group: the zygote leaves with the server, but its
        # workers get the handler back, to end their run as before.
        self._sigint = signal.signal(signal.SIGINT, signal.SIG_IGN)
        for number in TERMINATIONS:  # not the server's handlers (a zygote restarted late)
            signal.signal(number, signal.SIG_DFL)

    def serve(self, mcp_client: bool) -> NoReturn:
        status = 0
        try:
            while _PARENT_FDS:  # the server's ends of its workers' pipes (a restart)
                os.close(_PARENT_FDS.pop())
            _detach_stdio()
            _preload(mcp_client)
            gc.freeze()  # the collector leaves them be: workers keep sharing their pages
            self._prepare()
            while request := self._control.recv(1 + _WORD):
                self._reap_released()
                kind, pid = request[:1], int.from_bytes(request[1:], "big")
                if kind == _TAKE:
                    self._hand_over()
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

    def _hand_over(self) -> None:
        """Sends the ready worker, or why there is none; then readies the next one."""
        if self._ready is None:
            try:
                self._ready = self._fork()
            except OSError as exc:  # out of processes or memory: this run fails, not all
                self._control.sendall(str(exc).encode())
                return
        pid, fds = self._ready
        socket.send_fds(self._control, [pid.to_bytes(_WORD, "big")], fds)
        for fd in fds:
            os.close(fd)
        self._ready = None
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
            for fd in (request_write, reply_read, lifeline_write):
                os.close(fd)
            signal.signal(signal.SIGINT, self._sigint)
            _bind_to_parent(lifeline_read)
            # Builds its Lua state now, under the default limits; its request brings the run's.
            # After that one run it leaves at once: the server need not tell it to.
            requests = itertools.islice(_frames(request_read), 1)
            _serve(requests, reply_write, Limits(), self._recipe, hide=())
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
