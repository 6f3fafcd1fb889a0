"""download_artifact follows the API's redirect to the artifact storage itself: never with
the account's token, never to a URL it must not reach, never holding more than max_bytes."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx

from kosmo_lua.catalog import Catalog
from kosmo_lua.config import Config
from kosmo_lua.emulation import Emulation, serve
from kosmo_lua.errors import ApiError, ArgumentError, ConnectionFailed, HostError, LimitExceeded
from kosmo_lua.integrations import load
from kosmo_lua.integrations.buildkite.emulator import Emulator
from kosmo_lua.invoker import Invoker

BASE = "https://api.buildkite.com/v2"
TOKEN = "bkua_artifact_test_SECRET"
JOB = "/organizations/acme-inc/pipelines/web/builds/42/jobs/job-1"
DOWNLOAD = JOB + "/artifacts/art-1/download"
STORAGE = "https://storage.example/artifacts/report.txt"
ARGS = {
    "organization": "acme-inc",
    "pipeline": "web",
    "number": 42,
    "job_id": "job-1",
    "artifact_id": "art-1",
}
BUILDKITE = load()[0]


def _invoker(home: Any, url: str | None = None, token: str = TOKEN, **options: Any) -> Invoker:
    config = Config.load(home)
    config.set_account(
        "buildkite", "default", {"access_token": token, **({"url": url} if url else {})}
    )
    return Invoker(Catalog([BUILDKITE]), config, force=True, report=lambda *_: None, **options)


def _call(invoker: Invoker, name: str, *args: Any) -> Any:
    return invoker.invoke(f"app.integrations.buildkite.{name}", list(args))[0]


def _junit_report(invoker: Invoker) -> dict[str, Any]:
    """The failed api build's JUnit report, read with download_artifact."""
    build = _call(
        invoker,
        "list_builds",
        {"organization": "acme-inc", "pipeline": "api", "state": "failed", "per_page": 1},
    )[0]
    artifact = _call(invoker, "list_artifacts", "acme-inc", "api", build["number"])[0]
    return _call(
        invoker,
        "download_artifact",
        {
            "organization": "acme-inc",
            "pipeline": "api",
            "number": build["number"],
            "job_id": artifact["job_id"],
            "artifact_id": artifact["id"],
        },
    )


def _downloads(emulator: Emulator) -> list[Any]:
    return [r for r in emulator.requests if r.path.endswith("/download")]


# Against the emulator: the storage records what it got. ----------------------------------


def test_the_storage_gets_no_token_over_loopback(kosmo_home):
    emulator = Emulator()
    with serve(emulator) as served:
        invoker = _invoker(kosmo_home, served.base_url, token=emulator.token)
        with invoker:
            report = _junit_report(invoker)
    assert report["filename"] == "integration.xml"
    assert report["mime_type"] == "application/xml"
    assert "test_refund_total_matches" in report["text"]
    assert report["bytes"] == len(report["text"].encode())
    assert _downloads(emulator)[0].headers["authorization"] == f"Bearer {emulator.token}"
    [storage] = emulator.storage_requests
    assert "authorization" not in storage.headers
    assert emulator.token not in str(storage)


def test_the_storage_gets_no_token_under_emulate(kosmo_home):
    emulation = Emulation()
    with _invoker(kosmo_home, emulation=emulation) as invoker:
        report = _junit_report(invoker)
    emulator = emulation.app(BUILDKITE)
    assert isinstance(emulator, Emulator)
    assert "<testsuites>" in report["text"]
    [storage] = emulator.storage_requests
    assert storage.path.startswith("/_storage/")
    assert "authorization" not in storage.headers


def test_the_emulated_storage_refuses_a_token_a_bad_signature_and_an_expired_url():
    emulator = Emulator()
    build = next(b for b in emulator.world.builds if b.pipeline.slug == "api" and b.number == 14)
    job = next(j for j in build.jobs if j.artifacts)
    path = f"/v2/organizations/acme-inc/pipelines/api/builds/14/jobs/{job.id}/artifacts"
    auth = {"Authorization": f"Bearer {emulator.token}"}
    with httpx.Client(transport=httpx.WSGITransport(app=emulator), base_url="http://bk") as web:
        artifact = web.get(path, headers=auth).json()[0]
        redirect = web.get(f"{path}/{artifact['id']}/download", headers=auth)
        assert redirect.status_code == 302
        url = redirect.headers["Location"]
        assert redirect.json() == {"url": url}
        with_token = web.get(url, headers=auth)
        assert with_token.status_code == 400
        assert "Only one auth mechanism allowed" in with_token.text
        assert web.get(url.replace("Signature=", "Signature=0")).status_code == 403
        fetched = web.get(url)
        assert fetched.status_code == 200
        assert fetched.headers["Content-Type"] == "application/xml"
        assert fetched.content == job.artifacts[0].content
        emulator.advance(61)
        expired = web.get(url)
        assert expired.status_code == 403 and "Request has expired" in expired.text
    assert [("authorization" in r.headers) for r in emulator.storage_requests] == [
        True,
        False,
        False,
        False,
    ]


# Against respx: what the API and the storage answer is the test's to choose. ---------------


@pytest.fixture
def web() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as mock:
        yield mock


def _redirect(web: respx.MockRouter, location: str) -> respx.Route:
    return web.get(BASE + DOWNLOAD).respond(
        302, json={"url": location}, headers={"Location": location}
    )


def _download(home: Any, **args: Any) -> tuple[Any, dict[str, Any]]:
    with _invoker(home, environ={}) as invoker:
        return invoker.invoke("app.integrations.buildkite.download_artifact", [{**ARGS, **args}])


@pytest.mark.parametrize(
    ("location", "problem"),
    [
        ("file:///etc/passwd", "only http and https URLs are followed"),
        ("ftp://storage.example/report.txt", "only http and https URLs are followed"),
        ("gopher://storage.example:70/x", "only http and https URLs are followed"),
        ("http:///report.txt", "it names no host"),
        ("https://user:secret@storage.example/report.txt", "it carries credentials"),
        ("http://127.0.0.1:9000/report.txt", "it points at this machine (loopback)"),
        ("http://localhost/report.txt", "it points at this machine (loopback)"),
        ("http://LOCALHOST./report.txt", "it points at this machine (loopback)"),
        ("http://metadata.localhost/x", "it points at this machine (loopback)"),
        ("http://[::1]:9000/report.txt", "it points at this machine (loopback)"),
        ("http://[::ffff:127.0.0.1]/x", "it points at this machine (loopback)"),
        ("http://127.1/report.txt", "an IP address in a non-standard form"),
        ("http://2130706433/report.txt", "an IP address in a non-standard form"),
        ("http://0x7f000001/report.txt", "an IP address in a non-standard form"),
        ("http://169.254.169.254/latest/meta-data/", "link-local, unspecified or multicast"),
        ("http://[fe80::1]/x", "link-local, unspecified or multicast"),
        ("http://0.0.0.0:8000/x", "link-local, unspecified or multicast"),
        ("http://storage.example:99999/x", "it is not a valid URL"),
    ],
)
def test_a_storage_url_it_must_not_reach_is_refused_unrequested(kosmo_home, web, location, problem):
    api = _redirect(web, location)
    elsewhere = web.route()  # anything else: must never be asked
    with pytest.raises(HostError) as refused:
        _download(kosmo_home)
    assert "buildkite.buildkite_download_artifact: refused to download the artifact" in str(
        refused.value
    )
    assert problem in str(refused.value)
    assert api.call_count == 1 and elsewhere.call_count == 0


def test_a_redirect_httpx_cannot_read_is_refused_unrequested(kosmo_home, web):
    api = _redirect(web, "javascript:alert(1)")
    elsewhere = web.route()
    with pytest.raises(HostError, match="with a redirect to an unusable URL"):
        _download(kosmo_home)
    assert api.call_count == 1 and elsewhere.call_count == 0


def test_the_api_gets_the_token_and_the_storage_does_not(kosmo_home, web):
    api = _redirect(web, STORAGE + "?X-Amz-Signature=abc")
    storage = web.get(STORAGE).respond(
        200, content=b"all 48 passed\n", headers={"Content-Type": "text/plain; charset=utf-8"}
    )
    data, meta = _download(kosmo_home)
    assert data == {
        "filename": "report.txt",
        "mime_type": "text/plain",
        "bytes": 14,
        "text": "all 48 passed\n",
    }
    assert meta["status"] == 200
    assert api.calls.last.request.headers["Authorization"] == f"Bearer {TOKEN}"
    sent = storage.calls.last.request
    assert "Authorization" not in sent.headers and "Cookie" not in sent.headers
    assert TOKEN not in str(sent.headers) and TOKEN not in str(sent.url)
    assert sent.url.params["X-Amz-Signature"] == "abc"
    assert sent.headers["User-Agent"].startswith("kosmo-lua/")


def test_binary_comes_back_as_base64(kosmo_home, web):
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
    _redirect(web, "https://storage.example/shots/home.png")
    web.get("https://storage.example/shots/home.png").respond(
        200, content=png, headers={"Content-Type": "image/png"}
    )
    data, _ = _download(kosmo_home)
    assert data == {
        "filename": "home.png",
        "mime_type": "image/png",
        "bytes": len(png),
        "base64": base64.b64encode(png).decode(),
    }


def test_the_name_in_content_disposition_wins(kosmo_home, web):
    _redirect(web, "https://storage.example/objects/a1b2c3")
    web.get("https://storage.example/objects/a1b2c3").respond(
        200, content=b"x", headers={"Content-Disposition": 'attachment; filename="out.log"'}
    )
    data, _ = _download(kosmo_home)
    assert data["filename"] == "out.log" and data["mime_type"] == "application/octet-stream"


def test_a_url_in_the_body_serves_when_there_is_no_location(kosmo_home, web):
    web.get(BASE + DOWNLOAD).respond(200, json={"url": STORAGE})
    web.get(STORAGE).respond(200, content=b"ok")
    assert _download(kosmo_home)[0]["text"] == "ok"


def test_no_url_at_all_is_an_error(kosmo_home, web):
    web.get(BASE + DOWNLOAD).respond(200, json={})
    with pytest.raises(HostError, match="the API named no download URL"):
        _download(kosmo_home)


class _Counted(httpx.SyncByteStream):
    """``chunks`` chunks of ``size`` bytes, counting how many were taken."""

    def __init__(self, chunks: int, size: int) -> None:
        self.chunks, self.size, self.taken = chunks, size, 0

    def __iter__(self) -> Iterator[bytes]:
        for _ in range(self.chunks):
            self.taken += 1
            yield b"a" * self.size


def test_a_declared_size_over_max_bytes_is_refused_unread(kosmo_home, web):
    body = _Counted(100, 65536)
    _redirect(web, STORAGE)
    web.get(STORAGE).mock(
        return_value=httpx.Response(200, headers={"Content-Length": str(100 * 65536)}, stream=body)
    )
    with pytest.raises(LimitExceeded) as refused:
        _download(kosmo_home, max_bytes=1000)
    assert "the artifact (6553600 bytes) is larger than max_bytes (1000 bytes)" in str(
        refused.value
    )
    assert body.taken == 0


def test_a_body_past_max_bytes_stops_being_read(kosmo_home, web):
    body = _Counted(100, 65536)  # 6.25 MiB, no Content-Length
    _redirect(web, STORAGE)
    web.get(STORAGE).mock(return_value=httpx.Response(200, stream=body))
    with pytest.raises(LimitExceeded, match=r"larger than max_bytes \(100000 bytes\)"):
        _download(kosmo_home, max_bytes=100_000)
    assert body.taken <= 3  # what fits in 100000 bytes, and the chunk that passed it


def test_max_bytes_defaults_to_the_memory_limit(kosmo_home, web, request):
    _redirect(web, STORAGE)
    web.get(STORAGE).mock(return_value=httpx.Response(200, stream=_Counted(3, 1000)))
    invoker = _invoker(kosmo_home, environ={}, max_body_bytes=2500)
    request.addfinalizer(invoker.close)
    with pytest.raises(LimitExceeded, match=r"larger than max_bytes \(2500 bytes\)"):
        invoker.invoke("app.integrations.buildkite.download_artifact", [ARGS])
    with pytest.raises(ArgumentError, match=r"must be at most 2500 \(the run's --memory-limit"):
        invoker.invoke(
            "app.integrations.buildkite.download_artifact", [{**ARGS, "max_bytes": 2501}]
        )


def test_a_redirect_from_the_storage_is_not_followed(kosmo_home, web):
    _redirect(web, STORAGE)
    web.get(STORAGE).respond(302, headers={"Location": "http://169.254.169.254/"})
    elsewhere = web.route()
    with pytest.raises(HostError, match="answered 302 with another redirect; it is not followed"):
        _download(kosmo_home)
    assert elsewhere.call_count == 0


def test_a_storage_error_says_so(kosmo_home, web):
    _redirect(web, STORAGE)
    web.get(STORAGE).respond(
        403,
        content=b"<?xml version='1.0'?>\n<Error><Code>AccessDenied</Code>\n"
        b"<Message>Request has expired</Message></Error>",
    )
    with pytest.raises(ApiError) as failed:
        _download(kosmo_home)
    assert failed.value.status == 403
    assert str(failed.value).startswith("Artifact storage error (403): <?xml")
    assert "Request has expired" in str(failed.value)


def test_an_unreachable_storage_is_a_connection_error(kosmo_home, web):
    _redirect(web, STORAGE)
    web.get(STORAGE).mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(ConnectionFailed, match="Failed to connect to the artifact storage"):
        _download(kosmo_home)


def test_an_encoding_the_bounds_cannot_hold_is_refused(kosmo_home, web):
    _redirect(web, STORAGE)
    web.get(STORAGE).respond(200, content=b"x", headers={"Content-Encoding": "br"})
    with pytest.raises(ConnectionFailed, match="content encoding 'br'"):
        _download(kosmo_home)
