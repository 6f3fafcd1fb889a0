"""The in-process httpx transport to an emulator.

Only :meth:`Emulator.transport` imports this module, so importing the emulator never loads
httpx.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx

from .faults import DroppedConnection

if TYPE_CHECKING:
    from .app import Emulator


class EmulatorTransport(httpx.WSGITransport):
    """``httpx.WSGITransport`` whose dropped connections look like a real server's."""

    def __init__(self, emulator: Emulator):
        super().__init__(app=emulator)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return super().handle_request(request)
        except DroppedConnection as error:
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            ) from error
