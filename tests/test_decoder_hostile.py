"""A hostile server's listing pages read with the C decoder and without it (KOSMO_NATIVE=0):
the script gets the same either way, through the CLI, whatever the pages are. A page the
decoder gives up on late (out of memory, or refused at its last bytes) leaves it nothing
the Python path then pays for."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner
from loopback import LoopbackServer, reply, servers

from kosmo_lua.cli import main
from kosmo_lua.runtime import native

pytestmark = pytest.mark.skipif(
    native.library_path() is None, reason="the C decoder is not built here: one path only"
)

LISTING = """\
local items = app.integrations.buildkite.list_organizations{all_pages = true}
local first = items[1]
return #items, type(first) == "table" and first.body and #first.body or json.encode(first)
"""


def _pages(bodies: list[bytes]) -> Any:
    """A handler that answers ``?page=N`` with bodies[N - 1], linking the next page."""

    def handle(connection: socket.socket, request: bytes) -> None:
        found = re.search(rb"[?&]page=(\d+)", request)
        page = int(found.group(1)) if found else 1
        host = re.search(rb"\r\nHost: ([^\r]+)", request, re.IGNORECASE)
        assert host is not None
        headers = {"Content_Type": "application/json"}
        if page < len(bodies):
            url = f"http://{host.group(1).decode()}/v2/organizations?page={page + 1}"
            headers["Link"] = f'<{url}>; rel="next"'
        connection.sendall(reply("200 OK", bodies[page - 1], **headers))

    return handle


@pytest.fixture
def api() -> Iterator[Any]:
    """``api(bodies)``: a server of those pages, configured as the default account's API."""
    with servers() as start:

        def serve(bodies: list[bytes]) -> LoopbackServer:
            server = start(_pages(bodies))
            done = CliRunner().invoke(
                main,
                [
                    "integrations:configure",
                    "buildkite",
                    "--set",
                    f"url={server.url}/v2",
                    "--set",
                    "access_token=bkua_hostile_pages_token",
                ],
            )
            assert done.exit_code == 0, done.output
            return server

        yield serve


def _both_ways(monkeypatch: pytest.MonkeyPatch, *options: str) -> dict[str, Any]:
    """The run's success, result and limit with the decoder ("1") and without ("0")."""
    found = {}
    for switch in ("0", "1"):
        monkeypatch.setenv(native.SWITCH, switch)
        done = CliRunner().invoke(main, ["integrations:lua", "-e", LISTING, "--json", *options])
        envelope = json.loads(done.stdout)
        found[switch] = (envelope["success"], envelope["result"], envelope["meta"].get("limit"))
    return found


def test_a_page_not_json_at_its_end_is_one_item_not_the_memory_limit(api, monkeypatch):
    """Megabytes of small objects, then bytes that are not JSON: the decoder runs out of
    memory before it meets them, but the page is one item holding its text (the Python
    path's answer), not a run ended at the memory limit."""
    body = b"[" + b'{"a":1},' * 200_000 + b'{"a":1} not JSON'
    api([body])
    found = _both_ways(monkeypatch, "--memory-limit", "8M")
    assert found["0"] == (True, [1, len(body)], None)
    assert found["1"] == found["0"]


def test_a_page_refused_at_its_last_bytes_leaves_no_garbage_to_count(api, monkeypatch):
    """Tens of thousands of tables, then a lone surrogate the decoder refuses: the tables
    it built are garbage, and the Python path's count of the page must not pay for them."""
    body = b"[" + b'{"a":1},' * 40_000 + b'"\\udc00"]'
    api([body, b'[{"a": 2}]'])
    found = _both_ways(monkeypatch, "--memory-limit", "8M")
    assert found["0"] == (True, [40_002, '{\n    "a": 1\n}'], None)
    assert found["1"] == found["0"]
