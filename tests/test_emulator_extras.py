"""The emulator's annotations, artifacts, agents, clusters and Test Engine endpoints, with
the documented fields and status codes, against the demo data."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
import pytest
from test_emulator import AUTH, ORG, PIPELINES, connect

from kosmo_lua.integrations.buildkite.emulator import Emulator

API_MAIN = f"{PIPELINES}/api/builds/14"  # the latest api build on main: failed, annotated
ANNOTATION_KEYS = {
    "id", "context", "style", "scope", "job_id", "priority", "body_html", "created_at",
    "updated_at",
}  # fmt: skip
ARTIFACT_KEYS = {
    "id", "job_id", "url", "download_url", "state", "path", "dirname", "filename", "mime_type",
    "file_size", "glob_path", "original_path", "sha1sum",
}  # fmt: skip
AGENT_KEYS = {
    "id", "graphql_id", "url", "web_url", "name", "connection_state", "hostname", "ip_address",
    "user_agent", "version", "os_id", "arch", "queue", "creator", "created_at", "connected_at",
    "disconnected_at", "lost_at", "stopped_at", "job", "last_job_finished_at", "priority",
    "meta_data", "paused", "paused_at", "paused_by", "paused_note", "paused_timeout_in_minutes",
}  # fmt: skip
CLUSTER_KEYS = {
    "id", "graphql_id", "default_queue_id", "name", "description", "emoji", "color",
    "maintainers", "url", "web_url", "queues_url", "default_queue_url", "created_at",
    "created_by",
}  # fmt: skip
QUEUE_KEYS = {
    "id", "graphql_id", "key", "description", "url", "web_url", "cluster_url",
    "dispatch_paused", "dispatch_paused_by", "dispatch_paused_at", "dispatch_paused_note",
    "created_at", "created_by",
}  # fmt: skip
RUN_KEYS = {
    "id", "url", "web_url", "branch", "commit_sha", "created_at", "state", "result", "build_id",
}  # fmt: skip
EXECUTION_KEYS = {
    "execution_id", "run_id", "test_id", "run_name", "commit_sha", "created_at", "branch",
    "failure_reason", "duration", "location", "test_name", "run_url", "test_url",
    "test_execution_url",
}  # fmt: skip
SUITES = "/analytics/organizations/acme-inc/suites"


def _integration_job(client: httpx.Client, build: str = API_MAIN) -> dict[str, Any]:
    return next(j for j in client.get(build).json()["jobs"] if j["step_key"] == "integration")


# Annotations.


def test_annotations_by_scope_highest_priority_first(client: httpx.Client) -> None:
    build = client.get(f"{API_MAIN}/annotations")
    assert build.status_code == 200
    notes = build.json()
    assert [(n["context"], n["style"], n["scope"]) for n in notes] == [
        ("test-failures", "error", "build"),
        ("coverage", "info", "build"),
    ]
    assert all(set(note) == ANNOTATION_KEYS for note in notes)
    assert "body" not in notes[0]  # the API returns only the rendered HTML
    assert notes[0]["body_html"].startswith("<h3>2 failed tests</h3>\n<ul><li><code>")
    every = client.get(f"{API_MAIN}/annotations", params={"scope": "all"}).json()
    jobs = client.get(f"{API_MAIN}/annotations", params={"scope": "job"}).json()
    assert len(every) == 3 and [n["context"] for n in jobs] == ["junit"]
    job = _integration_job(client)
    assert jobs[0]["job_id"] == job["id"]
    of_job = client.get(f"{API_MAIN}/jobs/{job['id']}/annotations").json()
    assert of_job == jobs
    bare = client.get(f"{API_MAIN}/annotations", params={"omit_body": "true"}).json()
    assert "body_html" not in bare[0]
    refused = client.get(f"{API_MAIN}/annotations", params={"scope": "everything"})
    assert refused.status_code == 400


def test_create_replace_append_and_delete_an_annotation(client: httpx.Client) -> None:
    created = client.post(
        f"{API_MAIN}/annotations",
        json={"body": "Hello world!", "style": "info", "priority": 5, "context": "greeting"},
    )
    assert created.status_code == 201
    note = created.json()
    assert (note["body_html"], note["scope"], note["job_id"]) == (
        "<p>Hello world!</p>\n",
        "build",
        None,
    )
    appended = client.post(
        f"{API_MAIN}/annotations",
        json={"body": " And more.", "context": "greeting", "append": True},
    ).json()
    assert (appended["id"], appended["body_html"]) == (
        note["id"],
        "<p>Hello world! And more.</p>\n",
    )
    replaced = client.post(
        f"{API_MAIN}/annotations",
        json={"body": "Bye", "context": "greeting", "style": "success"},
    ).json()
    assert (replaced["id"], replaced["body_html"], replaced["style"]) == (
        note["id"],
        "<p>Bye</p>\n",
        "success",
    )
    default = client.post(f"{API_MAIN}/annotations", json={"body": "x"}).json()
    assert (default["context"], default["style"], default["priority"]) == ("default", "info", 3)
    deleted = client.delete(f"{API_MAIN}/annotations/{note['id']}")
    assert (deleted.status_code, deleted.content) == (204, b"")
    again = client.delete(f"{API_MAIN}/annotations/{note['id']}")
    assert (again.status_code, again.json()) == (404, {"message": "No annotation found"})


def test_a_job_annotation(client: httpx.Client) -> None:
    job = _integration_job(client)
    path = f"{API_MAIN}/jobs/{job['id']}/annotations"
    note = client.post(path, json={"body": "job note", "context": "mine"})
    assert note.status_code == 201
    assert (note.json()["scope"], note.json()["job_id"]) == ("job", job["id"])
    assert client.delete(f"{path}/{note.json()['id']}").status_code == 204


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "body"),
        ({"body": "  "}, "body"),
        ({"body": "x", "style": "loud"}, "style"),
        ({"body": "x", "priority": 11}, "priority"),
        ({"body": "x", "priority": "high"}, "priority"),
    ],
)
def test_a_bad_annotation_is_422(client: httpx.Client, body: dict[str, Any], field: str) -> None:
    refused = client.post(f"{API_MAIN}/annotations", json=body)
    assert refused.status_code == 422
    assert refused.json()["message"] == "Validation Failed"
    assert refused.json()["errors"][0]["field"] == field


# Artifacts.


def test_artifacts_of_a_build_and_of_a_job(client: httpx.Client, emulator: Emulator) -> None:
    listed = client.get(f"{API_MAIN}/artifacts")
    assert listed.status_code == 200
    [report] = listed.json()
    assert set(report) == ARTIFACT_KEYS
    assert (report["path"], report["dirname"], report["filename"]) == (
        "junit/integration.xml",
        "junit",
        "integration.xml",
    )
    assert (report["state"], report["mime_type"]) == ("finished", "application/xml")
    job = _integration_job(client)
    assert report["job_id"] == job["id"]
    assert client.get(f"{API_MAIN}/jobs/{job['id']}/artifacts").json() == [report]
    got = client.get(f"{API_MAIN}/jobs/{job['id']}/artifacts/{report['id']}")
    assert got.json() == report
    assert report["download_url"] == report["url"] + "/download"
    content = next(
        item.content for b in emulator.world.builds for j in b.jobs for item in j.artifacts
        if item.id == report["id"]
    )  # fmt: skip
    assert b'failures="2"' in content  # the failed job uploaded the failing report
    assert report["file_size"] == len(content)
    assert report["sha1sum"] == hashlib.sha1(content).hexdigest()


def _stored(emulator: Emulator, url: str) -> httpx.Response:
    """What the storage answers a client that sends no token, as a client must."""
    with httpx.Client(transport=httpx.WSGITransport(app=emulator)) as plain:
        return plain.get(url)


def test_a_passing_job_uploads_the_passing_report(client: httpx.Client, emulator: Emulator) -> None:
    [report] = client.get(f"{PIPELINES}/api/builds/12/artifacts").json()
    download = client.get(report["download_url"])
    assert b'failures="0"' in _stored(emulator, download.headers["Location"]).content


def test_artifact_filters(client: httpx.Client) -> None:
    def paths(**params: str) -> list[str]:
        return [a["path"] for a in client.get(f"{API_MAIN}/artifacts", params=params).json()]

    assert paths(path="junit/*") == ["junit/integration.xml"]
    assert paths(path="junit/integration.xml") == ["junit/integration.xml"]
    assert paths(path="logs/*") == []
    assert paths(state="finished") == ["junit/integration.xml"]
    assert paths(state="expired") == []
    refused = client.get(f"{API_MAIN}/artifacts", params={"state": "bogus"})
    assert refused.status_code == 422


def test_download_redirects_and_delete_removes(client: httpx.Client, emulator: Emulator) -> None:
    [report] = client.get(f"{API_MAIN}/artifacts").json()
    download = client.get(report["download_url"])
    assert download.status_code == 302
    assert download.headers["Location"] == download.json()["url"]
    assert "/_storage/" in download.headers["Location"]
    assert _stored(emulator, download.headers["Location"]).status_code == 200
    deleted = client.delete(report["url"])
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert client.get(f"{API_MAIN}/artifacts").json() == []
    assert client.get(report["url"]).json() == {"message": "No artifact found"}
    assert client.get(report["download_url"]).status_code == 404
    assert _stored(emulator, download.headers["Location"]).status_code == 404


def test_artifacts_need_their_scopes(emulator: Emulator) -> None:
    emulator.scopes = ["read_builds"]
    with connect(emulator, headers=AUTH) as limited:
        refused = limited.get(f"{API_MAIN}/artifacts")
        assert refused.json()["message"].endswith("the read_artifacts scope")


# Agents.


def test_list_agents_shows_the_connected_and_filters(client: httpx.Client) -> None:
    agents = client.get(f"{ORG}/agents")
    assert agents.status_code == 200
    names = [agent["name"] for agent in agents.json()]
    assert names == [
        "acme-inc-agent-1",
        "acme-inc-agent-2",
        "acme-inc-agent-3",
        "acme-inc-deploy-1",
    ]
    assert all(set(agent) == AGENT_KEYS for agent in agents.json())

    def named(**params: str) -> list[str]:
        return [a["name"] for a in client.get(f"{ORG}/agents", params=params).json()]

    assert named(name="agent-2") == ["acme-inc-agent-2"]
    assert named(hostname="ci-deploy") == ["acme-inc-deploy-1"]
    assert len(named(version="3.87.0")) == 4 and named(version="3.87") == []
    cluster = client.get(f"{ORG}/clusters").json()[0]
    queues = {q["key"]: q["id"] for q in client.get(cluster["queues_url"]).json()}
    assert named(cluster_queue_id=queues["deploy"]) == ["acme-inc-deploy-1"]


def test_get_agent_in_any_state_and_its_404(client: httpx.Client) -> None:
    agents = client.get(f"{ORG}/agents").json()
    got = client.get(agents[0]["url"])
    assert got.json() == agents[0]
    assert got.json()["meta_data"] == ["queue=default", "os=linux", "docker=true"]
    from kosmo_lua.integrations.buildkite.emulator.model import stable_id

    lost = client.get(f"{ORG}/agents/{stable_id('acme-inc', 'agent', 'acme-inc-mac-1')}").json()
    assert (lost["connection_state"], lost["os_id"], lost["arch"]) == ("lost", "darwin", "arm64")
    missing = client.get(f"{ORG}/agents/nope")
    assert (missing.status_code, missing.json()) == (404, {"message": "No agent found"})


def test_an_agent_shows_the_job_it_runs(client: httpx.Client) -> None:
    running = client.get(f"{PIPELINES}/web/builds", params={"state": "running"}).json()[0]
    job = next(job for job in running["jobs"] if job["state"] == "running")
    agent = client.get(job["agent"]["url"]).json()
    assert agent["job"]["id"] == job["id"]


def test_stop_an_agent(client: httpx.Client) -> None:
    running = client.get(f"{PIPELINES}/web/builds", params={"state": "running"}).json()[0]
    busy = next(job for job in running["jobs"] if job["state"] == "running")["agent"]
    idle = next(
        a for a in client.get(f"{ORG}/agents").json() if a["job"] is None and a["id"] != busy["id"]
    )
    stopped = client.put(f"{idle['url']}/stop", json={"force": True})
    assert (stopped.status_code, stopped.content) == (204, b"")
    assert client.get(idle["url"]).json()["connection_state"] == "stopped"
    assert idle["name"] not in [a["name"] for a in client.get(f"{ORG}/agents").json()]
    again = client.put(f"{idle['url']}/stop")
    assert (again.status_code, again.json()) == (400, {"message": "Can only stop connected agents"})

    gentle = client.put(f"{busy['url']}/stop", json={"force": False})
    assert gentle.status_code == 204
    assert client.get(busy["url"]).json()["connection_state"] == "stopping"
    assert busy["name"] in [a["name"] for a in client.get(f"{ORG}/agents").json()]


def test_a_forced_stop_cancels_the_agents_build(client: httpx.Client, emulator: Emulator) -> None:
    running = client.get(f"{PIPELINES}/web/builds", params={"state": "running"}).json()[0]
    busy = next(job for job in running["jobs"] if job["state"] == "running")["agent"]
    assert client.put(f"{busy['url']}/stop").status_code == 204  # force defaults to true
    build = f"{PIPELINES}/web/builds/{running['number']}"
    assert client.get(build).json()["state"] == "canceling"
    emulator.advance(60)
    assert client.get(build).json()["state"] == "canceled"


def test_pause_and_resume_an_agent(client: httpx.Client) -> None:
    agent = client.get(f"{ORG}/agents").json()[0]
    paused = client.put(f"{agent['url']}/pause", json={"note": "Xcode", "timeout_in_minutes": 60})
    assert (paused.status_code, paused.content) == (204, b"")
    shown = client.get(agent["url"]).json()
    assert (shown["paused"], shown["paused_note"], shown["paused_timeout_in_minutes"]) == (
        True,
        "Xcode",
        60,
    )
    assert shown["paused_by"]["email"] == "ada@acme-inc.example"
    again = client.put(f"{agent['url']}/pause")
    assert (again.status_code, again.json()) == (422, {"message": "Agent is already paused"})
    assert client.put(f"{agent['url']}/resume").status_code == 204
    assert client.get(agent["url"]).json()["paused"] is False
    not_paused = client.put(f"{agent['url']}/resume")
    assert (not_paused.status_code, not_paused.json()) == (422, {"message": "Agent is not paused"})
    from kosmo_lua.integrations.buildkite.emulator.model import stable_id

    lost = f"{ORG}/agents/{stable_id('acme-inc', 'agent', 'acme-inc-mac-1')}"
    refused = client.put(f"{lost}/pause")
    assert (refused.status_code, refused.json()) == (
        422,
        {"message": "Only connected agents may be paused"},
    )
    assert client.put(f"{ORG}/agents/nope/resume").status_code == 404


# Clusters and queues.


def test_clusters_and_queues(client: httpx.Client) -> None:
    clusters = client.get(f"{ORG}/clusters")
    assert clusters.status_code == 200
    [cluster] = clusters.json()
    assert set(cluster) == CLUSTER_KEYS
    assert client.get(cluster["url"]).json() == cluster
    queues = client.get(cluster["queues_url"]).json()
    assert [q["key"] for q in queues] == ["default", "deploy", "macos"]
    assert all(set(queue) == QUEUE_KEYS for queue in queues)
    assert cluster["default_queue_id"] == queues[0]["id"]
    assert client.get(cluster["default_queue_url"]).json() == queues[0]
    assert client.get(f"{ORG}/clusters/nope").json() == {"message": "No cluster found"}
    missing = client.get(f"{cluster['queues_url']}/nope")
    assert (missing.status_code, missing.json()) == (404, {"message": "No queue found"})


# Test Engine.


def test_suites_runs_and_failed_executions(client: httpx.Client) -> None:
    [suite] = client.get(SUITES).json()
    assert set(suite) == {"id", "graphql_id", "slug", "name", "url", "web_url", "default_branch"}
    assert (suite["slug"], suite["name"]) == ("api-integration", "API integration tests")
    runs = client.get(f"{SUITES}/api-integration/runs").json()
    assert [run["result"] for run in runs] == ["failed", "passed"]  # newest first
    assert all(set(run) == RUN_KEYS for run in runs)
    failed_build = client.get(API_MAIN).json()
    assert (runs[0]["build_id"], runs[0]["commit_sha"]) == (
        failed_build["id"],
        failed_build["commit"],
    )
    by_build = client.get(f"{SUITES}/api-integration/runs", params={"build_id": failed_build["id"]})
    assert [run["id"] for run in by_build.json()] == [runs[0]["id"]]
    assert client.get(f"{SUITES}/api-integration/runs/{runs[0]['id']}").json() == runs[0]
    failures = client.get(f"{SUITES}/api-integration/runs/{runs[0]['id']}/failed_executions").json()
    assert [f["test_name"] for f in failures] == [
        "test_partial_refund_rounds_to_cent",
        "test_refund_total_matches",
    ]
    assert all(set(failure) == EXECUTION_KEYS for failure in failures)
    assert failures[0]["location"] == "tests/integration/test_refunds.py:42"
    expanded = client.get(
        f"{SUITES}/api-integration/runs/{runs[0]['id']}/failed_executions",
        params={"include_failure_expanded": "true"},
    ).json()
    assert expanded[1]["failure_expanded"][0]["backtrace"][0] == "acme_api/client.py:88: in refund"
    passed = client.get(f"{SUITES}/api-integration/runs/{runs[1]['id']}/failed_executions")
    assert passed.json() == []


def test_test_engine_404s_and_scope(emulator: Emulator, client: httpx.Client) -> None:
    assert client.get(f"{SUITES}/nope/runs").json() == {"message": "No suite found"}
    missing = client.get(f"{SUITES}/api-integration/runs/nope")
    assert (missing.status_code, missing.json()) == (404, {"message": "No test run found"})
    emulator.scopes = ["read_builds"]
    refused = client.get(SUITES)
    assert (refused.status_code, refused.json()["message"]) == (
        403,
        "Your access token doesn't have the read_suites scope",
    )


# Pipelines.


def test_delete_a_pipeline_for_good(client: httpx.Client) -> None:
    deleted = client.delete(f"{PIPELINES}/legacy")
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert client.get(f"{PIPELINES}/legacy").json() == {"message": "No pipeline found"}
    assert client.delete(f"{PIPELINES}/legacy").status_code == 404
