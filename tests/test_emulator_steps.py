"""The emulator's wait, trigger and group steps and its ``canceling`` state: through the API
on a fake clock (one state step per 10 s), through ``kosmo integrations:lua --emulate``, and
the data-file values it refuses (an unknown trigger target, a trigger cycle)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_emulator import FakeClock, connect

from kosmo_lua.integrations.buildkite.emulator import Emulator
from kosmo_lua.integrations.buildkite.emulator.schema import DataError
from kosmo_lua.integrations.buildkite.emulator.state import MAX_TRIGGERED_BUILDS

ORG = "/organizations/org"
STEP = 10.0  # the emulator's state step without auto_advance


def _pipeline(name: str, steps: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    slug = name.lower()
    return {"name": name, "repository": f"git@example.com:org/{slug}.git", "steps": steps, **fields}


WORLD: dict[str, Any] = {
    "organizations": [
        {
            "slug": "org",
            "pipelines": [
                _pipeline(
                    "App",
                    [
                        {
                            "group": ":white_check_mark: Checks",
                            "key": "checks",
                            "steps": [
                                {"key": "lint", "command": "make lint"},
                                {"key": "unit", "command": "make unit"},
                            ],
                        },
                        {"wait": ""},
                        {"trigger": "deploy", "label": "Deploy", "key": "deploy"},
                        {"wait": ""},
                        {"key": "announce", "command": "announce"},
                    ],
                ),
                _pipeline("Deploy", [{"key": "ship", "command": "ship"}], default_branch="prod"),
                _pipeline(
                    "Red",
                    [
                        {"key": "test", "command": "make test", "flaky": True},
                        {"wait": "", "key": "gate"},
                        {"key": "after", "command": "make after"},
                    ],
                ),
                _pipeline(
                    "Forgiving",
                    [
                        {"key": "test", "command": "make test", "fails": True},
                        {"wait": "", "continue_on_failure": True},
                        {"key": "cleanup", "command": "make clean"},
                    ],
                ),
                _pipeline("Hotfix", [{"trigger": "broken", "key": "release"}]),
                _pipeline("Broken", [{"key": "build", "command": "make", "fails": True}]),
                _pipeline(
                    "Notify",
                    [
                        {"trigger": "deploy", "key": "ping", "async": True},
                        {"key": "after", "command": "make after"},
                    ],
                ),
            ],
        }
    ]
}


@pytest.fixture
def emulator() -> Emulator:
    return Emulator(WORLD, clock=FakeClock())


def _create(client: httpx.Client, pipeline: str) -> int:
    body = {"commit": "HEAD", "branch": "main", "message": "test"}
    created = client.post(f"{ORG}/pipelines/{pipeline}/builds", json=body)
    assert created.status_code == 201, created.text
    number: int = created.json()["number"]
    return number


def _get(client: httpx.Client, pipeline: str, number: int) -> dict[str, Any]:
    build: dict[str, Any] = client.get(f"{ORG}/pipelines/{pipeline}/builds/{number}").json()
    return build


def _states(build: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(job["type"], job["step_key"], job["state"]) for job in build["jobs"]]


# Wait steps.


def test_steps_after_a_wait_start_once_the_earlier_ones_passed(
    client: httpx.Client, emulator: Emulator
) -> None:
    number = _create(client, "app")
    timeline = []
    for _ in range(6):
        build = _get(client, "app", number)
        timeline.append((build["state"], [state for _, _, state in _states(build)]))
        emulator.advance(STEP)
    assert timeline == [
        ("scheduled", ["scheduled", "scheduled", "waiting", "waiting", "waiting", "waiting"]),
        ("running", ["running", "scheduled", "waiting", "waiting", "waiting", "waiting"]),
        ("running", ["passed", "running", "waiting", "waiting", "waiting", "waiting"]),
        # The wait passes; the trigger step runs while its build does, the rest waits.
        ("running", ["passed", "passed", "passed", "running", "waiting", "waiting"]),
        ("running", ["passed", "passed", "passed", "running", "waiting", "waiting"]),
        ("running", ["passed", "passed", "passed", "passed", "passed", "running"]),
    ]
    emulator.advance(STEP)
    build = _get(client, "app", number)
    assert build["state"] == "passed"
    waiter = build["jobs"][2]
    assert waiter == {
        "id": waiter["id"],
        "graphql_id": waiter["graphql_id"],
        "type": "waiter",
        "step_key": "wait-2",
        "state": "passed",
    }


def test_a_failure_stops_the_build_at_a_wait_until_a_retry_passes(
    client: httpx.Client, emulator: Emulator
) -> None:
    number = _create(client, "red")
    emulator.advance(2 * STEP)
    build = _get(client, "red", number)
    assert build["state"] == "failed"
    assert _states(build) == [
        ("script", "test", "failed"),
        ("waiter", "gate", "waiting_failed"),
        ("script", "after", "waiting_failed"),
    ]
    jobs = f"{ORG}/pipelines/red/builds/{number}/jobs"
    assert client.get(jobs, params={"state[]": "waiting_failed"}).json()["items"][0]["type"] == (
        "waiter"
    )
    test_job = build["jobs"][0]["id"]
    assert client.put(f"{jobs}/{test_job}/retry").status_code == 200
    revived = _get(client, "red", number)
    assert revived["state"] == "running"  # the failed attempt is no longer the latest
    assert [state for _, _, state in _states(revived)] == ["scheduled", "waiting", "waiting"]
    emulator.advance(3 * STEP)  # the retry runs and passes, so the wait lets "after" run
    build = _get(client, "red", number)
    assert _states(build) == [
        ("script", "test", "passed"),
        ("waiter", "gate", "passed"),
        ("script", "after", "passed"),
    ]
    assert build["state"] == "passed"


def test_continue_on_failure_lets_later_steps_run(client: httpx.Client, emulator: Emulator) -> None:
    number = _create(client, "forgiving")
    emulator.advance(3 * STEP)
    build = _get(client, "forgiving", number)
    assert _states(build) == [
        ("script", "test", "failed"),
        ("waiter", "wait-1", "passed"),
        ("script", "cleanup", "passed"),
    ]
    assert build["state"] == "failed"  # the failure still fails the build


# Trigger steps.


def test_a_trigger_step_builds_another_pipeline_and_is_linked_to_it(
    client: httpx.Client, emulator: Emulator
) -> None:
    number = _create(client, "app")
    emulator.advance(3 * STEP)
    trigger = _get(client, "app", number)["jobs"][3]
    child = _get(client, "deploy", trigger["triggered_build"]["number"])
    assert trigger["triggered_build"] == {
        "id": child["id"],
        "number": child["number"],
        "url": f"http://bk.test/v2{ORG}/pipelines/deploy/builds/{child['number']}",
        "web_url": f"https://buildkite.com/org/deploy/builds/{child['number']}",
    }
    assert set(trigger) == {
        "id", "graphql_id", "type", "name", "step_key", "state", "async", "web_url",
        "created_at", "scheduled_at", "runnable_at", "started_at", "finished_at",
        "triggered_build",
    }  # fmt: skip
    assert (trigger["type"], trigger["name"], trigger["async"]) == ("trigger", "Deploy", False)
    # The triggered pipeline's default branch, at HEAD, the step's label as message.
    assert (child["branch"], child["commit"], child["message"]) == ("prod", "HEAD", "Deploy")
    assert child["source"] == "trigger_job"
    assert child["state"] == "scheduled"
    emulator.settle()
    assert _get(client, "deploy", child["number"])["state"] == "passed"
    assert _get(client, "app", number)["jobs"][3]["state"] == "passed"


def test_a_trigger_step_fails_when_its_build_fails(
    client: httpx.Client, emulator: Emulator
) -> None:
    number = _create(client, "hotfix")
    emulator.settle()
    build = _get(client, "hotfix", number)
    assert build["state"] == "failed"
    release = build["jobs"][0]
    assert release["state"] == "failed"
    assert _get(client, "broken", release["triggered_build"]["number"])["state"] == "failed"


def test_an_async_trigger_step_passes_once_its_build_exists(
    client: httpx.Client, emulator: Emulator
) -> None:
    number = _create(client, "notify")
    emulator.advance(STEP)
    build = _get(client, "notify", number)
    ping = build["jobs"][0]
    assert (ping["state"], ping["async"]) == ("passed", True)
    assert _get(client, "deploy", ping["triggered_build"]["number"])["state"] == "scheduled"
    assert build["jobs"][1]["state"] == "scheduled"
    emulator.advance(STEP)
    assert _get(client, "notify", number)["jobs"][1]["state"] == "running"


def test_a_trigger_to_a_pipeline_archived_since_fails_its_job(
    client: httpx.Client, emulator: Emulator
) -> None:
    assert client.post(f"{ORG}/pipelines/broken/archive").status_code == 200
    number = _create(client, "hotfix")
    emulator.advance(STEP)
    release = _get(client, "hotfix", number)["jobs"][0]
    assert (release["state"], release["triggered_build"]) == ("failed", None)
    emulator.advance(STEP)
    assert _get(client, "hotfix", number)["state"] == "failed"


def test_a_replayed_build_links_a_replayed_triggered_build() -> None:
    data = copy.deepcopy(WORLD)
    data["organizations"][0]["pipelines"][4]["builds"] = [{"state": "failed"}]
    with connect(Emulator(data, clock=FakeClock())) as client:
        release = _get(client, "hotfix", 1)["jobs"][0]
        assert release["state"] == "failed"
        child = _get(client, "broken", release["triggered_build"]["number"])
        assert (child["state"], child["source"]) == ("failed", "trigger_job")
        assert child["created_at"] == release["started_at"]


# Group steps.


def test_jobs_of_a_group_step_carry_its_key(client: httpx.Client, emulator: Emulator) -> None:
    number = _create(client, "app")
    build = _get(client, "app", number)
    assert [job.get("group_key") for job in build["jobs"]] == ["checks", "checks"] + [None] * 4
    jobs = f"{ORG}/pipelines/app/builds/{number}/jobs"
    grouped = client.get(jobs, params={"group_key": "checks"}).json()["items"]
    assert [job["step_key"] for job in grouped] == ["lint", "unit"]
    assert client.get(jobs, params={"group_key": "nope"}).json()["items"] == []
    # The pipeline's steps have no group entry: its steps stand in its place.
    steps = client.get(f"{ORG}/pipelines/app").json()["steps"]
    assert [step["type"] for step in steps] == [
        "script", "script", "waiter", "trigger", "waiter", "script"
    ]  # fmt: skip
    assert steps[3]["trigger_project_slug"] == "deploy"


# Canceling.


def test_cancel_is_canceling_until_the_next_state_step(
    client: httpx.Client, emulator: Emulator
) -> None:
    number = _create(client, "red")
    emulator.advance(STEP)
    canceled = client.put(f"{ORG}/pipelines/red/builds/{number}/cancel")
    assert canceled.status_code == 200
    build = canceled.json()
    assert (build["state"], build["finished_at"]) == ("canceling", None)
    # The running job is canceling; jobs not started (behind the wait too) are canceled.
    assert [state for _, _, state in _states(build)] == ["canceling", "canceled", "canceled"]
    assert build["jobs"][0]["exit_status"] is None
    listed = client.get(f"{ORG}/pipelines/red/builds", params={"state": "canceling"}).json()
    assert [b["number"] for b in listed] == [number]
    retry = client.put(f"{ORG}/pipelines/red/builds/{number}/jobs/{build['jobs'][0]['id']}/retry")
    assert (retry.status_code, retry.json()["message"]) == (
        422,
        "Jobs from canceled builds cannot be retried",
    )

    emulator.advance(STEP)
    build = _get(client, "red", number)
    assert build["state"] == "canceled"
    assert build["finished_at"] is not None
    job = build["jobs"][0]
    assert (job["state"], job["exit_status"], job["signal"], job["signal_reason"]) == (
        "canceled",
        -1,
        "SIGTERM",
        "cancel",
    )
    assert build["job_state_counts"] == {"total": 3, "states": {"canceled": 3}}


def test_a_scheduled_build_is_canceled_at_once(client: httpx.Client) -> None:
    number = _create(client, "red")
    build = client.put(f"{ORG}/pipelines/red/builds/{number}/cancel").json()
    assert build["state"] == "canceled"
    assert {job["state"] for job in build["jobs"]} == {"canceled"}


def test_canceling_a_build_at_a_trigger_step_leaves_the_triggered_build(
    client: httpx.Client, emulator: Emulator
) -> None:
    number = _create(client, "hotfix")
    emulator.advance(STEP)
    build = client.put(f"{ORG}/pipelines/hotfix/builds/{number}/cancel").json()
    assert build["state"] == "canceled"  # a trigger job runs on no agent: nothing to stop
    child = build["jobs"][0]["triggered_build"]["number"]
    emulator.settle()
    assert _get(client, "broken", child)["state"] == "failed"
    assert _get(client, "hotfix", number)["jobs"][0]["state"] == "canceled"


def test_cancel_then_wait_for_build_through_the_cli(kosmo: Any, tmp_path: Path) -> None:
    """``cancel_build`` answers ``canceling``; ``wait_for_build`` waits through it (its
    progress on stderr shows both states)."""
    data = copy.deepcopy(WORLD)
    long = [{"key": f"step-{i}", "command": f"make {i}"} for i in range(30)]
    data["organizations"][0]["pipelines"].append(
        _pipeline("Long", long, builds=[{"state": "running", "number": 1}])
    )
    path = tmp_path / "world.json"
    path.write_text(json.dumps(data))
    code = """
        local bk = app.integrations.buildkite
        local canceled = bk.cancel_build("org", "long", 1)
        local done = bk.wait_for_build{organization = "org", pipeline = "long", number = 1,
          interval = 1, timeout = 60}
        return {canceled = canceled.state, running = canceled.jobs[1].state,
          done = done.state, signal = done.jobs[1].signal_reason}
    """
    args = ["--emulate", "--emulate-data", str(path), "--json", "--force", "--eval", code]
    done = kosmo("integrations:lua", *args)
    envelope = done.json()
    assert envelope["success"], envelope["error"]
    assert envelope["result"][0] == {
        "canceled": "canceling",
        "running": "canceling",
        "done": "canceled",
        "signal": "cancel",
    }
    assert "kosmo: long #1 is canceling (0 s)\n" in done.stderr
    assert "kosmo: long #1 is canceled (" in done.stderr
    waited = next(c for c in envelope["integration_calls"] if c["path"].endswith("wait_for_build"))
    assert waited["requests"] >= 2


# What the data file and the API refuse.


def _with_steps(slug_steps: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    return {
        "organizations": [
            {
                "slug": "org",
                "pipelines": [_pipeline(name, steps) for name, steps in slug_steps.items()],
            }
        ]
    }


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            _with_steps({"A": [{"trigger": "nowhere"}]}),
            "organizations[0].pipelines[0]: a trigger step names 'nowhere', which is no"
            " pipeline of 'org'; create that pipeline first or fix the slug",
        ),
        (
            _with_steps(
                {"A": [{"trigger": "b"}], "B": [{"trigger": "c"}], "C": [{"trigger": "a"}]}
            ),
            "organizations[0].pipelines[0]: trigger steps form a cycle (a -> b -> c -> a), so"
            " each build would trigger another forever; remove one of those trigger steps",
        ),
        (
            _with_steps({"A": [{"command": "x"}], "B": [{"trigger": "b"}]}),
            "organizations[0].pipelines[1]: trigger steps form a cycle (b -> b)",
        ),
        (
            # 5 x 5 x 5 trigger steps: one build of "a" would make 155 builds.
            _with_steps(
                {
                    "A": [{"trigger": "b"}] * 5,
                    "B": [{"trigger": "c"}] * 5,
                    "C": [{"trigger": "d"}] * 5,
                    "D": [{"command": "x"}],
                }
            ),
            "organizations[0].pipelines[0]: one build of 'a' would trigger more than 100 builds"
            " through trigger steps; trigger fewer pipelines, or each fewer times",
        ),
        (
            _with_steps({"A": [{"group": "G", "steps": [{"group": "H", "steps": []}]}]}),
            'organizations[0].pipelines[0].steps[0].steps[0]: missing "command" (or "block",'
            ' "wait" or "trigger"; a group holds no groups)',
        ),
        (
            _with_steps({"A": [{"group": "G", "steps": []}]}),
            'organizations[0].pipelines[0].steps[0]: "steps" must not be empty',
        ),
        (
            _with_steps({"A": [{"wait": "", "command": "x"}]}),
            'organizations[0].pipelines[0].steps[0]: unknown key "wait"',
        ),
        (
            _with_steps({"A": [{"wait": None}]}),
            'organizations[0].pipelines[0].steps[0]: "wait" must be a string; got null',
        ),
        (
            _with_steps({"A": [{"trigger": ""}]}),
            'organizations[0].pipelines[0].steps[0]: "trigger" must be a non-empty string',
        ),
    ],
)
def test_hostile_steps_are_refused_when_the_data_loads(data: dict[str, Any], message: str) -> None:
    with pytest.raises(DataError) as refused:
        Emulator(data, clock=FakeClock())
    assert message in str(refused.value)


def test_a_wait_steps_job_cannot_be_listed_as_failed() -> None:
    data = _with_steps({"A": [{"command": "x", "key": "x"}, {"wait": "", "key": "w"}]})
    pipeline = data["organizations"][0]["pipelines"][0]
    pipeline["builds"] = [
        {"state": "failed", "jobs": [{"step": "x"}, {"step": "w", "state": "failed"}]}
    ]
    with pytest.raises(DataError, match=r"builds\[0\]\.jobs\[1\]: a wait step's job is never"):
        Emulator(data, clock=FakeClock())


def test_jobs_listed_after_a_stopping_wait_are_refused() -> None:
    data = _with_steps({"A": [{"command": "x", "key": "x"}, {"wait": "", "key": "w"}]})
    pipeline = data["organizations"][0]["pipelines"][0]
    pipeline["builds"] = [
        {
            "state": "failed",
            "jobs": [{"step": "x", "state": "failed"}, {"step": "w"}, {"step": "x"}],
        }
    ]
    with pytest.raises(DataError, match=r"builds\[0\]\.jobs\[2\]: a failure before it stops"):
        Emulator(data, clock=FakeClock())


def test_the_api_refuses_unknown_and_cyclic_triggers(client: httpx.Client) -> None:
    def create(steps: list[dict[str, Any]], name: str = "Loop") -> httpx.Response:
        body = {"name": name, "repository": "git@example.com:org/loop.git", "steps": steps}
        return client.post(f"{ORG}/pipelines", json=body)

    unknown = create([{"type": "trigger", "trigger_project_slug": "nowhere"}])
    assert unknown.status_code == 422
    assert "names 'nowhere', which is no pipeline of 'org'" in unknown.json()["errors"][0]["code"]
    itself = create([{"type": "trigger", "trigger_project_slug": "loop"}])
    assert "trigger steps form a cycle (loop -> loop)" in itself.json()["errors"][0]["code"]
    # Deploy gets a trigger back to App, which triggers Deploy: refused, Deploy unchanged.
    changed = client.patch(f"{ORG}/pipelines/deploy", json={"steps": [{"trigger": "app"}]})
    assert changed.status_code == 422
    assert "cycle (deploy -> app -> deploy)" in changed.json()["errors"][0]["code"]
    assert client.get(f"{ORG}/pipelines/deploy").json()["steps"][0]["type"] == "script"
    assert create([{"type": "trigger", "trigger_project_slug": "deploy"}]).status_code == 201
    assert create([42], name="Odd").status_code == 422


def test_pipeline_yaml_with_wait_and_trigger_steps(
    client: httpx.Client, emulator: Emulator
) -> None:
    configuration = (
        "steps:\n  - command: make\n    key: make\n  - wait\n  - trigger: deploy\n"
        "    label: Ship\n    async: true\n"
    )
    body = {
        "name": "Yaml",
        "repository": "git@example.com:org/y.git",
        "configuration": configuration,
    }
    assert client.post(f"{ORG}/pipelines", json=body).status_code == 201
    number = _create(client, "yaml")
    emulator.advance(2 * STEP)
    build = _get(client, "yaml", number)
    assert _states(build) == [
        ("script", "make", "passed"),
        ("waiter", "wait-1", "passed"),
        ("trigger", "ship", "passed"),
    ]
    assert build["jobs"][2]["async"] is True


def test_the_docs_quote_the_trigger_bound() -> None:
    docs = (Path(__file__).parent.parent / "docs" / "emulator.md").read_text(encoding="utf-8")
    assert f"more than {MAX_TRIGGERED_BUILDS} builds through them" in docs
    assert f"one build trigger more\n  than {MAX_TRIGGERED_BUILDS}" in docs
