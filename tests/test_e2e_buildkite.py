"""End to end: the installed `kosmo` against the Buildkite emulator served on loopback.

Every test runs real processes over a real socket; the emulator records each request, so
"exactly one request" and "no request" are facts, not guesses. The token is distinctive and
no output of any test may contain it.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import httpx
import pytest
from helpers import kosmo_path
from hostile import HOSTILE_PATHS

from kosmo_lua.emulation import serve
from kosmo_lua.integrations.buildkite.emulator import Emulator

TOKEN = "bkua_e2e_SECRET_token_never_printed_0123456789"
OTHER_TOKEN = "bkua_e2e_SECRET_work_account_never_printed"
P = "/v2/organizations/acme-inc/pipelines"


@pytest.fixture
def emulator() -> Emulator:
    return Emulator(token=TOKEN)


@pytest.fixture
def served(emulator) -> Iterator[str]:
    with serve(emulator) as running:
        yield running.base_url


@pytest.fixture
def run(kosmo, served, emulator):
    """``run(code, *options)``: the envelope of a script; no output may hold a token."""
    configured = kosmo(
        "integrations:configure",
        "buildkite",
        "--set",
        f"url={served}",
        "--set",
        f"access_token={TOKEN}",
    )
    assert configured.returncode == 0, configured.stderr
    outputs: list[str] = [configured.stdout, configured.stderr]

    def run_script(code: str, *options: str) -> dict:
        done = kosmo("integrations:lua", "-e", code, "--json", *options)
        outputs.extend([done.stdout, done.stderr])
        return done.json()

    yield run_script
    for text in outputs:
        assert TOKEN not in text and OTHER_TOKEN not in text


def api_requests(emulator: Emulator, method: str | None = None) -> list:
    return [r for r in emulator.requests if method is None or r.method == method]


def test_every_function_against_the_emulator(run, emulator):
    envelope = run(
        """
        local bk = app.integrations.buildkite
        local out = {}
        out.user = bk.get_current_user().name
        out.scopes = #bk.get_access_token().scopes
        out.orgs = #bk.list_organizations()
        out.org = bk.get_organization("acme-inc").slug
        out.pipelines = #bk.list_pipelines{organization = "acme-inc"}
        out.pipeline = bk.get_pipeline("acme-inc", "web").slug
        local created = bk.create_pipeline{organization = "acme-inc", name = "Docs",
          repository = "git@github.com:acme-inc/docs.git",
          configuration = "steps:\\n  - command: make docs"}
        out.created = created.slug
        out.updated = bk.update_pipeline{organization = "acme-inc", pipeline = "docs",
          description = "Docs site"}.description
        out.archived = bk.archive_pipeline("acme-inc", "docs").archived_at ~= nil
        out.unarchived = bk.unarchive_pipeline("acme-inc", "docs").archived_at == nil
        out.builds = #bk.list_builds{organization = "acme-inc", pipeline = "web"}
        out.alias = #bk.list{organization = "acme-inc"}
        local build = bk.create_build{organization = "acme-inc", pipeline = "web",
          branch = "main", message = "e2e", env = {E2E = "1"}}
        out.new_state = build.state
        out.get = bk.get("acme-inc", "web", build.number).number == build.number
        out.canceled = bk.cancel_build("acme-inc", "web", build.number).state
        out.rebuilt_from = bk.rebuild_build("acme-inc", "web", build.number).rebuilt_from.number
        local failed = bk.list_builds{organization = "acme-inc", pipeline = "api",
          state = "failed", per_page = 1}[1]
        out.retried = bk.retry_failed_jobs("acme-inc", "api", failed.number).retried_jobs_count
        local job = failed.jobs[#failed.jobs]
        out.log = #bk.get_job_log{organization = "acme-inc", pipeline = "api",
          number = failed.number, job_id = job.id, format = "text", strip_ansi = true} > 0
        out.env = bk.get_job_environment("acme-inc", "api", failed.number, job.id).env ~= nil
        out.raw_get = bk.api_get("/organizations/acme-inc").slug
        out.raw_post = bk.api_post("/organizations/acme-inc/pipelines/web/builds",
          {branch = "main", commit = "HEAD"}).state
        out.raw_put = bk.api_put("/organizations/acme-inc/pipelines/web/builds/" ..
          build.number .. "/rebuild").number > build.number
        out.raw_patch = bk.api_patch("/organizations/acme-inc/pipelines/docs",
          {description = "patched"}).description
        out.raw_delete = next((bk.api_delete("/organizations/acme-inc/pipelines/docs"))) == nil
        return out
        """,
        "--force",
    )
    assert envelope["success"], envelope["error"]
    out = envelope["result"][0]
    assert out == {
        "user": "Ada Lovelace",
        "scopes": 14,
        "orgs": 1,
        "org": "acme-inc",
        "pipelines": out["pipelines"],
        "pipeline": "web",
        "created": "docs",
        "updated": "Docs site",
        "archived": True,
        "unarchived": True,
        "builds": out["builds"],
        "alias": 30,
        "new_state": "scheduled",
        "get": True,
        "canceled": "canceled",
        "rebuilt_from": out["rebuilt_from"],
        "retried": out["retried"],
        "log": True,
        "env": True,
        "raw_get": "acme-inc",
        "raw_post": "scheduled",
        "raw_put": True,
        "raw_patch": "patched",
        "raw_delete": True,
    }
    assert out["pipelines"] >= 4 and out["builds"] > 0 and out["retried"] >= 1
    assert len(envelope["integration_calls"]) == 25
    assert all(c["status"] == "ok" for c in envelope["integration_calls"])
    assert envelope["meta"]["permission_bypassed"] is True


def test_pagination_over_several_pages(run, emulator):
    envelope = run(
        "local builds, meta = app.integrations.buildkite.list_builds{per_page = 10,"
        " all_pages = true, with_meta = true} return #builds, meta.pages"
    )
    assert envelope["result"] == [40, 4]
    pages = [r.query_string for r in api_requests(emulator, "GET") if r.path == "/v2/builds"]
    assert len(pages) == 4
    first = run(
        "local b, meta = app.integrations.buildkite.list_builds{per_page = 10, with_meta = true}"
        " return #b, meta.next_page, meta.last_page"
    )
    assert first["result"] == [10, 2, 4]


def test_429_then_success(run, emulator):
    emulator.faults.add("/user", "rate_limit", count=1, seconds=1)
    envelope = run("return app.integrations.buildkite.get_current_user().name")
    assert envelope["result"] == ["Ada Lovelace"]
    assert len([r for r in emulator.requests if r.path == "/v2/user"]) == 2
    assert envelope["integration_calls"][0]["requests"] == 2


def test_500_on_get_then_success(run, emulator):
    emulator.faults.add("/organizations/acme-inc", "error", count=1, status=500)
    envelope = run('return app.integrations.buildkite.get_organization("acme-inc").slug')
    assert envelope["result"] == ["acme-inc"]
    assert envelope["integration_calls"][0]["requests"] == 2  # one call, sent twice
    assert len([r for r in emulator.requests if r.path == "/v2/organizations/acme-inc"]) == 2


def test_500_on_post_is_sent_exactly_once(run, emulator):
    emulator.faults.add(
        "/organizations/*/pipelines/web/builds", "error", count=1, status=500, method="POST"
    )
    envelope = run(
        'return app.integrations.buildkite.create_build{organization = "acme-inc",'
        ' pipeline = "web", branch = "main"}',
        "--force",
    )
    assert not envelope["success"]
    assert envelope["error"].startswith("Buildkite API error (500)")
    assert len(api_requests(emulator, "POST")) == 1


def test_dropped_connection_on_post_is_not_repeated(run, emulator):
    emulator.faults.add("/organizations/*/pipelines/web/builds", "drop", method="POST")
    envelope = run(
        'return app.integrations.buildkite.create_build{organization = "acme-inc",'
        ' pipeline = "web", branch = "main"}',
        "--force",
    )
    assert envelope["error"].startswith("Failed to connect to Buildkite API")
    assert len(api_requests(emulator, "POST")) == 1


def test_refused_write_sends_no_request(run, emulator):
    envelope = run(
        'return app.integrations.buildkite.create_build{organization = "acme-inc",'
        ' pipeline = "web", branch = "main"}'
    )
    assert envelope["error"].startswith("Integration 'buildkite' write requires approval")
    assert envelope["meta"]["permission_bypassed"] is False
    assert api_requests(emulator) == []


def test_invalid_arguments_send_no_request(run, emulator):
    envelope = run('return app.integrations.buildkite.get_build("acme-inc", "web", "abc")')
    assert "must be a whole number" in envelope["error"]
    assert api_requests(emulator) == []


def test_named_accounts(kosmo, run, emulator, served):
    other = Emulator(token=OTHER_TOKEN)
    with serve(other) as work:
        kosmo(
            "integrations:configure",
            "buildkite",
            "--account",
            "work",
            "--set",
            f"url={work.base_url}",
            "--set",
            f"access_token={OTHER_TOKEN}",
        )
        envelope = run(
            "local bk = app.integrations.buildkite"
            " return bk.get_current_user().name, bk.default.get_current_user().name,"
            " bk.work.get_current_user().name"
        )
    assert envelope["success"], envelope["error"]
    assert len(emulator.requests) == 2 and len(other.requests) == 1
    assert other.requests[0].headers["authorization"] == f"Bearer {OTHER_TOKEN}"
    unknown = run("return app.integrations.buildkite.nobody.get_current_user()")
    assert "Unknown Buildkite account 'nobody'" in unknown["error"]


def test_hostile_raw_paths_send_nothing(run, emulator):
    paths = json.dumps(HOSTILE_PATHS)
    envelope = run(
        f"local refused = 0 for _, p in ipairs(json.decode([==[{paths}]==])) do"
        " local ok = pcall(app.integrations.buildkite.api_get, p)"
        " if not ok then refused = refused + 1 end end return refused"
    )
    assert envelope["result"] == [len(HOSTILE_PATHS)]
    assert len(HOSTILE_PATHS) >= 20
    assert api_requests(emulator) == []


def test_api_errors_are_readable_from_lua(run):
    envelope = run(
        'local ok, err = pcall(app.integrations.buildkite.get_build, "acme-inc", "web", 999)'
        ' return tostring(err), err.status, err.message, err.tool, err:match("404") ~= nil'
    )
    assert envelope["result"] == [
        "eval:1: Buildkite API error (404): No build found",
        404,
        "No build found",
        "buildkite.buildkite_get_build",
        True,
    ]


def test_token_is_absent_from_dumps_and_errors(run):
    envelope = run(
        "dump(app) dump(app.integrations.buildkite) print(app.integrations.buildkite.default)"
        " local ok, err = pcall(app.integrations.buildkite.api_get, '/nothing/here')"
        " print(err) error(err)"
    )
    assert not envelope["success"]
    assert "app.integrations.buildkite" in envelope["output"]


def test_emulate_command_serves_on_loopback(kosmo_home):
    server = subprocess.Popen(
        [kosmo_path(), "integrations:emulate", "buildkite"],
        stdout=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base_url = server.stdout.readline().split(" at ")[1].strip()
        token = server.stdout.readline().split(": ")[1].strip()
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/v2")
        reply = httpx.get(f"{base_url}/user", headers={"Authorization": f"Bearer {token}"})
        assert reply.status_code == 200 and reply.json()["name"] == "Ada Lovelace"
        assert httpx.get(f"{base_url}/user").status_code == 401
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_emulate_with_a_data_file(kosmo, tmp_path):
    world = {
        "users": [{"name": "Grace", "email": "grace@example.com"}],
        "organizations": [
            {
                "slug": "tiny",
                "pipelines": [
                    {
                        "name": "Only",
                        "repository": "git@example.com:tiny/only.git",
                        "steps": [{"command": "make", "label": "build"}],
                        "builds": [{"state": "passed", "branch": "main", "message": "first"}],
                    }
                ],
            }
        ],
    }
    data = tmp_path / "world.json"
    data.write_text(json.dumps(world))
    done = kosmo(
        "integrations:lua",
        "-e",
        "local bk = app.integrations.buildkite"
        " return bk.get_current_user().name, bk.list_builds{organization = 'tiny'}[1].message",
        "--emulate",
        "--emulate-data",
        str(data),
        "--json",
    )
    assert done.json()["result"] == ["Grace", "first"]


def test_repl_never_shows_the_token(run, kosmo):
    done = kosmo(
        "integrations:lua",
        "--repl",
        input="bk = app.integrations.buildkite\nbk.get_current_user().name\ndump(bk)\n"
        "bk.api_get('/nothing')\n:quit\n",
    )
    assert "Ada Lovelace" in done.stdout
    assert "Buildkite API error (404)" in done.stderr
    assert TOKEN not in done.stdout + done.stderr
