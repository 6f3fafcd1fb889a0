"""Every Buildkite function sends the documented request (respx at the HTTP seam)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx

from kosmo_lua.catalog import Catalog
from kosmo_lua.config import Config
from kosmo_lua.errors import ApiError, ArgumentError, ConfigError, PermissionDenied
from kosmo_lua.integrations import load
from kosmo_lua.invoker import Invoker

BASE = "https://api.buildkite.com/v2"
TOKEN = "bkua_unit_test_token"
P = "/organizations/acme-inc/pipelines/web"
J = P + "/builds/42/jobs/job-1"
JOB_LIST = ["acme-inc", "web", 42, "job-1"]
JOB_ARGS = {"organization": "acme-inc", "pipeline": "web", "number": 42, "job_id": "job-1"}
AGENT = "/organizations/acme-inc/agents/agent-1"
CLUSTER = "/organizations/acme-inc/clusters/c-1"
SUITES = "/analytics/organizations/acme-inc/suites"
STORAGE = "https://storage.example/artifacts/report.json"


class Harness:
    def __init__(self, config: Config, force: bool = True) -> None:
        self.events: list[tuple[str, Any]] = []
        self.invoker = Invoker(
            Catalog(load()),
            config,
            force=force,
            report=lambda kind, value: self.events.append((kind, value)),
            environ={"BUILDKITE_API_TOKEN": TOKEN},
        )

    def __call__(self, name: str, *args: Any) -> Any:
        path = name if name.startswith("app.") else f"app.integrations.buildkite.{name}"
        return self.invoker.invoke(path, list(args))


@pytest.fixture
def config(kosmo_home) -> Config:
    return Config.load(kosmo_home)


@pytest.fixture
def bk(config) -> Iterator[Harness]:
    harness = Harness(config)
    yield harness
    harness.invoker.close()  # its clients: hundreds of tests would otherwise pile them up


@pytest.fixture
def api():
    with respx.mock(base_url=BASE, assert_all_called=False) as mock:
        yield mock


def sent(api) -> httpx.Request:
    assert api.calls.call_count == 1, f"{api.calls.call_count} requests were sent"
    return api.calls.last.request


def body(request: httpx.Request) -> Any:
    return json.loads(request.content)


# One row per function: Lua name, arguments, method, path, query, body.
CASES = [
    ("get_current_user", [], "GET", "/user", {}, None),
    ("get_access_token", [], "GET", "/access-token", {}, None),
    ("list_organizations", [], "GET", "/organizations", {}, None),
    ("get_organization", ["acme-inc"], "GET", "/organizations/acme-inc", {}, None),
    (
        "list_pipelines",
        [{"organization": "acme-inc", "name": "we", "per_page": 5}],
        "GET",
        "/organizations/acme-inc/pipelines",
        {"name": "we", "per_page": "5"},
        None,
    ),
    ("get_pipeline", ["acme-inc", "web"], "GET", P, {}, None),
    (
        "create_pipeline",
        [
            {
                "organization": "acme-inc",
                "name": "Docs",
                "repository": "git@x:d.git",
                "configuration": "steps: []",
            }
        ],
        "POST",
        "/organizations/acme-inc/pipelines",
        {},
        {"name": "Docs", "repository": "git@x:d.git", "configuration": "steps: []"},
    ),
    (
        "update_pipeline",
        [{"organization": "acme-inc", "pipeline": "web", "description": "W"}],
        "PATCH",
        P,
        {},
        {"description": "W"},
    ),
    ("archive_pipeline", ["acme-inc", "web"], "POST", P + "/archive", {}, {}),
    ("unarchive_pipeline", ["acme-inc", "web"], "POST", P + "/unarchive", {}, {}),
    (
        "list_builds",
        [{"organization": "acme-inc", "pipeline": "web", "branch": "main", "state": "failed"}],
        "GET",
        P + "/builds",
        {"branch": "main", "state": "failed"},
        None,
    ),
    ("list", [{"organization": "acme-inc"}], "GET", "/organizations/acme-inc/builds", {}, None),
    ("list_builds", [], "GET", "/builds", {}, None),
    ("get_build", ["acme-inc", "web", 42], "GET", P + "/builds/42", {}, None),
    (
        "get",
        [
            {
                "organization": "acme-inc",
                "pipeline": "web",
                "number": 42,
                "include_retried_jobs": True,
            }
        ],
        "GET",
        P + "/builds/42",
        {"include_retried_jobs": "true"},
        None,
    ),
    (
        "create_build",
        [{"organization": "acme-inc", "pipeline": "web", "branch": "main", "env": {"A": "1"}}],
        "POST",
        P + "/builds",
        {},
        {"commit": "HEAD", "branch": "main", "env": {"A": "1"}},
    ),
    (
        "create",
        ["acme-inc", "web", "abc123", "main", "msg"],
        "POST",
        P + "/builds",
        {},
        {"commit": "abc123", "branch": "main", "message": "msg"},
    ),
    ("cancel_build", ["acme-inc", "web", 42], "PUT", P + "/builds/42/cancel", {}, {}),
    ("cancel", ["acme-inc", "web", 42], "PUT", P + "/builds/42/cancel", {}, {}),
    ("rebuild_build", ["acme-inc", "web", 42], "PUT", P + "/builds/42/rebuild", {}, {}),
    ("rebuild", ["acme-inc", "web", 42], "PUT", P + "/builds/42/rebuild", {}, {}),
    (
        "retry_failed_jobs",
        ["acme-inc", "web", 42],
        "PUT",
        P + "/builds/42/retry_failed_jobs",
        {},
        {"states": "failed,soft_failed"},
    ),
    (
        "get_job_log",
        ["acme-inc", "web", 42, "job-1"],
        "GET",
        P + "/builds/42/jobs/job-1/log",
        {},
        None,
    ),
    (
        "search_job_log",
        [
            {
                "organization": "acme-inc",
                "pipeline": "web",
                "number": 42,
                "job_id": "job-1",
                "pattern": "/x/",
            }
        ],
        "GET",
        P + "/builds/42/jobs/job-1/log",
        {},
        None,
    ),
    (
        "get_job_log_info",
        ["acme-inc", "web", 42, "job-1"],
        "HEAD",
        P + "/builds/42/jobs/job-1/log",
        {},
        None,
    ),
    ("wait_for_build", ["acme-inc", "web", 42], "GET", P + "/builds/42", {}, None),
    ("get_build_failures", ["acme-inc", "web", 42], "GET", P + "/builds/42", {}, None),
    (
        "get_job_environment",
        ["acme-inc", "web", 42, "job-1"],
        "GET",
        P + "/builds/42/jobs/job-1/env",
        {},
        None,
    ),
    (
        "api_get",
        ["/organizations/acme-inc/agents", {"per_page": 100}],
        "GET",
        "/organizations/acme-inc/agents",
        {"per_page": "100"},
        None,
    ),
    (
        "api_post",
        ["organizations/acme-inc/x", {"a": 1}],
        "POST",
        "/organizations/acme-inc/x",
        {},
        {"a": 1},
    ),
    ("api_put", ["/x/y", {"a": 1}], "PUT", "/x/y", {}, {"a": 1}),
    ("api_patch", ["/x/y", {"a": [1, 2]}], "PATCH", "/x/y", {}, {"a": [1, 2]}),
    ("api_delete", ["/x/y"], "DELETE", "/x/y", {}, None),
    ("delete_pipeline", ["acme-inc", "web"], "DELETE", P, {}, None),
    # Jobs.
    (
        "list_jobs",
        [{"organization": "acme-inc", "pipeline": "web", "number": 42, "state": "failed"}],
        "GET",
        P + "/builds/42/jobs",
        {"state[]": "failed"},
        None,
    ),
    (
        "list_jobs",
        [
            {
                "organization": "acme-inc",
                "pipeline": "web",
                "number": 42,
                "include_retried_jobs": False,
                "step_key": "test",
                "per_page": 100,
                "after": "abc",
            }
        ],
        "GET",
        P + "/builds/42/jobs",
        {"include_retried_jobs": "false", "step_key": "test", "per_page": "100", "after": "abc"},
        None,
    ),
    ("get_job", ["acme-inc", "web", 42, "job-1"], "GET", P + "/builds/42/jobs/job-1", {}, None),
    ("retry_job", ["acme-inc", "web", 42, "job-1"], "PUT", J + "/retry", {}, {}),
    (
        "unblock_job",
        [JOB_ARGS | {"fields": {"release-name": "v1"}, "unblocker": "user-1"}],
        "PUT",
        J + "/unblock",
        {},
        {"fields": {"release-name": "v1"}, "unblocker": "user-1"},
    ),
    (
        "reprioritize_job",
        [JOB_ARGS | {"priority": 5}],
        "PUT",
        J + "/reprioritize",
        {},
        {"priority": 5},
    ),
    # Annotations: of the build, or of one of its jobs.
    (
        "list_annotations",
        [{"organization": "acme-inc", "pipeline": "web", "number": 42, "scope": "all"}],
        "GET",
        P + "/builds/42/annotations",
        {"scope": "all"},
        None,
    ),
    (
        "list_annotations",
        [JOB_ARGS | {"omit_body": True}],
        "GET",
        J + "/annotations",
        {"omit_body": "true"},
        None,
    ),
    (
        "create_annotation",
        [
            {
                "organization": "acme-inc",
                "pipeline": "web",
                "number": 42,
                "body": "**Hi**",
                "style": "warning",
                "priority": 9,
                "context": "greeting",
                "append": True,
            }
        ],
        "POST",
        P + "/builds/42/annotations",
        {},
        {
            "body": "**Hi**",
            "style": "warning",
            "priority": 9,
            "context": "greeting",
            "append": True,
        },
    ),
    (
        "create_annotation",
        [JOB_ARGS | {"body": "job note"}],
        "POST",
        J + "/annotations",
        {},
        {"body": "job note"},
    ),
    (
        "delete_annotation",
        ["acme-inc", "web", 42, "note-1"],
        "DELETE",
        P + "/builds/42/annotations/note-1",
        {},
        None,
    ),
    (
        "delete_annotation",
        [JOB_ARGS | {"annotation_id": "note-1"}],
        "DELETE",
        J + "/annotations/note-1",
        {},
        None,
    ),
    # Artifacts.
    (
        "list_artifacts",
        [{"organization": "acme-inc", "pipeline": "web", "number": 42, "state": "finished"}],
        "GET",
        P + "/builds/42/artifacts",
        {"state": "finished"},
        None,
    ),
    (
        "list_artifacts",
        [JOB_ARGS | {"path": "logs/*"}],
        "GET",
        J + "/artifacts",
        {"path": "logs/*"},
        None,
    ),
    ("get_artifact", [*JOB_LIST, "art-1"], "GET", J + "/artifacts/art-1", {}, None),
    (
        "download_artifact",
        [*JOB_LIST, "art-1"],
        "GET",
        J + "/artifacts/art-1/download",
        {},
        None,
    ),
    ("delete_artifact", [*JOB_LIST, "art-1"], "DELETE", J + "/artifacts/art-1", {}, None),
    # Agents and clusters.
    (
        "list_agents",
        [{"organization": "acme-inc", "name": "ci", "hostname": "box", "version": "3.87.0"}],
        "GET",
        "/organizations/acme-inc/agents",
        {"name": "ci", "hostname": "box", "version": "3.87.0"},
        None,
    ),
    ("get_agent", ["acme-inc", "agent-1"], "GET", AGENT, {}, None),
    ("stop_agent", ["acme-inc", "agent-1"], "PUT", AGENT + "/stop", {}, {"force": True}),
    (
        "stop_agent",
        [{"organization": "acme-inc", "agent_id": "agent-1", "force": False}],
        "PUT",
        AGENT + "/stop",
        {},
        {"force": False},
    ),
    (
        "pause_agent",
        [
            {
                "organization": "acme-inc",
                "agent_id": "agent-1",
                "note": "upgrade",
                "timeout_in_minutes": 60,
            }
        ],
        "PUT",
        AGENT + "/pause",
        {},
        {"note": "upgrade", "timeout_in_minutes": 60},
    ),
    ("resume_agent", ["acme-inc", "agent-1"], "PUT", AGENT + "/resume", {}, {}),
    ("list_clusters", ["acme-inc"], "GET", "/organizations/acme-inc/clusters", {}, None),
    ("get_cluster", ["acme-inc", "c-1"], "GET", CLUSTER, {}, None),
    ("list_cluster_queues", ["acme-inc", "c-1"], "GET", CLUSTER + "/queues", {}, None),
    ("get_cluster_queue", ["acme-inc", "c-1", "q-1"], "GET", CLUSTER + "/queues/q-1", {}, None),
    # Test Engine.
    ("list_test_suites", ["acme-inc"], "GET", SUITES, {}, None),
    (
        "list_test_runs",
        [{"organization": "acme-inc", "suite": "api", "build_id": "b-1", "per_page": 5}],
        "GET",
        SUITES + "/api/runs",
        {"build_id": "b-1", "per_page": "5"},
        None,
    ),
    ("get_test_run", ["acme-inc", "api", "run-1"], "GET", SUITES + "/api/runs/run-1", {}, None),
    (
        "list_failed_executions",
        [
            {
                "organization": "acme-inc",
                "suite": "api",
                "run_id": "run-1",
                "include_failure_expanded": True,
            }
        ],
        "GET",
        SUITES + "/api/runs/run-1/failed_executions",
        {"include_failure_expanded": "true"},
        None,
    ),
]


# Every request gets this reply (a finished build, to wait_for_build); what the functions
# that reshape a reply make of it.
REPLY = {"ok": True, "state": "passed"}
FOLLOW_UPS = {"get_build_failures": 1}  # its annotations
RESHAPED: dict[str, Any] = {
    "search_job_log": [],
    "get_job_log_info": {"bytes": len(b'{"ok":true,"state":"passed"}')},  # respx's compact JSON
    "get_build_failures": {
        "build": {
            **dict.fromkeys(("number", "branch", "commit", "message", "web_url")),
            "state": "passed",
        },
        "failed_jobs": [],
        "annotations": [],
    },
    "download_artifact": {  # the storage's {"ok": true}, as text
        "filename": "report.json",
        "mime_type": "application/json",
        "bytes": 11,
        "text": '{"ok":true}',
    },
}
# The functions the API answers with a redirect, which they follow themselves: to here.
REDIRECTED = {"download_artifact": STORAGE + "?X-Amz-Signature=abc"}


@pytest.mark.parametrize(
    ("name", "args", "method", "path", "query", "payload"),
    CASES,
    ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)],
)
def test_function_sends_the_documented_request(bk, api, name, args, method, path, query, payload):
    route = api.route(method=method, path=path.split("?")[0] if path.startswith("/") else path)
    if name in REDIRECTED:
        target = REDIRECTED[name]
        route.respond(302, json={"url": target}, headers={"Location": target})
        storage = api.get(url=STORAGE).respond(200, json={"ok": True})
    else:
        route.respond(200, json=REPLY)
        api.route().respond(200, json=[])  # what functions sending more than one request ask
    data, meta = bk(name, *args)
    if name in REDIRECTED:  # the storage is asked second, without the token
        assert api.calls.call_count == 2
        assert "Authorization" not in storage.calls.last.request.headers
    else:
        assert api.calls.call_count == 1 + FOLLOW_UPS.get(name, 0)
    request = route.calls[0].request
    assert request.method == method
    assert request.url.path == "/v2" + path
    assert dict(request.url.params) == query
    if payload is None:
        assert request.content == b""
    else:
        assert body(request) == payload
        assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["User-Agent"].startswith("kosmo-lua/")
    assert data == RESHAPED.get(name, REPLY)
    assert meta["status"] == 200


def test_every_function_has_a_case():
    covered = {load()[0].tool(name).name for name, *_ in CASES}
    assert covered == {t.name for t in load()[0].tools}


def test_path_parameters_are_url_encoded(bk, api):
    api.route().respond(200, json={})
    bk("get_pipeline", "a/b", "c d")
    assert sent(api).url.raw_path == b"/v2/organizations/a%2Fb/pipelines/c%20d"


def test_array_and_table_filters_use_buildkite_query_style(bk, api):
    api.get(path="/builds").respond(200, json=[])
    bk("list_builds", {"branch": ["main", "release"], "meta_data": {"env": "prod"}})
    assert sent(api).url.params.multi_items() == [
        ("branch[]", "main"),
        ("branch[]", "release"),
        ("meta_data[env]", "prod"),
    ]


def test_explicit_query_is_sent_as_given(bk, api):
    api.get(path="/organizations/acme-inc/agents").respond(200, json=[])
    bk("api_get", {"path": "/organizations/acme-inc/agents?name=x", "query": {"page": 2}})
    assert dict(sent(api).url.params) == {"name": "x", "page": "2"}


def test_payload_keys_no_parameter_names_are_sent_as_given(bk, api):
    api.post(path=f"{P}/builds").respond(201, json={"number": 1})
    bk(
        "create_build",
        {
            "organization": "acme-inc",
            "pipeline": "web",
            "payload": {"commit": "deadbeef", "branch": "main", "extra": True},
        },
    )
    assert body(sent(api)) == {"commit": "deadbeef", "branch": "main", "extra": True}


def test_payload_and_named_body_fields_merge(bk, api):
    api.post(path=f"{P}/builds").respond(201, json={"number": 1})
    bk(
        "create_build",
        {
            "organization": "acme-inc",
            "pipeline": "web",
            "branch": "main",
            "payload": {"message": "m", "env": {"A": "1"}, "branch": "main"},
        },
    )
    assert body(sent(api)) == {
        "commit": "HEAD",
        "branch": "main",
        "message": "m",
        "env": {"A": "1"},
    }


def test_payload_and_named_body_fields_that_conflict_are_an_error(bk, api):
    with pytest.raises(ArgumentError, match="'branch' is given both as a named argument"):
        bk(
            "create_build",
            {
                "organization": "acme-inc",
                "pipeline": "web",
                "branch": "main",
                "payload": {"branch": "dev"},
            },
        )
    assert api.calls.call_count == 0


def test_payload_fields_are_validated_like_named_ones(bk, api):
    with pytest.raises(ArgumentError, match=r"Argument 'clean_checkout' .* must be true or false"):
        bk(
            "create_build",
            {
                "organization": "acme-inc",
                "pipeline": "web",
                "payload": {"branch": "main", "clean_checkout": "yes"},
            },
        )
    assert api.calls.call_count == 0


def test_a_payload_satisfies_required_body_fields(bk, api):
    with pytest.raises(ArgumentError, match="Missing required argument 'branch'"):
        bk("create_build", {"organization": "acme-inc", "pipeline": "web", "payload": {}})
    assert api.calls.call_count == 0


# Every function that sends a body takes `payload`, as on the original's page.
PAYLOAD_CASES = [
    (
        "create_pipeline",
        {"organization": "acme-inc"},
        "POST",
        "/organizations/acme-inc/pipelines",
        {"name": "Docs", "repository": "git@x:y.git", "configuration": "steps: []"},
    ),
    ("update_pipeline", {"organization": "acme-inc", "pipeline": "web"}, "PATCH", P, {"x": 1}),
    (
        "archive_pipeline",
        {"organization": "acme-inc", "pipeline": "web"},
        "POST",
        f"{P}/archive",
        {},
    ),
    (
        "unarchive_pipeline",
        {"organization": "acme-inc", "pipeline": "web"},
        "POST",
        f"{P}/unarchive",
        {"reason": "back"},
    ),
    (
        "create_build",
        {"organization": "acme-inc", "pipeline": "web"},
        "POST",
        f"{P}/builds",
        {"commit": "HEAD", "branch": "main", "message": "Deploy from agent"},
    ),
    (
        "cancel_build",
        {"organization": "acme-inc", "pipeline": "web", "number": 7},
        "PUT",
        f"{P}/builds/7/cancel",
        {"note": "n"},
    ),
    (
        "rebuild_build",
        {"organization": "acme-inc", "pipeline": "web", "number": 7},
        "PUT",
        f"{P}/builds/7/rebuild",
        {},
    ),
    (
        "retry_failed_jobs",
        {"organization": "acme-inc", "pipeline": "web", "number": 42},
        "PUT",
        f"{P}/builds/42/retry_failed_jobs",
        {"states": "failed,timed_out"},
    ),
    ("api_post", {"path": "/x"}, "POST", "/x", {"a": 1}),
    ("api_put", {"path": "/x"}, "PUT", "/x", {"a": 1}),
    ("api_patch", {"path": "/x"}, "PATCH", "/x", {"a": 1}),
    ("retry_job", JOB_ARGS, "PUT", J + "/retry", {"x": 1}),
    ("unblock_job", JOB_ARGS, "PUT", J + "/unblock", {"fields": {"a": "b"}}),
    ("reprioritize_job", JOB_ARGS, "PUT", J + "/reprioritize", {"priority": 3}),
    ("create_annotation", JOB_ARGS, "POST", J + "/annotations", {"body": "b", "style": "info"}),
    (
        "stop_agent",
        {"organization": "acme-inc", "agent_id": "agent-1"},
        "PUT",
        AGENT + "/stop",
        {"force": False},
    ),
    (
        "pause_agent",
        {"organization": "acme-inc", "agent_id": "agent-1"},
        "PUT",
        AGENT + "/pause",
        {"note": "n"},
    ),
    (
        "resume_agent",
        {"organization": "acme-inc", "agent_id": "agent-1"},
        "PUT",
        AGENT + "/resume",
        {},
    ),
]


@pytest.mark.parametrize(("name", "args", "method", "path", "payload"), PAYLOAD_CASES)
def test_every_write_takes_a_payload(bk, api, name, args, method, path, payload):
    api.route(method=method, path=path).respond(200, json={"ok": True})
    bk(name, {**args, "payload": payload})
    assert body(sent(api)) == payload


def test_every_function_that_sends_a_body_has_a_payload_case():
    with_body = {t.name for t in load()[0].tools if t.method in ("POST", "PUT", "PATCH")}
    assert with_body == {name for name, *_ in PAYLOAD_CASES}


def test_retry_fallback_honours_payload_states(bk, api):
    build = f"{P}/builds/42"
    api.put(path=f"{build}/retry_failed_jobs").respond(404, json={"message": "Not Found"})
    jobs = [
        {"id": "j1", "type": "script", "state": "failed"},
        {"id": "j2", "type": "script", "state": "timed_out"},
        {"id": "j3", "type": "script", "state": "soft_failed"},
    ]
    api.get(path=build).respond(200, json={"number": 42, "jobs": jobs})
    retried = api.put(path__regex=rf"{build}/jobs/j\d/retry").respond(200, json={})
    data, _ = bk(
        "retry_failed_jobs",
        {
            "organization": "acme-inc",
            "pipeline": "web",
            "number": 42,
            "payload": {"states": "timed_out"},
        },
    )
    assert [c.request.url.path for c in retried.calls] == [f"/v2{build}/jobs/j2/retry"]
    assert data["retried_jobs_count"] == 1


# Results --------------------------------------------------------------------------------


def test_no_content_is_an_empty_table(bk, api):
    api.delete(path="/x").respond(204)
    assert bk("api_delete", "/x")[0] == {}


def test_non_json_body_comes_back_as_body(bk, api):
    api.get(path="/x").respond(200, text="plain words")
    assert bk("api_get", "/x")[0] == {"body": "plain words"}


def test_meta_carries_pages_and_rate_limit(bk, api):
    api.get(path="/organizations").respond(
        200,
        json=[{"slug": "a"}],
        headers={
            "Link": f'<{BASE}/organizations?page=2&per_page=1>; rel="next", '
            f'<{BASE}/organizations?page=7&per_page=1>; rel="last"',
            "RateLimit-Limit": "200",
            "RateLimit-Remaining": "199",
            "RateLimit-Reset": "42",
        },
    )
    _, meta = bk("list_organizations", {"per_page": 1})
    assert meta == {
        "status": 200,
        "next_page": 2,
        "last_page": 7,
        "rate_limit": {"limit": 200, "remaining": 199, "reset": 42},
    }


def test_all_pages_follows_link_headers(bk, api):
    def page(request: httpx.Request) -> httpx.Response:
        number = int(request.url.params.get("page", "1"))
        link = f'<{BASE}/organizations/acme-inc/pipelines?page={number + 1}>; rel="next"'
        return httpx.Response(
            200, json=[{"n": number}], headers={"Link": link} if number < 3 else {}
        )

    api.get(path="/organizations/acme-inc/pipelines").mock(side_effect=page)
    items, meta = bk("list_pipelines", {"organization": "acme-inc", "all_pages": True})
    assert items == [{"n": 1}, {"n": 2}, {"n": 3}]
    assert meta["pages"] == 3
    assert api.calls.call_count == 3
    items, _ = bk("list_pipelines", {"organization": "acme-inc", "max_pages": 2})
    assert items == [{"n": 1}, {"n": 2}]


def test_pagination_refuses_links_to_another_host(bk, api):
    api.get(path="/organizations").respond(
        200, json=[], headers={"Link": '<https://evil.example/v2/organizations?page=2>; rel="next"'}
    )
    with pytest.raises(Exception, match="outside the API"):
        bk("list_organizations", {"all_pages": True})


def test_job_log_as_text_and_stripped(bk, api):
    raw = "\x1b_bk;t=1700000000000\x07\x1b[31mFAIL\x1b[0m test_x\x1b[K\n"
    route = api.get(path=f"{P}/builds/1/jobs/j/log").respond(200, text=raw)
    text, _ = bk(
        "get_job_log",
        {
            "organization": "acme-inc",
            "pipeline": "web",
            "number": 1,
            "job_id": "j",
            "format": "text",
            "strip_ansi": True,
        },
    )
    assert text == "FAIL test_x\n"
    assert route.calls.last.request.headers["Accept"] == "text/plain"


def test_job_log_json_content_stripped(bk, api):
    api.get(path=f"{P}/builds/1/jobs/j/log").respond(
        200, json={"content": "\x1b[32mok\x1b[0m", "size": 11}
    )
    data, _ = bk(
        "get_job_log",
        {
            "organization": "acme-inc",
            "pipeline": "web",
            "number": 1,
            "job_id": "j",
            "strip_ansi": True,
        },
    )
    assert data == {"content": "ok", "size": 11}


def test_retry_failed_jobs_falls_back_to_per_job_retries(bk, api):
    build = {
        "number": 5,
        "jobs": [
            {"id": "a", "type": "script", "state": "failed"},
            {"id": "b", "type": "script", "state": "passed"},
            {"id": "c", "type": "script", "state": "soft_failed"},
            {"id": "d", "type": "script", "state": "failed", "retried": True},
            {"id": "w", "type": "waiter"},
        ],
    }
    api.put(path=f"{P}/builds/5/retry_failed_jobs").respond(404, json={"message": "Not Found"})
    api.get(path=f"{P}/builds/5").respond(200, json=build)
    retries = api.put(path__regex=rf"{P}/builds/5/jobs/\w+/retry").respond(200, json={})
    data, _ = bk("retry_failed_jobs", "acme-inc", "web", 5)
    assert [c.request.url.path.split("/")[-2] for c in retries.calls] == ["a", "c"]
    assert data["retried_jobs_count"] == 2


# Validation: nothing is sent --------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "args", "message"),
    [
        (
            "get_build",
            [{"organization": "a", "pipeline": "b"}],
            "Missing required argument 'number'",
        ),
        (
            "get_build",
            [{"organization": "a", "pipeline": "b", "number": 1, "numbr": 2}],
            "Unknown argument 'numbr' for buildkite.buildkite_get_build. Did you mean: number?",
        ),
        ("get_build", ["a", "b", "x"], "must be a whole number, got the string 'x'"),
        ("get_build", ["a", "b", 0], "must be at least 1"),
        ("get_build", ["a", "b", 1.5], "must be a whole number"),
        (
            "get_build",
            ["a", "b", "0190d9f8-3bb0-4d55-8fd0-5b4d3c7e6a11"],
            "is a build UUID: use the build number",
        ),
        ("list_builds", [{"include_retried_jobs": "yes"}], "must be true or false"),
        (
            "create_build",
            [{"organization": "a", "pipeline": "b", "branch": "main", "env": "X=1"}],
            "must be a table of named fields",
        ),
        (
            "get_job_log",
            [{"organization": "a", "pipeline": "b", "number": 1, "job_id": "j", "format": "xml"}],
            "must be one of json, text",
        ),
        ("get_organization", ["a", "b"], "takes at most 1 positional arguments"),
        ("get_organization", [""], "must be a slug or id"),
        ("get_pipeline", ["acme-inc", ".."], "must be a slug or id (not empty, '.' or '..')"),
        ("get_pipeline", ["acme-inc", "."], "must be a slug or id"),
        ("get_organization", [1], "must be a string, got the number 1"),
        # The functions of issue 13: enums (items of a list too), bounds, required fields.
        (
            "list_jobs",
            [{"organization": "a", "pipeline": "b", "number": 1, "state": ["failed", "bad"]}],
            "must be one of pending, waiting,",
        ),
        (
            "list_jobs",
            [{"organization": "a", "pipeline": "b", "number": 1, "state": ["failed", "bad"]}],
            "(each item of a list), got the string 'bad'",
        ),
        (
            "list_jobs",
            [{"organization": "a", "pipeline": "b", "number": 1, "per_page": 101}],
            "must be at most 100",
        ),
        (
            "list_jobs",
            [{"organization": "a", "pipeline": "b", "number": 1, "after": "x", "before": "y"}],
            "give after or before, not both",
        ),
        (
            "list_annotations",
            [{"organization": "a", "pipeline": "b", "number": 1, "scope": "everything"}],
            "must be one of build, job, all, got the string 'everything'",
        ),
        (
            "create_annotation",
            [{"organization": "a", "pipeline": "b", "number": 1}],
            "Missing required argument 'body'",
        ),
        (
            "create_annotation",
            [{"organization": "a", "pipeline": "b", "number": 1, "body": "x", "style": "loud"}],
            "must be one of success, info, warning, error",
        ),
        (
            "create_annotation",
            [{"organization": "a", "pipeline": "b", "number": 1, "body": "x", "priority": 11}],
            "must be at most 10",
        ),
        (
            "create_annotation",
            [{"organization": "a", "pipeline": "b", "number": 1, "body": "x", "priority": 0}],
            "must be at least 1",
        ),
        (
            "reprioritize_job",
            [{"organization": "a", "pipeline": "b", "number": 1, "job_id": "j"}],
            "Missing required argument 'priority'",
        ),
        ("reprioritize_job", ["a", "b", 1, "j", "high"], "must be a whole number"),
        (
            "list_artifacts",
            [{"organization": "a", "pipeline": "b", "number": 1, "state": "gone"}],
            "must be one of new, error, finished, deleted, expired",
        ),
        (
            "download_artifact",
            [
                {
                    "organization": "a",
                    "pipeline": "b",
                    "number": 1,
                    "job_id": "j",
                    "artifact_id": "x",
                    "max_bytes": 0,
                }
            ],
            "must be at least 1",
        ),
        (
            "download_artifact",
            [
                {
                    "organization": "a",
                    "pipeline": "b",
                    "number": 1,
                    "job_id": "j",
                    "artifact_id": "x",
                    "max_bytes": 64 * 1024 * 1024,
                }
            ],
            "must be at most 33554432 (the run's --memory-limit, 32 MiB)",
        ),
        ("get_artifact", ["a", "b", 1, "j"], "Missing required argument 'artifact_id'"),
        ("get_agent", ["acme-inc"], "Missing required argument 'agent_id'"),
        (
            "pause_agent",
            [{"organization": "a", "agent_id": "x", "timeout_in_minutes": 0}],
            "must be at least 1",
        ),
        ("stop_agent", [{"organization": "a", "agent_id": "x", "force": "yes"}], "true or false"),
        ("get_cluster_queue", ["a", "c"], "Missing required argument 'queue_id'"),
        ("list_test_runs", ["acme-inc"], "Missing required argument 'suite'"),
        (
            "list_failed_executions",
            [{"organization": "a", "suite": "s", "run_id": "r", "include_failure_expanded": 1}],
            "must be true or false",
        ),
        ("delete_pipeline", ["acme-inc", ".."], "must be a slug or id"),
    ],
)
def test_bad_arguments_fail_before_any_request(bk, api, name, args, message):
    with pytest.raises(ArgumentError, match=_escape(message)):
        bk(name, *args)
    assert api.calls.call_count == 0


def _escape(text: str) -> str:
    import re

    return re.escape(text)


def test_number_given_as_digit_string_is_accepted(bk, api):
    api.get(path=f"{P}/builds/42").respond(200, json={})
    bk("get_build", "acme-inc", "web", "42")
    assert sent(api).url.path.endswith("/builds/42")


# Accounts and permissions ----------------------------------------------------------------


def test_write_under_ask_is_refused_without_a_request(config, api):
    strict = Harness(config, force=False)
    with pytest.raises(PermissionDenied, match="Integration 'buildkite' write requires approval"):
        strict("create_build", {"organization": "a", "pipeline": "b", "branch": "main"})
    assert api.calls.call_count == 0


def test_deny_is_refused_even_for_reads(config, api):
    config.set_permission("buildkite", "read", "deny")
    with pytest.raises(PermissionDenied, match=r"Integration .buildkite. read access denied\."):
        Harness(config, force=False)("get_current_user")
    assert api.calls.call_count == 0


def test_force_bypasses_and_says_so(config, api):
    api.post(path=f"{P}/builds").respond(201, json={"number": 9})
    harness = Harness(config, force=True)
    harness("create_build", {"organization": "acme-inc", "pipeline": "web", "branch": "main"})
    assert ("meta", {"permission_bypassed": True}) in harness.events


def test_force_is_reported_only_when_a_refused_write_was_sent(config, api):
    """permission_bypassed means "a write went out only because of --force": a forced call
    that fails before sending, or a write the policy allows, does not set it."""
    harness = Harness(config, force=True)
    with pytest.raises(ArgumentError):
        harness("create_build", {"organization": "acme-inc", "pipeline": "web"})
    with pytest.raises(ConfigError):
        harness("app.integrations.buildkite.nobody.cancel_build", "acme-inc", "web", 1)
    assert ("meta", {"permission_bypassed": True}) not in harness.events
    config.set_permission("buildkite", "write", "allow")
    api.put(path=f"{P}/builds/1/cancel").respond(200, json={})
    harness("cancel_build", "acme-inc", "web", 1)
    assert ("meta", {"permission_bypassed": True}) not in harness.events


def test_reads_need_no_force(config, api):
    api.get(path="/user").respond(200, json={"name": "Ada"})
    harness = Harness(config, force=False)
    assert harness("get_current_user")[0] == {"name": "Ada"}
    assert ("meta", {"permission_bypassed": True}) not in harness.events


def test_named_account_uses_its_token_and_url(config):
    config.set_account(
        "buildkite", "work", {"access_token": "work-token", "url": "https://bk.work.test/v2"}
    )
    with respx.mock(base_url="https://bk.work.test/v2") as mock:
        route = mock.get("/user").respond(200, json={"name": "work"})
        Harness(config)("app.integrations.buildkite.work.get_current_user")
    assert route.calls.last.request.headers["Authorization"] == "Bearer work-token"


def test_default_account_path_is_the_same_as_none(bk, api):
    api.get(path="/user").respond(200, json={})
    bk("app.integrations.buildkite.default.get_current_user")
    assert sent(api).headers["Authorization"] == f"Bearer {TOKEN}"


def test_unknown_account_says_how_to_configure_it(bk, api):
    with pytest.raises(ConfigError, match="--account nope --set access_token=TOKEN"):
        bk("app.integrations.buildkite.nope.get_current_user")
    assert api.calls.call_count == 0


def test_missing_token_says_how_to_configure_it(config, api):
    harness = Harness(config)
    harness.invoker._environ = {}
    with pytest.raises(ConfigError, match="Set BUILDKITE_API_TOKEN or run"):
        harness("get_current_user")


def test_stored_token_wins_over_the_environment(config, api):
    config.set_account("buildkite", "default", {"access_token": "stored-token"})
    api.get(path="/user").respond(200, json={})
    Harness(config)("get_current_user")
    assert sent(api).headers["Authorization"] == "Bearer stored-token"


# Errors ------------------------------------------------------------------------------------


def test_api_error_carries_status_message_and_tool(bk, api):
    api.get(path=f"{P}/builds/7").respond(404, json={"message": "No build found"})
    with pytest.raises(ApiError) as caught:
        bk("get_build", "acme-inc", "web", 7)
    assert str(caught.value) == "Buildkite API error (404): No build found"
    assert caught.value.fields() == {
        "message": "No build found",
        "status": 404,
        "tool": "buildkite.buildkite_get_build",
        "kind": "api",
        "category": "integration",
    }


def test_validation_errors_are_listed(bk, api):
    api.post(path=f"{P}/builds").respond(
        422,
        json={"message": "Validation Failed", "errors": [{"field": "branch", "code": "missing"}]},
    )
    with pytest.raises(ApiError, match=r"\(422\): Validation Failed: branch missing"):
        bk("create_build", {"organization": "acme-inc", "pipeline": "web", "branch": "x"})


def test_long_error_bodies_are_bounded(bk, api):
    api.get(path="/user").respond(500, text="x" * 5000)
    bk.invoker._clients.clear()
    with pytest.raises(ApiError) as caught:
        _no_sleep(bk)("get_current_user")
    assert len(str(caught.value)) < 600


def test_every_call_is_recorded(bk, api):
    api.get(path="/user").respond(200, json={})
    api.get(path="/organizations/x").respond(404, json={"message": "No organization found"})
    bk("get_current_user")
    with pytest.raises(ApiError):
        bk("get_organization", "x")
    calls = [value for kind, value in bk.events if kind == "call"]
    assert [(c["path"], c["status"], c["http_status"]) for c in calls] == [
        ("integrations.buildkite.get_current_user", "ok", 200),
        ("integrations.buildkite.get_organization", "error", 404),
    ]
    assert calls[1]["error"] == "Buildkite API error (404): No organization found"
    assert all(c["durationMs"] >= 0 for c in calls)


# Repeats ------------------------------------------------------------------------------------


def _no_sleep(harness: Harness) -> Harness:
    harness.invoker._client(load()[0], "default")._sleep = lambda seconds: None
    return harness


def test_429_waits_for_reset_then_repeats_any_method(bk, api):
    slept: list[float] = []
    bk.invoker._client(load()[0], "default")._sleep = slept.append
    route = api.post(path=f"{P}/builds").mock(
        side_effect=[
            httpx.Response(429, json={"message": "slow down"}, headers={"RateLimit-Reset": "3"}),
            httpx.Response(201, json={"number": 1}),
        ]
    )
    data, _ = bk("create_build", {"organization": "acme-inc", "pipeline": "web", "branch": "main"})
    assert data == {"number": 1}
    assert route.call_count == 2
    assert slept == [3.0]


def test_429_gives_up_past_the_wait_bound(bk, api):
    _no_sleep(bk)
    api.get(path="/user").respond(429, json={"message": "slow"}, headers={"Retry-After": "61"})
    with pytest.raises(ApiError, match=r"\(429\)"):
        bk("get_current_user")


def test_5xx_on_get_is_repeated(bk, api):
    _no_sleep(bk)
    route = api.get(path="/user").mock(
        side_effect=[
            httpx.Response(502),
            httpx.Response(500),
            httpx.Response(200, json={"name": "ok"}),
        ]
    )
    assert bk("get_current_user")[0] == {"name": "ok"}
    assert route.call_count == 3


@pytest.mark.parametrize(
    ("name", "args", "method", "path"),
    [
        (
            "create_build",
            [{"organization": "acme-inc", "pipeline": "web", "branch": "main"}],
            "POST",
            f"{P}/builds",
        ),
        ("rebuild_build", ["acme-inc", "web", 1], "PUT", f"{P}/builds/1/rebuild"),
        ("retry_failed_jobs", ["acme-inc", "web", 1], "PUT", f"{P}/builds/1/retry_failed_jobs"),
        (
            "create_pipeline",
            [{"organization": "acme-inc", "name": "n", "repository": "r"}],
            "POST",
            "/organizations/acme-inc/pipelines",
        ),
    ],
)
def test_writes_are_never_sent_twice(bk, api, name, args, method, path):
    _no_sleep(bk)
    route = api.route(method=method, path=path).respond(500, json={"message": "oops"})
    with pytest.raises(ApiError, match=r"\(500\): oops"):
        bk(name, *args)
    assert route.call_count == 1


def test_transport_errors_repeat_gets_only(bk, api):
    _no_sleep(bk)
    get = api.get(path="/user").mock(
        side_effect=[httpx.ConnectError("refused"), httpx.Response(200, json={})]
    )
    bk("get_current_user")
    assert get.call_count == 2
    post = api.post(path=f"{P}/builds").mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(Exception, match="Failed to connect to Buildkite API: ConnectError"):
        bk("create_build", {"organization": "acme-inc", "pipeline": "web", "branch": "main"})
    assert post.call_count == 1


def test_429_with_a_zero_reset_is_still_bounded(bk, api):
    slept: list[float] = []
    bk.invoker._client(load()[0], "default")._sleep = slept.append
    route = api.get(path="/user").respond(
        429, json={"message": "slow"}, headers={"RateLimit-Reset": "0"}
    )
    with pytest.raises(ApiError, match=r"\(429\)"):
        bk("get_current_user")
    assert route.call_count == 61  # one second at least per wait, 60 s in all
    assert sum(slept) == 60


# Cursor pages (list_jobs) ----------------------------------------------------------------------


def _job_pages(request: httpx.Request) -> httpx.Response:
    """Three pages of one job each, chained by `after`; a next link keeps the filters, as
    the API's do."""
    after = request.url.params.get("after")
    number = int(after) + 1 if after else 1
    links = {"self": str(request.url)}
    if number < 3:
        links["next"] = str(request.url.copy_set_param("after", str(number)))
    return httpx.Response(200, json={"items": [{"id": f"j{number}"}], "links": links})


def test_list_jobs_returns_one_cursor_page_as_the_api_sends_it(bk, api):
    api.get(path=f"{P}/builds/42/jobs").mock(side_effect=_job_pages)
    page, meta = bk("list_jobs", {"organization": "acme-inc", "pipeline": "web", "number": 42})
    assert page["items"] == [{"id": "j1"}]
    assert page["links"]["next"].endswith("after=1")
    assert meta["status"] == 200 and api.calls.call_count == 1


def test_list_jobs_follows_the_cursor_for_all_pages_or_max_pages(bk, api):
    route = api.get(path=f"{P}/builds/42/jobs").mock(side_effect=_job_pages)
    args = {"organization": "acme-inc", "pipeline": "web", "number": 42, "per_page": 1}
    every, meta = bk("list_jobs", {**args, "all_pages": True, "state": ["failed", "passed"]})
    assert [job["id"] for job in every["items"]] == ["j1", "j2", "j3"]
    assert "next" not in every["links"] and meta["pages"] == 3
    second = route.calls[1].request.url.params
    assert second.get_list("state[]") == ["failed", "passed"]
    assert second["after"] == "1"
    two, meta = bk("list_jobs", {**args, "max_pages": 2})
    assert [job["id"] for job in two["items"]] == ["j1", "j2"]
    assert two["links"]["next"].endswith("after=2") and meta["pages"] == 2


def test_list_jobs_refuses_a_next_link_outside_the_api(bk, api):
    api.get(path=f"{P}/builds/42/jobs").respond(
        200,
        json={"items": [], "links": {"next": "https://evil.example/v2/jobs?after=1"}},
    )
    with pytest.raises(Exception, match="outside the API"):
        bk(
            "list_jobs",
            {"organization": "acme-inc", "pipeline": "web", "number": 42, "all_pages": True},
        )
    assert api.calls.call_count == 1
