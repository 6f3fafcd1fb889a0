"""The Buildkite emulator against the documented API: fields, codes, states, pages, faults."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from helpers import AUTH, FakeClock, connect

from kosmo_lua.emulation import DroppedConnection, serve, wsgi_transport
from kosmo_lua.integrations.buildkite.emulator import SCOPES, Emulator

ORG = "/organizations/acme-inc"
PIPELINES = f"{ORG}/pipelines"
AUTH_MESSAGE = (
    "Authentication required. Please supply a valid API Access Token: "
    "https://buildkite.com/docs/apis/rest-api#authentication"
)

# The keys of a real list-builds response (buildkite/cli fixtures/build.json).
REAL_BUILD_KEYS = {
    "id", "graphql_id", "url", "web_url", "number", "state", "cancel_reason", "blocked",
    "blocked_state", "message", "commit", "branch", "tag", "env", "source", "author", "creator",
    "created_at", "scheduled_at", "started_at", "finished_at", "meta_data", "pull_request",
    "rebuilt_from", "pipeline", "jobs", "cluster_id", "cluster_url",
}  # fmt: skip
REAL_PIPELINE_KEYS = {
    "id", "graphql_id", "url", "web_url", "name", "description", "slug", "repository",
    "cluster_id", "pipeline_template_uuid", "branch_configuration", "default_branch",
    "skip_queued_branch_builds", "skip_queued_branch_builds_filter",
    "cancel_running_branch_builds", "cancel_running_branch_builds_filter", "allow_rebuilds",
    "provider", "builds_url", "badge_url", "created_by", "created_at", "archived_at", "env",
    "scheduled_builds_count", "running_builds_count", "scheduled_jobs_count",
    "running_jobs_count", "waiting_jobs_count", "visibility", "tags", "emoji", "color",
    "configuration", "steps", "cluster_url",
}  # fmt: skip
# The keys of the docs' "Get a job" example.
DOC_JOB_KEYS = {
    "id", "graphql_id", "type", "name", "step_key", "step", "priority", "agent_query_rules",
    "state", "build_url", "web_url", "log_url", "raw_log_url", "artifacts_url", "command",
    "soft_failed", "exit_status", "signal", "signal_reason", "broken_reason", "artifact_paths",
    "created_at", "scheduled_at", "runnable_at", "concurrency_wait_time_ms", "started_at",
    "finished_at", "expired_at", "retried", "retried_in_job_id", "retries_count",
    "retry_source", "retry_type", "parallel_group_index", "parallel_group_total", "matrix",
    "agent", "cluster_id", "cluster_url", "cluster_queue_id", "cluster_queue_url",
}  # fmt: skip

TINY: dict[str, Any] = {
    "now": "2026-01-01T00:00:00Z",
    "users": [{"name": "Test User", "email": "test@example.com"}],
    "organizations": [
        {
            "slug": "org",
            "pipelines": [
                {
                    "name": "App",
                    "repository": "git@github.com:org/app.git",
                    "steps": [
                        {"key": "a", "command": "make a"},
                        {"key": "b", "command": "make b", "fails": True},
                        {"key": "c", "command": "make c"},
                    ],
                    "builds": [
                        {"state": "passed", "created_at": "2025-12-31T10:00:00Z"},
                        {
                            "state": "failed",
                            "created_at": "2025-12-31T11:00:00Z",
                            "jobs": [
                                {"step": "a"},
                                {"step": "b", "state": "failed", "log": "boom\n"},
                                {"step": "c"},
                            ],
                        },
                        {
                            "state": "running",
                            "branch": "feature",
                            "created_at": "2025-12-31T23:59:00Z",
                        },
                    ],
                }
            ],
        }
    ],
}


def latest(client: httpx.Client, pipeline: str, **params: Any) -> dict[str, Any]:
    response = client.get(f"{PIPELINES}/{pipeline}/builds", params={"per_page": 1, **params})
    return response.json()[0]


def create(client: httpx.Client, pipeline: str, **body: Any) -> dict[str, Any]:
    response = client.post(
        f"{PIPELINES}/{pipeline}/builds", json={"commit": "abc123", "branch": "main", **body}
    )
    assert response.status_code == 201, response.text
    return response.json()


def get_build(client: httpx.Client, pipeline: str, number: int, **params: Any) -> dict[str, Any]:
    return client.get(f"{PIPELINES}/{pipeline}/builds/{number}", params=params).json()


# Base path, authentication and scopes.


def test_the_api_lives_under_v2(emulator: Emulator) -> None:
    with connect(emulator, base_url="http://bk.test") as bare:
        assert bare.get("/organizations").status_code == 404
        assert bare.get("/v2/organizations").status_code == 200
        assert bare.get("/v2/no-such-thing").json() == {"message": "Not Found"}


@pytest.mark.parametrize("header", [None, "Bearer wrong", "Basic bk-emulator-token"])
def test_a_missing_or_wrong_token_is_401(emulator: Emulator, header: str | None) -> None:
    with connect(emulator, headers={"Authorization": header} if header else {}) as anonymous:
        response = anonymous.get("/user")
    assert response.status_code == 401
    assert response.json() == {"message": AUTH_MESSAGE}


def test_a_token_without_a_scope_gets_403(clock: FakeClock) -> None:
    with connect(Emulator(clock=clock, scopes=["read_builds"])) as limited:
        assert limited.get("/access-token").json()["scopes"] == ["read_builds"]
        assert limited.get(f"{PIPELINES}/api/builds").status_code == 200
        response = limited.get("/user")
        assert response.status_code == 403
        assert response.json() == {"message": "Your access token doesn't have the read_user scope"}
        refused = limited.post(f"{PIPELINES}/api/builds", json={"commit": "a", "branch": "b"})
        assert refused.json()["message"].endswith("the write_builds scope")
        assert limited.get("/nowhere").status_code == 404


def test_the_default_token_has_every_scope(client: httpx.Client) -> None:
    token = client.get("/access-token").json()
    assert set(token) >= {"uuid", "scopes"}
    assert set(token["scopes"]) == set(SCOPES) == {
        "read_builds", "write_builds", "read_pipelines", "write_pipelines",
        "read_organizations", "read_user", "read_job_env", "read_build_logs",
        "read_artifacts", "write_artifacts", "read_agents", "write_agents", "read_clusters",
        "read_suites",
    }  # fmt: skip


# Payload shapes.


def test_user_and_organizations_carry_the_documented_fields(client: httpx.Client) -> None:
    user = client.get("/user").json()
    assert set(user) == {"id", "graphql_id", "name", "email", "avatar_url", "created_at"}
    assert user["name"] == "Ada Lovelace"
    [org] = client.get("/organizations").json()
    assert org == client.get(ORG).json()
    assert set(org) == {
        "id", "graphql_id", "url", "web_url", "name", "slug", "pipelines_url", "agents_url",
        "emojis_url", "created_at",
    }  # fmt: skip
    assert org["url"] == "http://bk.test/v2/organizations/acme-inc"


def test_builds_pipelines_and_jobs_carry_the_real_field_names(client: httpx.Client) -> None:
    build = latest(client, "api")
    assert set(build) >= REAL_BUILD_KEYS
    assert set(build["pipeline"]) >= REAL_PIPELINE_KEYS
    assert set(build["jobs"][0]) >= DOC_JOB_KEYS
    assert build["url"] == f"http://bk.test/v2{PIPELINES}/api/builds/14"
    assert build["web_url"] == "https://buildkite.com/acme-inc/api/builds/14"
    assert build["created_at"] == "2026-03-16T10:30:00.000Z"
    assert "job_state_counts" in get_build(client, "api", 14)


# The demo story.


def test_the_demo_tells_its_story(client: httpx.Client) -> None:
    assert latest(client, "api", branch="main")["state"] == "failed"
    assert latest(client, "web", branch="main")["state"] == "passed"
    assert latest(client, "web")["state"] == "running"
    pipelines = client.get(PIPELINES).json()
    assert [p["slug"] for p in pipelines] == ["web", "api", "deploy", "release", "legacy"]
    assert pipelines[4]["archived_at"] == "2026-02-01T10:00:00.000Z"
    assert pipelines[0]["repository"] == "git@github.com:acme-inc/web.git"
    assert pipelines[0]["default_branch"] == "main"
    every = client.get("/builds", params={"per_page": 100}).json()
    assert len(every) == 40
    assert {b["state"] for b in every} == {"passed", "failed", "canceled", "running"}


def test_the_demo_is_deterministic(clock: FakeClock) -> None:
    with connect(Emulator(clock=clock)) as one, connect(Emulator(clock=clock)) as two:
        assert one.get("/builds?per_page=100").json() == two.get("/builds?per_page=100").json()


# Builds: create and the state machine.


def test_create_build_answers_201_with_a_scheduled_build(client: httpx.Client) -> None:
    build = create(client, "web", message="Ship it", meta_data={"release": "1"})
    assert build["number"] == 15
    assert build["state"] == "scheduled"
    assert build["source"] == "api"
    assert build["creator"]["email"] == "ada@acme-inc.example"
    assert build["web_url"] == "https://buildkite.com/acme-inc/web/builds/15"
    assert build["created_at"] == "2026-03-16T12:00:00.000Z"
    assert [job["step_key"] for job in build["jobs"]] == ["lint", "test", "build"]
    assert {job["state"] for job in build["jobs"]} == {"scheduled"}


def test_create_build_requires_commit_and_branch(client: httpx.Client) -> None:
    response = client.post(f"{PIPELINES}/web/builds", json={"message": "no commit"})
    assert response.status_code == 422
    assert response.json() == {
        "message": "Validation Failed",
        "errors": [
            {"field": "commit", "code": "can't be blank"},
            {"field": "branch", "code": "can't be blank"},
        ],
    }


def test_builds_advance_on_the_clock(client: httpx.Client, emulator: Emulator) -> None:
    number = create(client, "api")["number"]  # lint, unit, integration (fails), docker
    states = []
    for _ in range(6):
        build = get_build(client, "api", number)
        states.append((build["state"], [job["state"] for job in build["jobs"]]))
        emulator.advance(10)
    assert states == [
        ("scheduled", ["scheduled"] * 4),
        ("running", ["running", "scheduled", "scheduled", "scheduled"]),
        ("running", ["passed", "running", "scheduled", "scheduled"]),
        ("running", ["passed", "passed", "running", "scheduled"]),
        ("failing", ["passed", "passed", "failed", "running"]),
        ("failed", ["passed", "passed", "failed", "passed"]),
    ]
    build = get_build(client, "api", number)
    assert build["started_at"] == "2026-03-16T12:00:10.000Z"
    assert build["failing_at"] == "2026-03-16T12:00:40.000Z"
    assert build["finished_at"] == "2026-03-16T12:00:50.000Z"
    assert build["jobs"][2]["exit_status"] == 1


def test_builds_advance_by_themselves_with_auto_advance(clock: FakeClock) -> None:
    with connect(Emulator(clock=clock, auto_advance=1.0)) as session:
        number = create(session, "web")["number"]
        clock.now += 1
        assert get_build(session, "web", number)["state"] == "running"
        clock.now += 3
        assert get_build(session, "web", number)["state"] == "passed"


def test_settle_finishes_every_build(client: httpx.Client, emulator: Emulator) -> None:
    create(client, "web")
    emulator.settle()
    states = {build["state"] for build in client.get("/builds?per_page=100").json()}
    assert not states & {"scheduled", "running", "failing"}


# Cancel, rebuild, retries.


def test_cancel_only_live_builds(client: httpx.Client, emulator: Emulator) -> None:
    number = create(client, "web")["number"]
    emulator.advance(10)
    response = client.put(f"{PIPELINES}/web/builds/{number}/cancel")
    assert response.status_code == 200
    build = response.json()
    assert build["state"] == "canceling"  # its running job stops on the next state step
    assert [job["state"] for job in build["jobs"]] == ["canceling", "canceled", "canceled"]
    assert build["finished_at"] is None
    again = client.put(f"{PIPELINES}/web/builds/{number}/cancel")
    assert (again.status_code, again.json()) == (
        422,
        {"message": "Build can't be canceled because it's already canceling"},
    )
    emulator.advance(10)
    build = client.get(f"{PIPELINES}/web/builds/{number}").json()
    assert build["state"] == "canceled"
    assert [job["state"] for job in build["jobs"]] == ["canceled"] * 3
    assert build["jobs"][0]["signal_reason"] == "cancel"
    again = client.put(f"{PIPELINES}/web/builds/{number}/cancel")
    assert again.status_code == 422
    assert again.json() == {"message": "Build can't be canceled because it's already finished"}
    job_id = build["jobs"][0]["id"]
    retry = client.put(f"{PIPELINES}/web/builds/{number}/jobs/{job_id}/retry")
    assert retry.json() == {"message": "Jobs from canceled builds cannot be retried"}


def test_rebuild_makes_the_next_build(client: httpx.Client) -> None:
    original = get_build(client, "web", 13)
    response = client.put(f"{PIPELINES}/web/builds/13/rebuild")
    assert response.status_code == 200
    build = response.json()
    assert build["number"] == 15
    assert build["state"] == "scheduled"
    assert build["commit"] == original["commit"]
    assert build["rebuilt_from"] == {
        "id": original["id"],
        "number": 13,
        "url": f"http://bk.test/v2{PIPELINES}/web/builds/13",
    }
    assert client.put(f"{PIPELINES}/web/builds/13/rebuild").json()["number"] == 16


def test_a_job_can_be_retried_once(client: httpx.Client, emulator: Emulator) -> None:
    number = create(client, "deploy")["number"]  # the smoke tests fail their first attempt
    emulator.settle()
    build = get_build(client, "deploy", number)
    assert build["state"] == "failed"
    smoke = build["jobs"][2]
    url = f"{PIPELINES}/deploy/builds/{number}/jobs/{smoke['id']}/retry"

    response = client.put(url)
    assert response.status_code == 200
    retry = response.json()
    assert (retry["state"], retry["retries_count"], retry["step_key"]) == ("scheduled", 1, "smoke")
    assert retry["retry_source"] == {"job_id": smoke["id"], "retry_type": "manual"}
    assert get_build(client, "deploy", number)["state"] == "running"

    second = client.put(url)
    assert second.status_code == 422
    assert second.json() == {"message": "Jobs can only be retried once"}
    passed = build["jobs"][0]["id"]
    refused = client.put(f"{PIPELINES}/deploy/builds/{number}/jobs/{passed}/retry")
    assert refused.status_code == 400
    assert refused.json() == {"message": "Only failed, timed out or canceled jobs can be retried"}

    emulator.settle()
    build = get_build(client, "deploy", number)
    assert build["state"] == "passed"
    assert build["failing_at"] is not None  # never cleared, as the docs say
    assert [job["id"] for job in build["jobs"]][2] == retry["id"]
    everything = get_build(client, "deploy", number, include_retried_jobs="true")["jobs"]
    old = next(job for job in everything if job["id"] == smoke["id"])
    assert (old["state"], old["retried"], old["retried_in_job_id"]) == ("failed", True, retry["id"])


def test_retry_failed_jobs(client: httpx.Client, emulator: Emulator) -> None:
    number = create(client, "api")["number"]
    emulator.settle()
    url = f"{PIPELINES}/api/builds/{number}/retry_failed_jobs"
    invalid = client.put(url, json={"states": "failed,bogus"})
    assert invalid.status_code == 400
    assert invalid.json() == {
        "message": "Invalid states: bogus. "
        "Valid states are canceled, expired, failed, soft_failed, timed_out."
    }
    assert client.put(url, json={"states": "soft_failed"}).json()["retried_jobs_count"] == 0
    response = client.put(url, json={"states": "failed"})
    assert response.status_code == 202
    build = response.json()
    assert build["retried_jobs_count"] == 1
    assert build["state"] == "running"
    assert client.put(url).json()["retried_jobs_count"] == 0  # nothing has failed yet
    emulator.settle()
    assert get_build(client, "api", number)["state"] == "failed"  # the bug is real
    assert client.put(url).json()["retried_jobs_count"] == 1  # empty body: all retryable


# Pipelines.


def test_pipeline_lifecycle(client: httpx.Client, emulator: Emulator) -> None:
    body = {
        "name": "Mobile App",
        "repository": "git@github.com:acme-inc/mobile.git",
        "steps": [{"label": "Test", "command": "make test", "fails": True}],
    }
    created = client.post(PIPELINES, json=body)
    assert created.status_code == 201
    assert created.json()["slug"] == "mobile-app"
    assert created.json()["steps"][0]["command"] == "make test"
    duplicate = client.post(PIPELINES, json=body)
    assert duplicate.status_code == 422
    assert duplicate.json()["errors"] == [{"field": "name", "code": "has already been taken"}]

    updated = client.patch(f"{PIPELINES}/mobile-app", json={"description": "iOS and Android"})
    assert updated.json()["description"] == "iOS and Android"
    number = create(client, "mobile-app")["number"]
    emulator.settle()
    assert get_build(client, "mobile-app", number)["state"] == "failed"

    archived = client.post(f"{PIPELINES}/mobile-app/archive")
    assert archived.status_code == 200
    assert archived.json()["archived_at"] == "2026-03-16T12:00:30.000Z"  # after settle()
    refused = client.post(f"{PIPELINES}/mobile-app/builds", json={"commit": "a", "branch": "b"})
    assert refused.status_code == 422
    assert "archived" in refused.json()["message"]
    assert client.patch(f"{PIPELINES}/mobile-app", json={"name": "x"}).status_code == 422
    assert client.post(f"{PIPELINES}/mobile-app/unarchive").json()["archived_at"] is None
    create(client, "mobile-app")

    deleted = client.delete(f"{PIPELINES}/mobile-app")
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert client.get(f"{PIPELINES}/mobile-app").json() == {"message": "No pipeline found"}


def test_create_pipeline_validates_and_reads_yaml(client: httpx.Client) -> None:
    missing = client.post(PIPELINES, json={})
    assert missing.status_code == 422
    assert [e["field"] for e in missing.json()["errors"]] == ["name", "repository", "configuration"]
    yaml = 'steps:\n  - label: ":books: Docs"\n    command: "make docs"\n'
    body = {"name": "Docs", "repository": "git@github.com:acme-inc/docs.git", "configuration": yaml}
    pipeline = client.post(PIPELINES, json=body).json()
    assert [(s["name"], s["command"]) for s in pipeline["steps"]] == [(":books: Docs", "make docs")]
    assert pipeline["configuration"] == yaml


def test_the_legacy_pipeline_refuses_builds(client: httpx.Client) -> None:
    response = client.post(f"{PIPELINES}/legacy/builds", json={"commit": "a", "branch": "master"})
    assert response.status_code == 422
    assert response.json()["message"].startswith("This pipeline is archived.")


def test_list_pipelines_filters_by_name_and_repository(client: httpx.Client) -> None:
    def slugs(**params: str) -> list[str]:
        return [p["slug"] for p in client.get(PIPELINES, params=params).json()]

    assert slugs(name="EB") == ["web"]
    assert slugs(repository="ACME-INC/AP") == ["api"]
    assert slugs(name="e", repository="monolith") == ["legacy"]


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/organizations/nope", "No organization found"),
        ("/organizations/nope/pipelines", "No organization found"),
        (f"{PIPELINES}/nope", "No pipeline found"),
        (f"{PIPELINES}/web/builds/999", "No build found"),
        (f"{PIPELINES}/web/builds/abc", "No build found"),
        (f"{PIPELINES}/web/builds/1/jobs/nope/log", "No job found"),
    ],
)
def test_missing_resources_are_404_with_the_docs_messages(
    client: httpx.Client, path: str, message: str
) -> None:
    response = client.get(path)
    assert (response.status_code, response.json()) == (404, {"message": message})


# Listing builds: order, filters, pages.


def test_builds_are_listed_newest_first(client: httpx.Client) -> None:
    builds = client.get("/builds", params={"per_page": 100}).json()
    times = [build["created_at"] for build in builds]
    assert times == sorted(times, reverse=True)


def test_list_builds_filters(client: httpx.Client) -> None:
    def numbers(path: str, **params: Any) -> list[int]:
        response = client.get(path, params={"per_page": 100, **params})
        assert response.status_code == 200, response.text
        return [build["number"] for build in response.json()]

    api = f"{PIPELINES}/api/builds"
    assert numbers(api, branch="main") == [14, 12, 11, 9, 6, 5, 2, 1]
    assert numbers(api, **{"branch[]": ["fix/*", "feature/refund-webhooks"]}) == [13, 4, 3]
    assert numbers(api, branch="*refund*") == [13, 10, 8, 7]
    assert numbers(api, state="canceled") == [11]
    assert numbers(api, **{"state[]": ["canceled", "failed"]}) == [14, 11, 10, 8, 3]
    assert 14 not in numbers(f"{PIPELINES}/web/builds", state="finished")
    commit = get_build(client, "api", 6)["commit"]
    assert numbers(api, commit=commit) == [6]
    assert numbers(api, created_from="2026-03-16T00:00:00Z") == [14, 13]
    assert numbers(api, created_to="2026-03-09T12:00:00Z") == [1]
    assert numbers(api, finished_from="2026-03-16T10:00:00Z") == [14]
    grace = client.get("/builds?per_page=100").json()
    grace_id = next(b["creator"]["id"] for b in grace if b["creator"]["name"] == "Grace Hopper")
    assert numbers(api, creator=grace_id) == [14, 10, 8, 7]
    assert numbers(f"{PIPELINES}/deploy/builds", **{"meta_data[service]": "api"}) == [42, 38, 36]
    bad = client.get(api, params={"created_from": "yesterday"})
    assert bad.status_code == 400


def test_list_builds_can_leave_out_jobs_and_pipeline(client: httpx.Client) -> None:
    build = latest(client, "api", exclude_jobs="true", exclude_pipeline="true")
    assert "jobs" not in build
    assert "pipeline" not in build
    assert "jobs" in latest(client, "api")


def test_pagination_links(client: httpx.Client) -> None:
    first = client.get("/builds")
    assert len(first.json()) == 30
    assert first.headers["Link"] == (
        '<http://bk.test/v2/builds?page=2&per_page=30>; rel="next", '
        '<http://bk.test/v2/builds?page=2&per_page=30>; rel="last"'
    )
    second = client.get(first.links["next"]["url"])
    assert len(second.json()) == 10
    assert second.headers["Link"] == (
        '<http://bk.test/v2/builds?page=1&per_page=30>; rel="first", '
        '<http://bk.test/v2/builds?page=1&per_page=30>; rel="prev"'
    )
    seen = {b["id"] for b in first.json()} | {b["id"] for b in second.json()}
    assert len(seen) == 40

    narrowed = client.get(f"{ORG}/builds", params={"branch": "main", "per_page": 5, "page": 2})
    links = narrowed.links
    assert links["next"]["url"] == f"http://bk.test/v2{ORG}/builds?branch=main&page=3&per_page=5"
    assert links["prev"]["url"].endswith("?branch=main&page=1&per_page=5")
    assert set(links) == {"first", "prev", "next", "last"}


def test_per_page_is_clamped_to_100(clock: FakeClock) -> None:
    data = json.loads(json.dumps(TINY))
    data["organizations"][0]["pipelines"][0]["builds"] = [{"state": "passed"}] * 120
    with connect(Emulator(data, clock=clock)) as session:
        response = session.get("/builds", params={"per_page": 500})
        assert len(response.json()) == 100
        assert response.links["next"]["url"].endswith("?page=2&per_page=100")
        assert len(session.get("/builds", params={"per_page": 0}).json()) == 1


# Rate limits.


def test_rate_limit_headers_and_429(clock: FakeClock) -> None:
    with connect(Emulator(clock=clock, rate_limit=3)) as session:
        remaining = [session.get("/user").headers["RateLimit-Remaining"] for _ in range(3)]
        assert remaining == ["2", "1", "0"]
        clock.now += 20
        refused = session.get("/user")
        assert refused.status_code == 429
        assert refused.json()["reset"] == 40
        assert refused.json()["message"].startswith("You have exceeded your API rate limit.")
        assert refused.headers["RateLimit-Limit"] == "3"
        assert refused.headers["RateLimit-Remaining"] == "0"
        assert refused.headers["RateLimit-Reset"] == "40"
        clock.now += 40
        again = session.get("/user")
        assert again.status_code == 200
        assert (again.headers["RateLimit-Remaining"], again.headers["RateLimit-Reset"]) == (
            "2",
            "60",
        )


def test_every_reply_carries_rate_limit_headers(emulator: Emulator) -> None:
    with connect(emulator, headers={}) as anonymous:
        assert anonymous.get("/user").headers["RateLimit-Limit"] == "200"


# Logs and environment.


def _failing_job(client: httpx.Client) -> tuple[str, dict[str, Any]]:
    build = get_build(client, "api", 14)
    job = next(job for job in build["jobs"] if job["state"] == "failed")
    return f"{PIPELINES}/api/builds/14/jobs/{job['id']}", job


def test_job_log_as_json(client: httpx.Client) -> None:
    url, job = _failing_job(client)
    log = client.get(f"{url}/log").json()
    assert set(log) == {"url", "content", "size", "header_times"}
    assert log["url"] == job["log_url"]
    assert log["size"] == len(log["content"].encode())
    lines = log["content"].splitlines()
    assert all(line.startswith("\x1b_bk;t=") for line in lines)
    assert "\x1b[K" in log["content"]
    assert "AssertionError: assert Decimal('10.333333') == Decimal('10.33')" in log["content"]
    assert "Traceback (most recent call last):" in log["content"]
    assert "Error: The command exited with status 1" in lines[-2]
    assert len(log["header_times"]) == 3
    assert log["header_times"] == sorted(log["header_times"])
    assert log["header_times"][0] > 1_700_000_000 * 10**9


def test_job_log_as_text_and_range(client: httpx.Client) -> None:
    url, job = _failing_job(client)
    content = client.get(f"{url}/log").json()["content"].encode()
    raw = client.get(f"{url}/log", headers={"Accept": "text/plain"})
    assert raw.status_code == 200
    assert raw.headers["Content-Type"].startswith("text/plain")
    assert raw.content == content
    assert client.get(job["raw_log_url"]).content == content

    tail = client.get(f"{url}/log", headers={"Accept": "text/plain", "Range": "bytes=-100"})
    assert tail.status_code == 206
    assert tail.content == content[-100:]
    size = len(content)
    assert tail.headers["Content-Range"] == f"bytes {size - 100}-{size - 1}/{size}"
    assert tail.headers["Accept-Ranges"] == "bytes"

    assert client.get(f"{url}/log", headers={"Range": "bytes=-100"}).status_code == 400
    explicit = {"Accept": "text/plain", "Range": "bytes=0-99"}
    assert client.get(f"{url}/log", headers=explicit).status_code == 400
    head = client.head(f"{url}/log")
    assert (head.status_code, head.content) == (200, b"")


def test_a_job_that_has_not_started_has_an_empty_log(client: httpx.Client) -> None:
    build = create(client, "web")
    url = f"{PIPELINES}/web/builds/{build['number']}/jobs/{build['jobs'][0]['id']}/log"
    assert client.get(url).json()["size"] == 0
    empty = client.get(url, headers={"Accept": "text/plain", "Range": "bytes=-10"})
    assert empty.status_code == 416


def test_job_env(client: httpx.Client) -> None:
    url, job = _failing_job(client)
    env = client.get(f"{url}/env").json()["env"]
    assert env["BUILDKITE_PIPELINE_SLUG"] == "api"
    assert env["BUILDKITE_BUILD_NUMBER"] == "14"
    assert env["BUILDKITE_JOB_ID"] == job["id"]
    assert env["BUILDKITE_COMMAND"] == "pytest tests/integration"
    assert env["DATABASE_URL"] == "postgres://ci@localhost/api_test"


# Faults.


def test_error_faults_fire_count_times(client: httpx.Client, emulator: Emulator) -> None:
    emulator.faults.add("/organizations/*/builds*", "error", count=2, status=503)
    assert client.get("/user").status_code == 200
    replies = [client.get(f"{ORG}/builds") for _ in range(3)]
    assert [reply.status_code for reply in replies] == [503, 503, 200]
    assert replies[0].json() == {"message": "Service Unavailable"}
    assert len(emulator.faults) == 0


def test_faults_can_target_a_method(client: httpx.Client, emulator: Emulator) -> None:
    emulator.faults.add(f"{PIPELINES}/*/builds", "error", method="POST")
    assert client.get(f"{PIPELINES}/web/builds").status_code == 200
    refused = client.post(f"{PIPELINES}/web/builds", json={"commit": "a", "branch": "b"})
    assert refused.status_code == 500
    assert len(emulator.faults) == 0


def test_latency_fault_delays_then_serves(client: httpx.Client, emulator: Emulator) -> None:
    emulator.faults.add("/user", "latency", seconds=0.2)
    started = time.monotonic()
    assert client.get("/user").status_code == 200
    assert time.monotonic() - started >= 0.2


def test_rate_limit_fault(client: httpx.Client, emulator: Emulator) -> None:
    emulator.faults.add("/user", "rate_limit", seconds=7)
    refused = client.get("/user")
    assert refused.status_code == 429
    assert refused.json()["reset"] == 7
    assert refused.headers["RateLimit-Reset"] == "7"
    assert refused.headers["RateLimit-Remaining"] == "0"
    assert client.get("/user").status_code == 200


def test_drop_fault_in_process(client: httpx.Client, emulator: Emulator) -> None:
    emulator.faults.add("/user", "drop", count=2)
    with pytest.raises(DroppedConnection):
        client.get("/user")
    with connect(emulator, transport=wsgi_transport(emulator)) as session:
        with pytest.raises(httpx.RemoteProtocolError):
            session.get("/user")
        assert session.get("/user").status_code == 200


def test_faults_from_the_data_file(clock: FakeClock) -> None:
    data = {**TINY, "faults": [{"path": "/user", "kind": "error", "status": 502}]}
    with connect(Emulator(data, clock=clock)) as session:
        assert session.get("/user").status_code == 502
        assert session.get("/user").status_code == 200


def test_bad_faults_are_refused(emulator: Emulator) -> None:
    with pytest.raises(ValueError, match="kind"):
        emulator.faults.add("/user", "explode")
    with pytest.raises(ValueError, match="count"):
        emulator.faults.add("/user", "error", count=0)


# Recording and the control plane.


def test_every_request_is_recorded(client: httpx.Client, emulator: Emulator) -> None:
    client.get("/user", params={"x": "1"})
    client.post(f"{PIPELINES}/web/builds", json={"commit": "a", "branch": "b"})
    assert len(emulator.requests) == 2
    method, path, query, body, headers = emulator.requests[0]
    assert (method, path, query, body) == ("GET", "/v2/user", "x=1", b"")
    assert headers["authorization"] == "Bearer bk-emulator-token"
    assert json.loads(emulator.requests[1].body) == {"commit": "a", "branch": "b"}


def test_the_control_plane(emulator: Emulator) -> None:
    with connect(emulator, base_url="http://bk.test", headers={}) as control:
        fault = control.post("/_emulator/faults", json={"path": "/user", "kind": "error"})
        assert fault.status_code == 201
        assert fault.json() == {
            "path": "/user", "kind": "error", "count": 1, "status": 500, "seconds": 0.0,
            "method": None,
        }  # fmt: skip
        advanced = control.post("/_emulator/advance", json={"seconds": 10})
        assert advanced.json() == {"time": "2026-03-16T12:00:10.000Z"}
        assert control.post("/_emulator/settle", json={}).status_code == 200
        bad = control.post("/_emulator/faults", json={"path": "/user", "kind": "boom"})
        assert bad.status_code == 400
        assert control.get("/_emulator/nothing").status_code == 404
    assert emulator.requests == []
    with connect(emulator) as session:
        assert session.get("/user").status_code == 500
        assert latest(session, "web")["state"] == "passed"


# Custom data.


def test_a_custom_data_file(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "world.json"
    path.write_text(json.dumps(TINY), encoding="utf-8")
    emulator = Emulator.from_file(path, clock=clock, token="secret")
    with connect(emulator, headers={"Authorization": "Bearer secret"}) as session:
        assert session.get("/user").json()["name"] == "Test User"
        assert [o["slug"] for o in session.get("/organizations").json()] == ["org"]
        builds = session.get("/organizations/org/pipelines/app/builds").json()
        assert [(b["number"], b["state"]) for b in builds] == [
            (3, "running"),
            (2, "failed"),
            (1, "passed"),
        ]
        assert [job["state"] for job in builds[0]["jobs"]] == ["running", "scheduled", "scheduled"]
        failed = builds[1]["jobs"][1]
        log = session.get(failed["raw_log_url"]).text
        assert log == "boom\n"
        emulator.settle()
        assert get_build_state(session, 3) == "failed"
        assert session.get("/organizations/org/pipelines/app/builds/2").json()["finished_at"] == (
            "2025-12-31T11:01:35.000Z"
        )


def get_build_state(session: httpx.Client, number: int) -> str:
    return session.get(f"/organizations/org/pipelines/app/builds/{number}").json()["state"]


def test_retried_jobs_in_the_data(client: httpx.Client) -> None:
    build = get_build(client, "deploy", 38, include_retried_jobs="true")
    smoke = [job for job in build["jobs"] if job["step_key"] == "smoke"]
    assert [(job["state"], job["retried"]) for job in smoke] == [
        ("failed", True),
        ("passed", False),
    ]
    assert smoke[0]["retried_in_job_id"] == smoke[1]["id"]
    assert len(get_build(client, "deploy", 38)["jobs"]) == 3
    assert get_build(client, "deploy", 38)["state"] == "passed"


# Serving on loopback.


def test_served_over_loopback(emulator: Emulator) -> None:
    with serve(emulator) as served:
        assert served.base_url.startswith("http://127.0.0.1:")
        assert served.base_url.endswith("/v2")
        with httpx.Client(base_url=served.base_url, headers=AUTH) as session:
            response = session.get(f"{PIPELINES}/api/builds", params={"per_page": 2})
            assert response.status_code == 200
            assert response.links["next"]["url"].startswith(served.base_url)
            assert response.json()[0]["url"].startswith(served.base_url)
            log = session.get(response.json()[0]["jobs"][2]["raw_log_url"])
            assert "AssertionError" in log.text
            root = served.base_url.removesuffix("/v2")
            assert httpx.post(f"{root}/_emulator/settle", json={}).status_code == 200
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{served.base_url}/user", headers=AUTH, timeout=2)


def test_a_dropped_connection_over_the_socket(emulator: Emulator) -> None:
    emulator.faults.add("/user", "drop")
    with serve(emulator) as served, httpx.Client(base_url=served.base_url, headers=AUTH) as session:
        with pytest.raises(httpx.RemoteProtocolError):
            session.get("/user")
        assert session.get("/user").status_code == 200


def test_serve_binds_loopback_only(emulator: Emulator) -> None:
    with pytest.raises(ValueError, match="loopback"):
        serve(emulator, host="8.8.8.8")


def test_importing_the_emulator_loads_no_heavy_modules() -> None:
    probe = (
        "import sys\n"
        "import kosmo_lua.integrations.buildkite\n"
        "before = set(sys.modules)\n"
        "import kosmo_lua.integrations.buildkite.emulator\n"
        "print(sorted({name.split('.')[0] for name in set(sys.modules) - before}))\n"
    )
    output = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert not {"httpx", "yaml", "mcp", "regex"} & set(json.loads(output.replace("'", '"')))
