"""wait_for_build and get_build_failures: respx at the HTTP seam, then a script against the
emulator."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx

from kosmo_lua.catalog import Catalog
from kosmo_lua.config import Config
from kosmo_lua.errors import ArgumentError, WaitTimedOut
from kosmo_lua.integrations import load
from kosmo_lua.invoker import Invoker

BASE = "https://api.buildkite.com/v2"
BUILD = f"{BASE}/organizations/acme-inc/pipelines/web/builds/7"
WHERE = {"organization": "acme-inc", "pipeline": "web", "number": 7}


def _invoke(kosmo_home: Any, name: str, **args: Any) -> Any:
    invoker = Invoker(
        Catalog(load()),
        Config.load(kosmo_home),
        report=lambda kind, value: None,
        environ={"BUILDKITE_API_TOKEN": "bkua_unit"},
    )
    return invoker.invoke(f"app.integrations.buildkite.{name}", [{**WHERE, **args}])[0]


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as mock:
        yield mock


def test_wait_for_build_gives_up_with_the_last_state(kosmo_home, api, capfd) -> None:
    polls = api.get(BUILD).respond(200, json={"number": 7, "state": "running"})
    with pytest.raises(WaitTimedOut) as raised:
        _invoke(kosmo_home, "wait_for_build", timeout=1, interval=1)
    assert raised.value.state == "running"
    assert raised.value.fields()["kind"] == "timeout"
    assert "did not finish within 1 s; it is running" in str(raised.value)
    assert polls.call_count == 2  # at the start, and once the interval (the time left) passed
    assert capfd.readouterr().err.count("web #7 is running") == 1  # one line per change


def test_wait_for_build_returns_the_finished_build(kosmo_home, api) -> None:
    api.get(BUILD).mock(
        side_effect=[
            httpx.Response(200, json={"number": 7, "state": "running"}),
            httpx.Response(200, json={"number": 7, "state": "blocked", "jobs": []}),
        ]
    )
    build = _invoke(kosmo_home, "wait_for_build", interval=1)
    assert build["state"] == "blocked"  # waits for a person: as finished as it gets alone


def _job(id: str, state: str, **extra: Any) -> dict[str, Any]:
    return {"id": id, "type": "script", "name": id, "state": state, "exit_status": 1, **extra}


def test_build_failures_gathers_failed_jobs_logs_and_annotations(kosmo_home, api) -> None:
    jobs = [
        _job("hard", "failed"),
        _job("soft", "failed", soft_failed=True),
        _job("old", "failed", retried=True),
        _job("ok", "passed", exit_status=0),
        {"id": "wait", "type": "waiter", "state": "failed"},
    ]
    api.get(BUILD).respond(
        200, json={"number": 7, "state": "failed", "branch": "main", "jobs": jobs}
    )
    logs = {
        "hard": b"\x1b_bk;t=1\x07setup\nerror: it broke\n\x1b[31mmore\x1b[0m\nlast\n",
        "soft": b"all fine\n",
    }

    def log(request: httpx.Request) -> httpx.Response:
        job = request.url.path.split("/")[-2]
        return httpx.Response(200, content=logs[job])

    api.get(url__regex=rf"{BUILD}/jobs/\w+/log").mock(side_effect=log)
    api.get(f"{BUILD}/annotations").respond(
        200,
        json=[
            {
                "style": "error",
                "context": "tests",
                "body_html": "<p>3 tests <b>failed</b> &amp; more</p>",
            },
            {"style": "info", "context": "coverage", "body_html": "<p>87%</p>"},
            {"style": "warning", "context": "lint", "body_html": "2 warnings"},
        ],
    )
    found = _invoke(kosmo_home, "get_build_failures", log_lines=2)
    assert found["build"] == {
        "number": 7,
        "state": "failed",
        "branch": "main",
        "commit": None,
        "message": None,
        "web_url": None,
    }
    hard, soft = found["failed_jobs"]
    assert hard["id"] == "hard" and hard["soft_failed"] is False
    assert hard["log_tail"] == "more\nlast"
    assert hard["first_error"] == {"line": 2, "text": "error: it broke"}
    assert soft["soft_failed"] is True and soft["first_error"] is None
    assert found["annotations"] == [
        {"style": "error", "context": "tests", "text": "3 tests failed & more"},
        {"style": "warning", "context": "lint", "text": "2 warnings"},
    ]


def test_build_failures_without_annotations_endpoint(kosmo_home, api) -> None:
    api.get(BUILD).respond(200, json={"number": 7, "state": "passed", "jobs": []})
    api.get(f"{BUILD}/annotations").respond(404, json={"message": "Not Found"})
    found = _invoke(kosmo_home, "get_build_failures")
    assert found["failed_jobs"] == [] and found["annotations"] == []


def test_a_bad_error_pattern_is_refused_before_sending(kosmo_home, api) -> None:
    route = api.get(BUILD).respond(200, json={})
    with pytest.raises(ArgumentError, match="regex: invalid pattern"):
        _invoke(kosmo_home, "get_build_failures", error_pattern="/[/")
    assert not route.called


def test_a_wait_that_times_out_in_a_script_is_data(lua_emulated) -> None:
    result = lua_emulated(
        """
        local bk = app.integrations.buildkite
        local b = bk.create_build{organization = "acme-inc", pipeline = "web", branch = "main"}
        local ok, err = pcall(bk.wait_for_build, {organization = "acme-inc", pipeline = "web",
          number = b.number, timeout = 1, interval = 1})
        return ok, err.kind, err.state
        """
    )
    assert result.result[0] is False and result.result[1] == "timeout"
    assert result.result[2] in ("scheduled", "running")


@pytest.fixture
def lua_emulated() -> Iterator[Any]:
    from kosmo_lua.dispatch import AppDispatcher
    from kosmo_lua.limits import Limits
    from kosmo_lua.runtime.supervisor import Worker

    with Worker(Limits(), AppDispatcher.factory(force=True, emulate=True)) as worker:
        yield lambda code: worker.run(code, "test")


def test_the_runs_timeout_ends_a_wait_for_build() -> None:
    """--timeout bounds the whole run, a wait inside a host call included."""
    import time

    from kosmo_lua.dispatch import AppDispatcher
    from kosmo_lua.limits import Limits
    from kosmo_lua.runtime.supervisor import Worker

    started = time.monotonic()
    limits = Limits(timeout_seconds=1.5)
    with Worker(limits, AppDispatcher.factory(force=True, emulate=True)) as worker:
        result = worker.run(
            """
            local bk = app.integrations.buildkite
            local b = bk.create_build{organization = "acme-inc", pipeline = "web", branch = "main"}
            bk.wait_for_build{organization = "acme-inc", pipeline = "web", number = b.number,
              timeout = 900, interval = 60}
            """,
            "test",
        )
    assert result.meta.get("limit") == "timeout", result.error
    assert time.monotonic() - started < 30  # not the wait's 900 s, nor its 60 s interval


def test_build_failures_reads_hostile_annotations_in_time(kosmo_home, api) -> None:
    # Annotation HTML of "<" never closed made the tag pattern read on to the end from each
    # one (quadratic: ~14 s for 200 KB); a body that is no string had raised TypeError.
    import time

    api.get(BUILD).respond(200, json={"number": 7, "state": "failed", "jobs": []})
    api.get(f"{BUILD}/annotations").respond(
        200,
        json=[
            {"style": "error", "context": "a", "body_html": "<b>x</b>" + "<" * 200_000},
            {"style": "error", "context": "b", "body_html": 42},
        ],
    )
    started = time.process_time()
    found = _invoke(kosmo_home, "get_build_failures")
    assert time.process_time() - started < 2
    first, second = found["annotations"]
    assert first["text"] == "x" + "<" * 200_000
    assert second["text"] == ""


@pytest.mark.parametrize(
    "reply",
    [
        [1, 2],
        {"jobs": "xx"},
        {"jobs": [1, None]},
        {"jobs": [{"state": ["failed"]}]},
        {"jobs": [{"state": "failed"}]},
    ],
)
def test_build_failures_of_a_build_of_another_shape_are_none(kosmo_home, api, reply) -> None:
    # A server's reply the handler did not expect had ended in "internal error in host
    # function: AttributeError" (or TypeError, KeyError 'id').
    api.get(BUILD).respond(200, json=reply)
    api.get(f"{BUILD}/annotations").respond(200, json=[])
    found = _invoke(kosmo_home, "get_build_failures")
    assert found["failed_jobs"] == [] and found["annotations"] == []
