"""The emulator's routing follows the real API's leniencies: trailing slashes, ``page=0`` and
pages past the end, unknown query parameters, ``HEAD`` wherever ``GET`` goes, ``405`` with
``Allow`` and ``404`` as JSON, and ``Content-Type`` and ``RateLimit-*`` on every answer."""

from __future__ import annotations

import httpx
import pytest
from test_emulator import AUTH, ORG, PIPELINES, FakeClock, connect

from kosmo_lua.emulation import serve
from kosmo_lua.integrations.buildkite.emulator import Emulator
from kosmo_lua.integrations.buildkite.emulator.attachments import storage_root

BUILD = f"{PIPELINES}/api/builds/14"
RATE_HEADERS = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset")


def failed_job(client: httpx.Client) -> str:
    build = client.get(BUILD).json()
    return str(next(job["id"] for job in build["jobs"] if job["state"] == "failed"))


# Trailing slashes.


@pytest.mark.parametrize(
    "path", ["/user", "/organizations", f"{ORG}/pipelines", f"{PIPELINES}/api", BUILD]
)
def test_a_trailing_slash_names_the_same_resource(client: httpx.Client, path: str) -> None:
    plain, slashed = client.get(path), client.get(path + "/")
    assert plain.status_code == slashed.status_code == 200
    assert slashed.json() == plain.json()


def test_a_trailing_slash_works_for_every_method(client: httpx.Client) -> None:
    created = client.post(f"{PIPELINES}/web/builds/", json={"commit": "abc", "branch": "main"})
    assert created.status_code == 201
    number = created.json()["number"]
    canceled = client.put(f"{PIPELINES}/web/builds/{number}/cancel/")
    assert canceled.status_code == 200 and canceled.json()["state"] in ("canceled", "canceling")


def test_slashes_alone_are_no_resource(client: httpx.Client) -> None:
    """``/v2//`` is the root, which the API has nothing at, however many slashes."""
    for path in ("/", "//", "///"):
        reply = client.get(path)
        assert reply.status_code == 404
        assert reply.json() == {"message": "Not Found"}


# Pages.


def test_page_zero_and_nonsense_pages_are_the_first_page(client: httpx.Client) -> None:
    first = client.get("/builds", params={"per_page": 3})
    for page in ("0", "-4", "x", "", "1"):
        reply = client.get("/builds", params={"per_page": 3, "page": page})
        assert reply.status_code == 200
        assert [b["id"] for b in reply.json()] == [b["id"] for b in first.json()]
        assert reply.links["next"]["url"].endswith("page=2&per_page=3")
        assert "prev" not in reply.links and "first" not in reply.links


def test_a_page_past_the_end_is_empty(client: httpx.Client) -> None:
    """As the API's pagination does: 200 with no items, links back, none forward."""
    reply = client.get("/builds", params={"per_page": 30, "page": 9})
    assert reply.status_code == 200
    assert reply.json() == []
    assert set(reply.links) == {"first", "prev"}
    huge = client.get("/organizations", params={"page": "9" * 30})
    assert huge.status_code == 200 and huge.json() == []


# Unknown query parameters.


def test_unknown_query_parameters_are_ignored(client: httpx.Client) -> None:
    assert client.get("/user", params={"frobnicate": "1"}).json() == client.get("/user").json()
    plain = client.get(f"{PIPELINES}/api/builds", params={"per_page": 2})
    odd = client.get(f"{PIPELINES}/api/builds", params={"per_page": 2, "sort": "sideways"})
    assert odd.json() == plain.json()
    assert "sort=sideways" in odd.links["next"]["url"]  # kept, as the API keeps the query


def test_an_unknown_parameter_cannot_forge_a_link(client: httpx.Client) -> None:
    """Kept parameters are percent-encoded in ``Link``: a value with ``>``, ``,`` and ``;``
    cannot end the URL or add a relation, even for a client that splits on ``", "``."""
    forged = '>; rel="last", <http://evil.test/v2/builds?page=9>; rel="next'
    reply = client.get("/builds", params={"per_page": 5, "x": forged, "y\r\nSet-Cookie": "1"})
    assert reply.status_code == 200
    link = reply.headers["Link"]
    parts = link.split(", ")
    assert link.count("<") == link.count(">") == len(parts) == 2
    assert [part.split("; ")[1] for part in parts] == ['rel="next"', 'rel="last"']
    assert all(part.startswith("<http://bk.test/v2/builds?") for part in parts)
    assert "Set-Cookie" not in reply.headers


# HEAD.


HEAD_PATHS = [
    "/user",
    "/access-token",
    "/organizations",
    f"{ORG}/agents",
    f"{ORG}/pipelines",
    f"{PIPELINES}/api/builds",
    BUILD,
    f"{BUILD}/jobs",
    f"{BUILD}/annotations",
    f"{BUILD}/artifacts",
    "/nowhere",
]


@pytest.mark.parametrize("path", HEAD_PATHS)
def test_head_answers_as_get_without_the_body(client: httpx.Client, path: str) -> None:
    got, head = client.get(path), client.head(path)
    assert head.status_code == got.status_code
    assert head.content == b""
    assert head.headers["Content-Length"] == got.headers["Content-Length"]
    assert head.headers["Content-Type"] == got.headers["Content-Type"]
    assert head.headers.get("Link") == got.headers.get("Link")


def test_head_over_the_socket_sends_headers_only(emulator: Emulator) -> None:
    with serve(emulator) as served, httpx.Client(base_url=served.base_url, headers=AUTH) as web:
        got, head = web.get("/organizations"), web.head("/organizations")
        assert head.status_code == 200 and head.content == b""
        assert int(head.headers["Content-Length"]) == len(got.content) > 0
        assert head.headers["Content-Type"] == "application/json; charset=utf-8"
        assert web.get("/user").status_code == 200  # the connection is still in step


def test_an_encoded_slash_stays_inside_its_segment(emulator: Emulator) -> None:
    # The API routes the path as sent: a slug "web/builds" (sent as web%2Fbuilds) is one
    # pipeline that does not exist, not the builds of pipeline "web".
    with serve(emulator) as served, httpx.Client(base_url=served.base_url, headers=AUTH) as web:
        assert web.get(f"{PIPELINES}/web%2Fbuilds").status_code == 404
        assert web.get(f"{PIPELINES}/web").json()["slug"] == "web"
        assert web.get(f"{ORG}%2Fpipelines").status_code == 404
        page = web.get(f"{PIPELINES}/web/builds", params={"per_page": 1})
        assert page.headers["Link"].startswith(f"<{served.base_url}{PIPELINES}/web/builds?")


def test_an_encoded_slash_in_a_scripts_slug_is_404_in_process() -> None:
    from click.testing import CliRunner

    from kosmo_lua.cli import main

    code = (
        "local ok, e = pcall(app.integrations.buildkite.get_pipeline,"
        ' {organization = "acme-inc", pipeline = "web/builds"})'
        " return ok, e.status"
    )
    done = CliRunner().invoke(main, ["integrations:lua", "--emulate", "-e", code])
    assert done.exit_code == 0, done.output
    assert done.output.split() == ["false", "404"]


@pytest.mark.parametrize(
    ("length", "status"),
    [("abc", 400), ("-5", 400), ("99999999999999", 413), ("5000000000", 413)],
)
def test_a_content_length_that_cannot_be_read_is_refused_before_reading(
    emulator: Emulator, length: str, status: int
) -> None:
    # Read as given, a huge length was allocated (MemoryError, or a thread waiting on
    # gigabytes that never come) and a bad one a traceback and a bare 500.
    import json
    import socket

    with serve(emulator) as served:
        host, port = served._server.server_address[:2]
        with socket.create_connection((host, port), timeout=10) as raw:
            raw.sendall(
                f"POST {PIPELINES}/web/builds HTTP/1.1\r\nHost: {host}\r\n"
                f"Authorization: {AUTH['Authorization']}\r\nContent-Length: {length}\r\n"
                "Content-Type: application/json\r\n\r\n{}".encode()
            )
            reply = b""
            while chunk := raw.recv(65536):
                reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.split(b" ")[1] == str(status).encode()
    assert "Content-Length" in json.loads(body)["message"]


def test_a_job_logs_head_is_its_raw_size_as_text(client: httpx.Client) -> None:
    log = f"{BUILD}/jobs/{failed_job(client)}/log"
    head = client.head(log)
    raw = client.get(log, headers={"Accept": "text/plain"})
    assert head.headers["Content-Length"] == str(len(raw.content))
    assert head.headers["Content-Type"] == raw.headers["Content-Type"]


# 405 and 404.


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/user", "GET, HEAD"),
        ("POST", "/organizations", "GET, HEAD"),
        ("PATCH", f"{ORG}/pipelines", "GET, HEAD, POST"),
        ("PUT", f"{PIPELINES}/api", "DELETE, GET, HEAD, PATCH"),
        ("GET", f"{BUILD}/cancel", "PUT"),
        ("POST", f"{BUILD}/rebuild/", "PUT"),
        ("OPTIONS", f"{BUILD}/annotations", "GET, HEAD, POST"),
        ("BREW", "/organizations", "GET, HEAD"),
    ],
)
def test_a_known_path_with_another_method_is_405(
    client: httpx.Client, method: str, path: str, allowed: str
) -> None:
    reply = client.request(method, path)
    assert reply.status_code == 405
    assert reply.headers["Allow"] == allowed
    assert reply.json() == {
        "message": f"Method Not Allowed: this path takes {allowed}, not {method}"
    }


def test_405_and_404_come_after_the_token(emulator: Emulator) -> None:
    """Without a token, any path is 401: the API tells nothing of its routes."""
    with connect(emulator, headers={}) as anonymous:
        assert anonymous.delete("/user").status_code == 401
        assert anonymous.get("/nowhere").status_code == 401


@pytest.mark.parametrize(
    "path",
    [
        "/nowhere",
        f"{ORG}/pipelines/api/builds/14/frobnicate",
        f"{BUILD}/jobs/x/log/extra",
        "/users",
    ],
)
def test_an_unknown_path_is_404_for_any_method(client: httpx.Client, path: str) -> None:
    for method in ("GET", "POST", "DELETE"):
        reply = client.request(method, path)
        assert reply.status_code == 404, (method, path)
        assert reply.json() == {"message": "Not Found"}
        assert "Allow" not in reply.headers


# Content-Type and RateLimit-* on every answer.


def test_every_answer_carries_content_type_and_rate_limit(emulator: Emulator) -> None:
    emulator.faults.add("/organizations", "error", status=502, count=1)
    with connect(emulator) as session, connect(emulator, headers={}) as anonymous:
        job = failed_job(session)
        replies = {
            "200": session.get("/user"),
            "201": session.post(f"{PIPELINES}/web/builds", json={"commit": "a", "branch": "b"}),
            "302": session.get(f"{BUILD}/artifacts").json()[0]["download_url"],
            "400": session.get(f"{PIPELINES}/api/builds", params={"created_from": "then"}),
            "401": anonymous.get("/user"),
            "404": session.get("/nowhere"),
            "404 outside /v2": session.get("http://bk.test/elsewhere"),
            "405": session.delete("/user"),
            "422": session.post(f"{PIPELINES}/web/builds", json={}),
            "502 fault": session.get("/organizations"),
            "text log": session.get(f"{BUILD}/jobs/{job}/log.txt"),
            "HEAD": session.head("/organizations"),
        }
        replies["302"] = session.get(replies["302"])
        deleted = session.delete(f"{BUILD}/annotations/none")
    for name, reply in replies.items():
        assert reply.headers.get("Content-Type"), name
        assert all(reply.headers.get(header) for header in RATE_HEADERS), name
    assert replies["302"].status_code == 302 and replies["502 fault"].status_code == 502
    assert deleted.status_code == 404 and deleted.headers["RateLimit-Limit"] == "200"


def test_a_204_has_rate_limit_headers_and_no_content(client: httpx.Client) -> None:
    """A 204 has no content, so no Content-Type (as Rails' ``head :no_content``)."""
    note = client.post(f"{BUILD}/annotations", json={"body": "hi", "context": "c"}).json()
    reply = client.delete(f"{BUILD}/annotations/{note['id']}")
    assert reply.status_code == 204 and reply.content == b""
    assert "Content-Type" not in reply.headers
    assert all(reply.headers.get(header) for header in RATE_HEADERS)


def test_a_fault_does_not_spend_the_budget(emulator: Emulator) -> None:
    emulator.faults.add("/user", "error", status=500)
    with connect(emulator) as session:
        faulted = session.get("/user")
        served = session.get("/user")
    assert faulted.headers["RateLimit-Remaining"] == "200"
    assert served.headers["RateLimit-Remaining"] == "199"


# Job log formats.


def test_a_job_log_as_html(client: httpx.Client) -> None:
    """``Accept: text/html`` or ``.html``: the log's text escaped, without escape codes."""
    log = f"{BUILD}/jobs/{failed_job(client)}/log"
    raw = client.get(log, headers={"Accept": "text/plain"}).text
    assert "\x1b" in raw
    for reply in (client.get(log, headers={"Accept": "text/html"}), client.get(log + ".html")):
        assert reply.status_code == 200
        assert reply.headers["Content-Type"] == "text/html; charset=utf-8"
        assert "\x1b" not in reply.text and "\x07" not in reply.text
        assert "AssertionError" in reply.text
        assert reply.text.count("\n") == raw.count("\n")


def test_html_escapes_what_a_log_holds() -> None:
    data = {
        "now": "2026-01-01T00:00:00Z",
        "users": [{"name": "U", "email": "u@example.com"}],
        "organizations": [
            {
                "slug": "o",
                "pipelines": [
                    {
                        "name": "P",
                        "repository": "git@example.com:o/p.git",
                        "steps": [{"key": "a", "command": "make"}],
                        "builds": [
                            {
                                "state": "failed",
                                "jobs": [
                                    {
                                        "step": "a",
                                        "state": "failed",
                                        "log": "<script>alert(1)</script> & \x1b[31mred\x1b[0m\n",
                                    }
                                ],
                            }
                        ],
                    }
                ],
            }
        ],
    }
    with connect(Emulator(data, clock=FakeClock())) as session:
        build = session.get("/organizations/o/pipelines/p/builds/1").json()
        html = session.get(build["jobs"][0]["raw_log_url"].replace(".txt", ".html")).text
    assert html == "&lt;script&gt;alert(1)&lt;/script&gt; &amp; red\n"


# The artifact storage is another host.


@pytest.mark.parametrize(
    ("api", "storage"),
    [
        ("http://127.0.0.1:8990", "http://localhost:8990"),
        ("http://localhost:8990", "http://127.0.0.1:8990"),
        ("http://[::1]:8990", "http://localhost:8990"),
        ("http://buildkite.emulator.invalid", "http://storage.buildkite.emulator.invalid"),
    ],
)
def test_the_storage_is_another_host_name(api: str, storage: str) -> None:
    assert storage_root(api) == storage


def test_a_client_that_keeps_its_token_on_redirects_reads_an_artifact(emulator: Emulator) -> None:
    """httpx, told to follow redirects, keeps Authorization for the same host; the storage
    is another host, so the token stays behind, as with S3."""
    with serve(emulator) as served, httpx.Client(base_url=served.base_url, headers=AUTH) as web:
        artifact = web.get(f"{BUILD}/artifacts").json()[0]
        fetched = web.get(artifact["download_url"], follow_redirects=True)
    assert fetched.status_code == 200
    assert fetched.url.host == "localhost"
    assert emulator.storage_requests[-1].headers.get("authorization") is None
