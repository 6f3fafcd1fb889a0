"""The emulator's job endpoints: cursor-paged lists, one job, block steps and unblocking,
reprioritizing; with the documented fields and status codes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from test_emulator import AUTH, DOC_JOB_KEYS, PIPELINES, FakeClock, connect

from kosmo_lua.integrations.buildkite.emulator import Emulator

MANUAL_JOB_KEYS = {
    "id", "graphql_id", "type", "label", "step_key", "state", "web_url", "unblocked_by",
    "unblocked_at", "unblockable", "unblock_url",
}  # fmt: skip
# A pipeline with a block step between two commands; the first fails when asked to.
GATED: dict[str, Any] = {
    "users": [{"name": "Ada", "email": "ada@example.com"}, {"email": "bob@example.com"}],
    "organizations": [
        {
            "slug": "org",
            "pipelines": [
                {
                    "name": "Gated",
                    "repository": "git@example.com:org/gated.git",
                    "steps": [
                        {"key": "build", "command": "make"},
                        {"block": "Ship it?", "key": "gate"},
                        {"key": "ship", "command": "make ship"},
                    ],
                    "builds": [{"state": "passed", "creator": "bob@example.com"}],
                },
                {
                    "name": "Broken",
                    "repository": "git@example.com:org/broken.git",
                    "steps": [
                        {"key": "build", "command": "make", "fails": True},
                        {"block": "Ship it anyway?", "key": "gate"},
                        {"key": "ship", "command": "make ship"},
                    ],
                },
            ],
        }
    ],
}
GATED_BUILDS = "/organizations/org/pipelines/gated/builds"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def client(clock: FakeClock) -> Iterator[httpx.Client]:
    with connect(Emulator(clock=clock)) as session:
        yield session


@pytest.fixture
def emulator(clock: FakeClock) -> Emulator:
    return Emulator(GATED, clock=clock)


@pytest.fixture
def gated(emulator: Emulator) -> Iterator[httpx.Client]:
    with connect(emulator) as session:
        yield session


def _failed_api_build(client: httpx.Client) -> dict[str, Any]:
    params = {"state": "failed", "per_page": 1}
    return client.get(f"{PIPELINES}/api/builds", params=params).json()[0]


def _retried_deploy_build(client: httpx.Client) -> dict[str, Any]:
    """The deploy build whose smoke tests were retried (two attempts of one step)."""
    builds = client.get(f"{PIPELINES}/deploy/builds", params={"include_retried_jobs": True})
    return next(b for b in builds.json() if any(job["retried"] for job in b["jobs"]))


# List jobs: cursor pages.


def test_list_jobs_pages_by_cursor_with_items_and_links(client: httpx.Client) -> None:
    build = _failed_api_build(client)
    jobs = f"{PIPELINES}/api/builds/{build['number']}/jobs"
    first = client.get(jobs, params={"per_page": 3})
    assert first.status_code == 200
    page = first.json()
    assert set(page) == {"items", "links"}
    assert [set(job) for job in page["items"]] == [DOC_JOB_KEYS] * 3
    assert page["links"]["self"] == f"http://bk.test/v2{jobs}?per_page=3"
    second = client.get(page["links"]["next"]).json()
    assert "next" not in second["links"]
    ids = [job["id"] for job in page["items"] + second["items"]]
    assert ids == [job["id"] for job in build["jobs"]]
    cursor = httpx.URL(page["links"]["next"]).params["after"]
    before = client.get(jobs, params={"before": cursor, "per_page": 2}).json()
    assert [job["id"] for job in before["items"]] == ids[:2]


def test_list_jobs_filters(client: httpx.Client) -> None:
    build = _retried_deploy_build(client)
    jobs = f"{PIPELINES}/deploy/builds/{build['number']}/jobs"

    def names(**params: Any) -> list[tuple[str, str]]:
        items = client.get(jobs, params=params).json()["items"]
        return [(job["step_key"], job["state"]) for job in items]

    assert names() == [("plan", "passed"), ("deploy", "passed"), ("smoke", "failed"),
                       ("smoke", "passed")]  # fmt: skip
    assert names(include_retried_jobs="false") == [
        ("plan", "passed"),
        ("deploy", "passed"),
        ("smoke", "passed"),
    ]
    assert names(**{"state[]": ["failed", "timed_out"]}) == [("smoke", "failed")]
    assert names(step_key="smoke") == [("smoke", "failed"), ("smoke", "passed")]
    assert names(group_key="tests") == []  # the emulator has no group steps


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"state[]": "bogus"}, "Invalid state: bogus"),
        ({"per_page": "101"}, "per_page must be an integer from 1 to 100"),
        ({"per_page": "0"}, "per_page must be an integer from 1 to 100"),
        ({"after": "a", "before": "b"}, "after and before are mutually exclusive"),
        ({"after": "not-a-cursor"}, "Invalid cursor"),
    ],
)
def test_list_jobs_refuses_bad_filters_with_400(
    client: httpx.Client, params: dict[str, str], message: str
) -> None:
    build = _failed_api_build(client)
    refused = client.get(f"{PIPELINES}/api/builds/{build['number']}/jobs", params=params)
    assert (refused.status_code, refused.json()) == (400, {"message": message})


def test_get_job_and_its_404(client: httpx.Client) -> None:
    build = _failed_api_build(client)
    job = build["jobs"][-1]
    got = client.get(f"{PIPELINES}/api/builds/{build['number']}/jobs/{job['id']}")
    assert got.status_code == 200 and got.json() == job
    missing = client.get(f"{PIPELINES}/api/builds/{build['number']}/jobs/nope")
    assert (missing.status_code, missing.json()) == (404, {"message": "No job found"})


def test_retry_answers_400_for_a_job_that_did_not_fail(client: httpx.Client) -> None:
    build = _failed_api_build(client)
    passed = next(job for job in build["jobs"] if job["state"] == "passed")
    refused = client.put(f"{PIPELINES}/api/builds/{build['number']}/jobs/{passed['id']}/retry")
    assert refused.status_code == 400
    assert refused.json() == {"message": "Only failed, timed out or canceled jobs can be retried"}


# Block steps.


def test_a_block_step_blocks_the_build_until_it_is_unblocked(
    gated: httpx.Client, emulator: Emulator
) -> None:
    build = gated.post(GATED_BUILDS, json={"commit": "abc", "branch": "main"}).json()
    number = build["number"]
    gate = build["jobs"][1]
    assert set(gate) == MANUAL_JOB_KEYS
    assert (gate["type"], gate["label"], gate["state"]) == ("manual", "Ship it?", "scheduled")
    emulator.advance(20)  # the build's first job runs and passes; then the block step
    build = gated.get(f"{GATED_BUILDS}/{number}").json()
    assert (build["state"], build["blocked"], build["blocked_state"]) == ("passed", True, "passed")
    gate = build["jobs"][1]
    assert (gate["state"], gate["unblockable"]) == ("blocked", True)
    assert gate["unblock_url"].endswith(f"/jobs/{gate['id']}/unblock")
    assert number in [
        b["number"] for b in gated.get(GATED_BUILDS, params={"state": "blocked"}).json()
    ]

    unblocked = gated.put(
        f"{GATED_BUILDS}/{number}/jobs/{gate['id']}/unblock",
        json={"fields": {"release-name": "v2"}},
    )
    assert unblocked.status_code == 200
    job = unblocked.json()
    assert (job["state"], job["unblockable"]) == ("unblocked", False)
    assert job["unblocked_by"]["email"] == "ada@example.com"  # the token's user by default
    assert job["unblocked_at"] is not None
    build = gated.get(f"{GATED_BUILDS}/{number}").json()
    assert (build["state"], build["blocked"]) == ("running", False)
    assert build["meta_data"] == {"release-name": "v2"}
    emulator.settle()
    build = gated.get(f"{GATED_BUILDS}/{number}").json()
    assert build["state"] == "passed"
    assert [job["state"] for job in build["jobs"]] == ["passed", "unblocked", "passed"]
    again = gated.put(f"{GATED_BUILDS}/{number}/jobs/{gate['id']}/unblock")
    assert (again.status_code, again.json()) == (
        400,
        {"message": "This job can't be unblocked: it is unblocked"},
    )


def test_unblock_refusals(gated: httpx.Client, emulator: Emulator) -> None:
    number = gated.post(GATED_BUILDS, json={"commit": "a", "branch": "main"}).json()["number"]
    emulator.advance(20)
    build_job, gate = gated.get(f"{GATED_BUILDS}/{number}").json()["jobs"][:2]
    unblock = f"{GATED_BUILDS}/{number}/jobs/{{}}/unblock"
    script = gated.put(unblock.format(build_job["id"]))
    assert (script.status_code, script.json()) == (
        400,
        {"message": "This job type cannot be unblocked"},
    )
    stranger = gated.put(unblock.format(gate["id"]), json={"unblocker": "no-such-user"})
    assert (stranger.status_code, stranger.json()["message"]) == (
        422,
        "Unblocker is not a valid user id for this organization",
    )
    bob = emulator.world.users[1]
    by_bob = gated.put(unblock.format(gate["id"]), json={"unblocker": bob.id}).json()
    assert by_bob["unblocked_by"]["email"] == "bob@example.com"

    canceled = gated.post(GATED_BUILDS, json={"commit": "b", "branch": "main"}).json()
    assert gated.put(f"{GATED_BUILDS}/{canceled['number']}/cancel").status_code == 200
    refused = gated.put(unblock.replace(str(number), str(canceled["number"])).format(
        canceled["jobs"][1]["id"]
    ))  # fmt: skip
    assert (refused.status_code, refused.json()) == (
        422,
        {"message": "Jobs from canceled builds cannot be unblocked"},
    )


def test_a_block_step_after_a_failure_blocks_failed(
    gated: httpx.Client, emulator: Emulator
) -> None:
    builds = "/organizations/org/pipelines/broken/builds"
    number = gated.post(builds, json={"commit": "a", "branch": "main"}).json()["number"]
    emulator.advance(20)
    build = gated.get(f"{builds}/{number}").json()
    assert (build["state"], build["blocked"], build["blocked_state"]) == ("failed", True, "failed")
    gate = build["jobs"][1]
    assert (gate["state"], gate["unblockable"]) == ("blocked_failed", True)
    job = gated.put(f"{builds}/{number}/jobs/{gate['id']}/unblock").json()
    assert job["state"] == "unblocked_failed"
    assert gated.get(f"{builds}/{number}").json()["state"] == "failing"
    emulator.settle()
    build = gated.get(f"{builds}/{number}").json()
    assert [job["state"] for job in build["jobs"]] == ["failed", "unblocked_failed", "passed"]
    assert build["state"] == "failed"


def test_a_historic_build_was_unblocked_by_its_creator(gated: httpx.Client) -> None:
    gate = gated.get(f"{GATED_BUILDS}/1").json()["jobs"][1]
    assert gate["state"] == "unblocked"
    assert gate["unblocked_by"]["email"] == "bob@example.com"


def test_the_demo_release_pipeline_blocks_at_once(client: httpx.Client) -> None:
    build = client.post(
        f"{PIPELINES}/release/builds", json={"commit": "HEAD", "branch": "main"}
    ).json()
    assert build["blocked"] is True
    assert [(job["type"], job["state"]) for job in build["jobs"]] == [
        ("manual", "blocked"),
        ("script", "scheduled"),
    ]


def test_yaml_block_steps_make_manual_jobs(client: httpx.Client) -> None:
    yaml = 'steps:\n  - command: "make"\n  - block: "Deploy?"\n    key: deploy-gate\n'
    created = client.post(
        PIPELINES, json={"name": "Gate", "repository": "git@x:y.git", "configuration": yaml}
    ).json()
    assert [(s["type"], s["key"]) for s in created["steps"]] == [
        ("script", "make"),
        ("manual", "deploy-gate"),
    ]


# Reprioritize.


def test_reprioritize_sets_the_priority(client: httpx.Client) -> None:
    build = client.post(f"{PIPELINES}/web/builds", json={"commit": "a", "branch": "main"}).json()
    url = f"{PIPELINES}/web/builds/{build['number']}/jobs/{build['jobs'][0]['id']}/reprioritize"
    changed = client.put(url, json={"priority": 5})
    assert changed.status_code == 200 and changed.json()["priority"] == {"number": 5}
    for body in ({"priority": "high"}, {"priority": True}, {}):
        refused = client.put(url, json=body)
        assert (refused.status_code, refused.json()) == (
            400,
            {"message": "Priority must be an integer"},
        )


def test_job_writes_need_write_builds(clock: FakeClock) -> None:
    emulator = Emulator(clock=clock, scopes=["read_builds"])
    with connect(emulator, headers=AUTH) as limited:
        build = _failed_api_build(limited)
        job = build["jobs"][0]["id"]
        path = f"{PIPELINES}/api/builds/{build['number']}/jobs/{job}"
        assert limited.get(f"{PIPELINES}/api/builds/{build['number']}/jobs").status_code == 200
        for action in ("unblock", "reprioritize", "retry"):
            refused = limited.put(f"{path}/{action}", json={"priority": 1})
            assert refused.status_code == 403
            assert refused.json()["message"].endswith("the write_builds scope")
