"""Emulators, run by the host: in process for ``--emulate``, on loopback for
``integrations:emulate``.

An integration's emulator is a WSGI application with the ``token`` it accepts and the
``base_path`` its API lives under (``tools.EmulatorApp``); everything else (the in-process
transport, the loopback server, one emulator per run shared by every account, which data
file feeds which emulator) is here, so every emulator gets all of it for free.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import sys
import threading
from collections.abc import Iterable, Mapping
from socketserver import ThreadingMixIn
from types import TracebackType
from typing import TYPE_CHECKING
from wsgiref.simple_server import ServerHandler, WSGIRequestHandler, WSGIServer

from .errors import ConfigError, UsageError
from .tools import EmulatorApp, Integration

if TYPE_CHECKING:  # httpx loads with the first in-process request, not with this module
    from wsgiref.types import StartResponse, WSGIEnvironment

    import httpx

EMULATED_HOST = "emulator.invalid"  # a name that resolves nowhere: nothing leaves the process


class DroppedConnection(Exception):
    """An emulator raises this to end the connection with no reply (a ``drop`` fault).

    On loopback the server closes the socket, so a client sees a transport error; in
    process, the transport turns it into ``httpx.RemoteProtocolError``.
    """


class Emulation:
    """The emulators of one run (``--emulate``): one per integration, shared by every
    account, fed from ``data_files`` (integration name → JSON file) or their demo data."""

    def __init__(self, data_files: Mapping[str, str] | None = None) -> None:
        self._data_files = dict(data_files or {})
        self._apps: dict[str, EmulatorApp] = {}

    def app(self, integration: Integration) -> EmulatorApp:
        if integration.emulator is None:
            raise ConfigError(f"{integration.title} has no emulator; run without --emulate")
        if integration.name not in self._apps:
            data_file = self._data_files.get(integration.name)
            self._apps[integration.name] = integration.emulator(data_file)
        return self._apps[integration.name]

    def base_url(self, integration: Integration) -> str:
        return f"http://{integration.name}.{EMULATED_HOST}{self.app(integration).base_path}"

    def transport(self, integration: Integration) -> httpx.BaseTransport:
        return wsgi_transport(self.app(integration))


def data_files(values: Iterable[str], integrations: Iterable[Integration]) -> dict[str, str]:
    """``--emulate-data`` values as integration name → file: ``NAME=FILE``, or a bare
    ``FILE`` for the only integration that has an emulator. Each file is loaded once here,
    so a flaw in it is a usage error before the run, not a failed call inside it."""
    integrations = list(integrations)
    emulated = [i.name for i in integrations if i.emulator is not None]
    files: dict[str, str] = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep:
            if len(emulated) != 1:
                raise UsageError(
                    f"--emulate-data {value}: say which emulator it feeds, as NAME=FILE"
                    f" ({', '.join(emulated) or 'no integration has one'})"
                )
            name, path = emulated[0], value
        if name not in emulated:
            raise UsageError(
                f"--emulate-data {value}: {name!r} has no emulator"
                f" (emulated: {', '.join(emulated) or 'none'})"
            )
        files[name] = path
    for integration in integrations:
        if integration.name in files:
            load_app(integration, files[integration.name])
    return files


def load_app(integration: Integration, data_file: str | None) -> EmulatorApp:
    """The integration's emulator; a flaw in ``data_file`` is a ``UsageError`` naming it."""
    assert integration.emulator is not None
    if data_file is not None and not os.path.isfile(data_file):
        raise UsageError(f"Emulator data file not found: {data_file}")
    try:
        return integration.emulator(data_file)
    except ValueError as exc:  # the loader's own: it names the record and field
        raise UsageError(f"Cannot load emulator data from {data_file}: {exc}") from None
    except Exception as exc:  # a flaw the loader did not foresee: say what it was
        raise UsageError(
            f"Cannot load emulator data from {data_file}: {type(exc).__name__}: {exc}"
        ) from None


def wsgi_transport(app: EmulatorApp) -> httpx.BaseTransport:
    """An ``httpx`` transport to ``app`` in process, where a dropped connection raises
    ``httpx.RemoteProtocolError`` as a real one would."""
    import httpx

    sending = threading.local()  # the request this thread is handing to the app

    def with_raw_uri(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """httpx gives the app the path decoded (``%2F`` as ``/``): the path as sent goes
        with it as ``RAW_URI``, as on loopback."""
        environ["RAW_URI"] = sending.raw_path
        return app(environ, start_response)

    class Transport(httpx.WSGITransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            sending.raw_path = request.url.raw_path.decode("ascii")
            try:
                return super().handle_request(request)
            except DroppedConnection as error:
                raise httpx.RemoteProtocolError(
                    "Server disconnected without sending a response.", request=request
                ) from error

    return Transport(app=with_raw_uri)


# Serving on loopback: a threaded wsgiref server in a daemon thread, silent (no request log).


class _Handler(ServerHandler):
    def handle_error(self) -> None:
        if isinstance(sys.exc_info()[1], DroppedConnection):
            return  # write nothing: the server then closes the socket
        super().handle_error()


class _RequestHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """Stay quiet: emulators record requests themselves."""

    def get_environ(self) -> dict[str, str]:
        """wsgiref's, plus the path as sent (``RAW_URI``): ``PATH_INFO`` has ``%2F`` decoded
        into a ``/`` that would split a segment."""
        environ = super().get_environ()
        environ["RAW_URI"] = self.path
        return environ

    def handle(self) -> None:
        """``WSGIRequestHandler.handle``, with the handler that can drop a connection."""
        self.raw_requestline = self.rfile.readline(65537)
        if not self.parse_request():
            return
        handler = _Handler(
            self.rfile,
            # wsgiref's own handle() passes wfile too; typeshed wants an IO[bytes] there.
            self.wfile,  # type: ignore[arg-type]
            self.get_stderr(),
            self.get_environ(),
            multithread=True,
        )
        handler.request_handler = self  # type: ignore[attr-defined]
        handler.run(self.server.get_app())  # type: ignore[attr-defined]


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    # socketserver's 5 refuses part of a burst: a script's app.map opens up to 64 at once.
    request_queue_size = 1024


class Served:
    """A running server; ``base_url`` is its API root. Close it, or use it as a context."""

    def __init__(self, app: EmulatorApp, server: _Server) -> None:
        self.app = app
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},  # close() waits for one poll at most
            name="emulator",
            daemon=True,
        )
        self._thread.start()

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{self.app.base_path}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def __enter__(self) -> Served:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def serve(app: EmulatorApp, host: str = "127.0.0.1", port: int = 0) -> Served:
    """Serves ``app`` on a loopback address (port 0: any free port); never elsewhere."""
    address = socket.gethostbyname(host)
    if not ipaddress.ip_address(address).is_loopback:
        raise ValueError(f"emulators serve on loopback only, not {host!r}")
    server = _Server((address, port), _RequestHandler)
    server.set_app(app)
    return Served(app, server)
