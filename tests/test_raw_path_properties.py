"""For every generated raw path (segments of dots, encodings, separators, unicode) that
``safe_path`` accepts, the request RestClient builds stays under the base path: as httpx
normalises it, and as a server that decodes, folds and drops parameters would read it."""

from __future__ import annotations

import posixpath
import unicodedata
import urllib.parse

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kosmo_lua.errors import ArgumentError
from kosmo_lua.rest import RestClient, safe_path

BASE = "https://api.example.test/v2"
TRICKY = [
    ".", "..", "...", "%2e", "%2E", "%252e", "%25252e", "%c0%ae", "%e0%80%ae",
    "\uff0e", "%ef%bc%8e", "\u2024", "%e2%80%a4", "\u3002", "\uff61", "%ef%bd%a1",
    " ", "%20", "%09", "\t", ";", ";x=1", "%3b", "/", "%2f", "%2F", "%252f", "\\", "%5c",
    "@", "%40", ":", "http:", "//", "#", "?", "%", "%25", "~", "-", "_", "a", "Z", "0",
    "\u200b", "%00", "\x00", "\u00e9", "%c3%a9", "!", "$", "&", "'", "(", "*", "+", ",", "=",
]  # fmt: skip

plain = st.text("abcXYZ019-_~.:;=,!$&'()*+%", min_size=1, max_size=6)
atoms = st.one_of(plain, plain, st.sampled_from(TRICKY), st.text(max_size=3))
segments = st.lists(atoms, max_size=3).map("".join)
paths = st.builds(
    lambda lead, parts, sep, query: lead + sep.join(parts) + query,
    st.sampled_from(["", "/", "/", "/", "//", "./", "../"]),
    st.lists(segments, min_size=1, max_size=6),
    st.sampled_from(["/", "/", "/", "/", "/", "\\", "%2f"]),
    st.sampled_from(["", "?page=2", "?q=a/../b", "?x=%2e%2e"]),
)


def _sent_url(path: str) -> httpx.URL:
    """The URL of the request RestClient sends for an accepted path."""
    sent: list[httpx.URL] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request.url)
        return httpx.Response(200, json={})

    client = RestClient(BASE, {}, label="Test API", transport=httpx.MockTransport(answer))
    try:
        client.request("GET", path)
    finally:
        client.close()
    (url,) = sent
    return url


def _as_a_server_reads(path: str) -> str:
    """The path after every reading some server applies: decoded until stable, folded to
    NFKC, backslashes as slashes, ';' parameters and padding dropped, dot segments removed."""
    while (decoded := urllib.parse.unquote(path)) != path:
        path = decoded
    path = unicodedata.normalize("NFKC", path).replace("\\", "/").replace("\u3002", ".")
    segments = [segment.split(";", 1)[0].strip() for segment in path.split("/")]
    return posixpath.normpath("/".join(segments))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(paths)
def test_an_accepted_path_never_leaves_the_base_path(raw: str) -> None:
    try:
        checked = safe_path(raw)
    except ArgumentError:
        return
    url = _sent_url(checked)
    assert (url.scheme, url.host, url.port) == ("https", "api.example.test", None)
    assert url.path.startswith("/v2/")
    sent_path = url.raw_path.decode("ascii").partition("?")[0]
    assert posixpath.normpath(sent_path).startswith("/v2")
    read = _as_a_server_reads(sent_path)
    assert read == "/v2" or read.startswith("/v2/"), (raw, sent_path, read)
