"""Serving an emulator over HTTP on loopback, for tools that cannot run it in process.

A threaded ``wsgiref`` server in a daemon thread, silent (no request log on stderr). A ``drop``
fault closes the connection without writing a byte, so clients see a real transport error.
"""

from __future__ import annotations

import ipaddress
import socket
import sys
import threading
from socketserver import ThreadingMixIn
from types import TracebackType
from wsgiref.simple_server import ServerHandler, WSGIRequestHandler, WSGIServer

from .app import API_PREFIX, Emulator
from .faults import DroppedConnection


class _Handler(ServerHandler):
    def handle_error(self) -> None:
        if isinstance(sys.exc_info()[1], DroppedConnection):
            return  # write nothing: the server then closes the socket
        super().handle_error()


class _RequestHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """Stay quiet: the emulator records requests itself."""

    def handle(self) -> None:
        """``WSGIRequestHandler.handle``, with the handler that can drop a connection."""
        self.raw_requestline = self.rfile.readline(65537)
        if not self.parse_request():
            return
        handler = _Handler(
            self.rfile, self.wfile, self.get_stderr(), self.get_environ(), multithread=True
        )
        handler.request_handler = self
        handler.run(self.server.get_app())


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class ServedEmulator:
    """A running server; ``base_url`` is its API root. Close it, or use it as a context."""

    def __init__(self, emulator: Emulator, server: _Server):
        self.emulator = emulator
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},  # close() waits for one poll at most
            name="buildkite-emulator",
            daemon=True,
        )
        self._thread.start()

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{API_PREFIX}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def __enter__(self) -> ServedEmulator:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def serve(emulator: Emulator, host: str = "127.0.0.1", port: int = 0) -> ServedEmulator:
    """Serve ``emulator`` on a loopback address (port 0: any free port)."""
    address = socket.gethostbyname(host)
    if not ipaddress.ip_address(address).is_loopback:
        raise ValueError(f"the emulator serves on loopback only, not {host!r}")
    server = _Server((address, port), _RequestHandler)
    server.set_app(emulator)
    return ServedEmulator(emulator, server)
