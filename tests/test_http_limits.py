"""Every HTTP reply is bounded in size and time: a compressed body by its decoded size (the
cap is the run's memory limit), a request by its deadline (connect, reply and repeats
together), whatever a server on loopback does: never answer, drip headers, drip a body."""

from __future__ import annotations

import gzip
import json
import socket
import time

import pytest
from loopback import Handler, reply, servers

from kosmo_lua.dispatch import AppDispatcher
from kosmo_lua.errors import ApiError, ConnectionFailed, LimitExceeded
from kosmo_lua.limits import MIB, Limits
from kosmo_lua.rest import RestClient
from kosmo_lua.runtime.supervisor import Worker

TOOL = "buildkite.buildkite_list_builds"


@pytest.fixture
def server():
    with servers() as start:
        yield start


def _client(url: str, **options: float) -> RestClient:
    return RestClient(url, {"Authorization": "Bearer t0ken"}, label="Buildkite API", **options)


def _get(client: RestClient) -> object:
    try:
        return client.request("GET", "/builds", tool=TOOL).data
    finally:
        client.close()


# Size ----------------------------------------------------------------------------------------


def _gzip_bomb(size: int) -> bytes:
    """A JSON array of ``size`` bytes, gzipped to a few KiB."""
    return gzip.compress(b"[" + b" " * (size - 2) + b"]", compresslevel=9)


def test_a_gzip_reply_is_capped_by_its_decoded_size(server):
    bomb = _gzip_bomb(64 * MIB)
    assert len(bomb) < 100_000
    api = server(lambda c, _: c.sendall(reply("200 OK", bomb, Content_Encoding="gzip")))
    with pytest.raises(LimitExceeded) as refused:
        _get(_client(api.url, max_body_bytes=2 * MIB))
    assert str(refused.value) == (
        f"Buildkite API reply to {TOOL} is larger than 2 MiB (the run's --memory-limit);"
        " ask for less (per_page, filters)"
    )
    assert (refused.value.kind, refused.value.category, refused.value.tool) == (
        "limit",
        "limit",
        TOOL,
    )


def test_a_reply_under_the_cap_is_decoded(server):
    body = json.dumps([{"number": n} for n in range(1000)]).encode()
    zipped = gzip.compress(body)
    api = server(lambda c, _: c.sendall(reply("200 OK", zipped, Content_Encoding="gzip")))
    assert _get(_client(api.url, max_body_bytes=len(body))) == json.loads(body)


def test_an_error_reply_is_capped_too(server):
    bomb = _gzip_bomb(8 * MIB)
    api = server(lambda c, _: c.sendall(reply("500 Oops", bomb, Content_Encoding="gzip")))
    with pytest.raises(LimitExceeded, match="larger than 1 MiB"):
        _get(_client(api.url, max_body_bytes=MIB))


@pytest.mark.parametrize("coding", ["gzip, gzip", "br", "zstd"])
def test_stacked_or_unasked_codings_are_refused_unread(server, coding):
    api = server(lambda c, _: c.sendall(reply("200 OK", b"\x1f\x8b", Content_Encoding=coding)))
    with pytest.raises(ConnectionFailed, match=f"content encoding '{coding}'"):
        _get(_client(api.url))


def test_the_cap_follows_the_runs_memory_limit(server, kosmo_home):
    from kosmo_lua.config import Config

    bomb = _gzip_bomb(16 * MIB)
    api = server(lambda c, _: c.sendall(reply("200 OK", bomb, Content_Encoding="gzip")))
    config = Config.load(kosmo_home)
    config.set_account("buildkite", "default", {"access_token": "t0ken", "url": api.url})
    config.save()
    limits = Limits(memory_bytes=4 * MIB)
    factory = AppDispatcher.factory(max_body_bytes=limits.body_bytes)
    with Worker(limits, factory) as worker:
        result = worker.run('return app.integrations.buildkite.api_get("/builds")', "cap.lua")
    assert not result.success
    assert result.error_info["kind"] == "limit"
    assert result.error_info["tool"] == "buildkite.buildkite_api_get"
    assert "larger than 4 MiB (the run's --memory-limit)" in result.error


# Time ----------------------------------------------------------------------------------------


def _drip(prefix: bytes, every: float = 0.2) -> Handler:
    """Sends ``prefix``, then one byte every ``every`` seconds, for ever."""

    def handler(connection: socket.socket, request: bytes) -> None:
        connection.sendall(prefix)
        while True:
            time.sleep(every)
            connection.sendall(b"x")

    return handler


def _silent(connection: socket.socket, request: bytes) -> None:
    time.sleep(30)


@pytest.mark.parametrize(
    "handler",
    [
        _silent,
        _drip(b"HTTP/1.1 200 OK\r\nX-Slow: "),
        _drip(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n"),
        _drip(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1000\r\n"),
    ],
    ids=["never-answers", "drips-headers", "drips-body", "drips-chunks"],
)
def test_a_request_ends_at_its_deadline_whatever_the_server_does(server, handler):
    api = server(handler)
    started = time.monotonic()
    with pytest.raises(LimitExceeded) as late:
        _get(_client(api.url, deadline=1.0))
    assert time.monotonic() - started < 2.5
    assert str(late.value).startswith(f"Buildkite API did not answer {TOOL} within 1 s")
    assert late.value.kind == "limit"
    assert api.connections == 1  # a late request is not repeated


def test_repeats_stop_when_the_deadline_leaves_no_time_for_them(server):
    api = server(lambda c, _: c.sendall(reply("502 Bad Gateway", b"")))
    started = time.monotonic()
    with pytest.raises(Exception, match=r"\(502\)"):
        _get(_client(api.url, deadline=1.2))
    # 0.5 s before the first repeat fits; the next (1 s more) would not.
    assert time.monotonic() - started < 1.2
    assert api.connections <= 2


def test_a_hostile_link_header_costs_time_in_proportion_to_its_size(server):
    # A Link of nothing but "<" (~90 KB: under httpcore's header bound) made the link
    # pattern try every "<" against the rest: ~25 s of CPU for each reply.
    api = server(lambda c, _: c.sendall(reply("200 OK", b"[]", Link="<" * 90_000)))
    started = time.process_time()
    assert _get(_client(api.url)) == []
    assert time.process_time() - started < 2


def test_an_error_reply_nested_too_deep_to_read_is_still_the_apis_error(server):
    # Its JSON too deep for Python's decoder had escaped as RecursionError, hiding the status.
    deep = b"[" * 100_000 + b"]" * 100_000
    api = server(lambda c, _: c.sendall(reply("422 Unprocessable", deep)))
    with pytest.raises(ApiError) as refused:
        _get(_client(api.url))
    assert refused.value.status == 422 and "Buildkite API error (422)" in str(refused.value)
