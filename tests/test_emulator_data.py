"""Emulator data files: the documented example loads; every flaw is refused in one located line."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO

from kosmo_lua.integrations.buildkite.emulator import DataError, Emulator, demo_data

SMALL: dict[str, Any] = {
    "users": [{"email": "ada@example.com"}],
    "organizations": [
        {
            "slug": "acme",
            "pipelines": [
                {
                    "name": "Web",
                    "repository": "git@example.com:acme/web.git",
                    "steps": [{"key": "lint", "command": "lint"}, {"key": "test", "command": "t"}],
                    "builds": [
                        {},
                        {"state": "failed", "jobs": [{"step": "test", "state": "failed"}]},
                    ],
                }
            ],
        }
    ],
}


def _docs_example() -> dict[str, Any]:
    text = (REPO / "docs" / "emulator.md").read_text(encoding="utf-8")
    section = text[text.index("## Data files") :]
    return json.loads(re.search(r"```json\n(.*?)```", section, re.DOTALL)[1])


def test_the_documented_example_loads() -> None:
    world = Emulator(_docs_example()).world
    assert [user.email for user in world.users] == ["ada@example.com", "grace@example.com"]
    states = [(b.pipeline.slug, b.number, b.state) for b in world.builds]
    assert states == [
        ("web", 1, "passed"),
        ("web", 2, "failed"),
        ("web", 3, "running"),
        ("legacy-monolith", 1, "canceled"),
    ]
    assert [job.retried for job in world.builds[0].jobs] == [False, True, False]


def test_the_demo_data_and_the_base_of_the_flaws_below_keep_to_the_format() -> None:
    Emulator(demo_data())
    Emulator(copy.deepcopy(SMALL))


def _walk(data: Any, path: str) -> tuple[Any, Any]:
    """The container that a dotted path (list indexes as numbers) ends in, and its last key."""
    *parents, last = [int(part) if part.isdigit() else part for part in path.split(".")]
    for part in parents:
        data = data[part]
    return data, last


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        container, last = _walk(data, path)
        container[last] = value

    return change


def _drop(path: str) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        container, last = _walk(data, path)
        del container[last]

    return change


PIPELINE = "organizations.0.pipelines.0"  # where a change goes in SMALL ...
BUILD = f"{PIPELINE}.builds.1"
WEB = "organizations[0].pipelines[0]"  # ... and how messages name it
LINT = {"name": "Lint", "repository": "git@example.com:acme/lint.git", "configuration": "x"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        # Unknown keys, at the top and inside records.
        (
            _set("pipelnes", []),
            'top level: unknown key "pipelnes"; allowed: now, users, organizations, faults',
        ),
        (
            _set("organizations.0.pipelnes", []),
            'organizations[0]: unknown key "pipelnes"; allowed: slug, name, id, created_at, '
            "pipelines, clusters, agents, suites",
        ),
        (
            _set(f"{BUILD}.jobs", [{"step": "lint", "duration": 3}]),
            f'{WEB}.builds[1].jobs[0]: unknown key "duration"; allowed: step, id, state, retried, '
            "exit_status, env, log",
        ),
        # Missing required fields.
        (_drop("organizations.0.slug"), 'organizations[0]: missing "slug"'),
        (_drop("users.0.email"), 'users[0]: missing "email"'),
        (_drop(f"{PIPELINE}.steps"), f'{WEB}: missing "steps" (or "configuration", the steps'),
        (
            _set(f"{BUILD}.jobs", [{"state": "failed"}]),
            f'{WEB}.builds[1].jobs[0]: missing "step" (a step key) or "command" (an inline step)',
        ),
        # Wrong types.
        (_set("users", "ada"), 'top level: "users" must be a list; got "ada"'),
        (_set("organizations", {}), 'top level: "organizations" must be a list; got an object'),
        (_set("organizations.0.pipelines.0", "web"), f'{WEB}: must be an object; got "web"'),
        (_set(f"{PIPELINE}.steps", []), f'{WEB}: "steps" must not be empty'),
        (_set(f"{PIPELINE}.env", {"CI": 1}), f'{WEB}: "env" must be an object of strings; got an'),
        (_set(f"{BUILD}.number", True), f'{WEB}.builds[1]: "number" must be a positive integer'),
        (_set("users.0.name", None), 'users[0]: "name" must be a string; got null'),
        (_set("now", "yesterday"), 'top level: "now" must be an ISO 8601 time such as'),
        (
            _set("faults", [{"path": "/user", "kind": "error", "status": 999}]),
            'faults[0]: "status" must be an HTTP status code such as 503; got 999',
        ),
        # Values outside their set.
        (
            _set(f"{BUILD}.state", "bogus"),
            f'{WEB}.builds[1]: "state" must be one of passed, failed, canceled, scheduled, '
            'running; got "bogus"',
        ),
        (_set("faults", [{"path": "/", "kind": "boom"}]), 'faults[0]: "kind" must be one of'),
        # References and consistency, checked while the world is built.
        (
            _set(f"{BUILD}.jobs", [{"step": "tset"}]),
            f'{WEB}.builds[1].jobs[0]: "step" must be one of lint, test; got "tset"',
        ),
        (
            _set(f"{BUILD}.creator", "bob@example.com"),
            f'{WEB}.builds[1]: "creator" must be the id or email of a user; got "bob@example.com"',
        ),
        (
            _set(f"{BUILD}.jobs", [{"step": "test", "state": "failed", "retried": True}]),
            f'{WEB}.builds[1].jobs[0]: "retried" needs a later job of its "step"',
        ),
        (
            _set(f"{BUILD}.jobs", [{"step": "lint"}, {"step": "test"}]),
            f'{WEB}.builds[1]: "state" is "failed", but its jobs make it "passed"',
        ),
        (_set(f"{BUILD}.state", "running"), f'{WEB}.builds[1]: "jobs" are for finished builds'),
        (_set(f"{BUILD}.number", 1), f'{WEB}.builds[1]: "number" 1 is taken by an earlier build'),
        (
            _set("organizations.0.pipelines", [LINT, LINT]),
            'organizations[0].pipelines[1]: "name" has already been taken',
        ),
        (
            _set("organizations", [{"slug": "acme"}, {"slug": "acme"}]),
            'organizations[1]: "slug" "acme" is taken by an earlier organization',
        ),
        # Block steps, artifacts, annotations, agents, clusters and suites.
        (
            _set(f"{PIPELINE}.steps", [{"block": "Go?", "command": "x"}]),
            f'{WEB}.steps[0]: unknown key "block"',
        ),
        (
            _set(f"{PIPELINE}.steps", [{"key": "lint"}]),
            f'{WEB}.steps[0]: missing "command" (or "block", "wait", "trigger" or "group":'
            " the kind of step)",
        ),
        (
            _set(f"{PIPELINE}.steps.0.artifacts", [{"content": "x"}]),
            f'{WEB}.steps[0].artifacts[0]: missing "path"',
        ),
        (
            _set(f"{PIPELINE}.steps.0.artifacts", [{"path": "a.bin", "content_base64": "%%"}]),
            f'{WEB}.steps[0].artifacts[0]: "content_base64" must be base64 text; got "%%"',
        ),
        (
            _set(f"{BUILD}.annotations", [{"body": "x", "style": "loud"}]),
            f'{WEB}.builds[1].annotations[0]: "style" must be one of success, info, warning,'
            ' error; got "loud"',
        ),
        (
            _set(f"{BUILD}.annotations", [{"body": "x", "priority": 11}]),
            f'{WEB}.builds[1].annotations[0]: "priority" must be an integer from 1 to 10',
        ),
        (
            _set(f"{BUILD}.annotations", [{"body": "x", "step": "lint"}]),
            f'{WEB}.builds[1].annotations[0]: "step" names no job of the build; got "lint"',
        ),
        (
            _set("organizations.0.agents", [{"name": "a", "connection_state": "asleep"}]),
            'organizations[0].agents[0]: "connection_state" must be one of never_connected,',
        ),
        (
            _set("organizations.0.agents", [{"name": "a"}, {"name": "a"}]),
            'organizations[0].agents[1]: "name" "a" is taken by an earlier agent',
        ),
        (
            _set(
                "organizations.0.agents",
                [{"name": "a", "connection_state": "lost", "paused": True}],
            ),
            'organizations[0].agents[0]: "paused" is for connected agents; this one is lost',
        ),
        (
            _set("organizations.0.clusters", [{"name": "Default", "queues": []}]),
            'organizations[0].clusters[0]: "queues" must not be empty',
        ),
        (
            _set(
                "organizations.0.suites", [{"name": "S", "runs": [{"pipeline": "web", "build": 9}]}]
            ),
            'organizations[0].suites[0].runs[0]: no build 9 of pipeline "web"',
        ),
    ],
)
def test_a_flaw_is_refused_where_it_is(change: Callable[[dict], None], message: str) -> None:
    data = copy.deepcopy(SMALL)
    change(data)
    with pytest.raises(DataError) as error:
        Emulator(data)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_not_an_object_at_all() -> None:
    with pytest.raises(DataError, match=r"^top level: must be an object; got a list$"):
        Emulator([])  # type: ignore[arg-type]


def test_a_bad_file_for_integrations_lua(kosmo, tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"organizations": [{"slug": "acme", "pipelnes": []}]}))
    done = kosmo("integrations:lua", "--emulate", "--emulate-data", str(path), "-e", "return 1")
    assert done.returncode == 2
    assert done.stderr == (
        f"Error: Cannot load emulator data from {path}: organizations[0]: unknown key"
        ' "pipelnes"; allowed: slug, name, id, created_at, pipelines, clusters, agents,'
        " suites\n"
    )


def test_a_job_id_from_the_data_is_kept_and_unique():
    """The original page's job b63254c0-… is build 42's deploy job in the demo; two jobs
    with one id are refused."""
    data = demo_data()
    deploy = data["organizations"][0]["pipelines"][2]
    assert deploy["builds"][-1]["jobs"][1]["id"] == "b63254c0-3271-4a98-8270-7cfbd6c2f14e"
    deploy["builds"][0]["jobs"] = [
        {"step": "plan", "id": "b63254c0-3271-4a98-8270-7cfbd6c2f14e"},
        {"step": "deploy"},
        {"step": "smoke"},
    ]
    with pytest.raises(DataError, match="is used by another job"):
        Emulator(data=data)


def test_a_data_files_rate_limit_sets_the_emulators_budget(tmp_path):
    import json as _json

    from kosmo_lua.integrations.buildkite.emulator import Emulator

    path = tmp_path / "world.json"
    path.write_text(_json.dumps({"rate_limit": 5000}))
    emulator = Emulator.from_file(path)
    assert emulator._limiter.limit == 5000
    assert Emulator(rate_limit=7)._limiter.limit == 7
    assert Emulator()._limiter.limit == 200
