"""A purpose-built server on 127.0.0.1 for hostile HTTP behaviour: each connection gets one
request read, then ``handler(connection, request)`` in a thread of its own."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator

Handler = Callable[[socket.socket, bytes], None]


class LoopbackServer:
    """Answers each connection on 127.0.0.1; ``requests`` holds every request head read."""

    def __init__(self, handler: Handler) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._handler = handler
        self.requests: list[bytes] = []
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def connections(self) -> int:
        return len(self.requests)

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(connection,), daemon=True).start()

    def _answer(self, connection: socket.socket) -> None:
        with connection:
            request = _read_request(connection)
            self.requests.append(request)
            with contextlib.suppress(OSError):  # the client hung up, as some tests want
                self._handler(connection, request)

    def close(self) -> None:
        self._listener.close()


@contextlib.contextmanager
def servers() -> Iterator[Callable[[Handler], LoopbackServer]]:
    """``start(handler)`` starts a LoopbackServer; all are closed on leaving."""
    started: list[LoopbackServer] = []

    def start(handler: Handler) -> LoopbackServer:
        started.append(LoopbackServer(handler))
        return started[-1]

    try:
        yield start
    finally:
        for running in started:
            running.close()


def reply(status: str, body: bytes, **headers: str) -> bytes:
    """An HTTP/1.1 response; ``Content_Type="x"`` is the header Content-Type."""
    lines = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _read_request(connection: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        if not chunk:
            break
        data += chunk
    return data
