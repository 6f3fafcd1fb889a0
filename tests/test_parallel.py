"""app.parallel and app.map: branches whose calls are in flight together, with every rule of
a sequential script holding inside them (order, errors, limits, permissions, records)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from helpers import envelope_of, kosmo_path
from loopback import LoopbackServer, reply, servers

from kosmo_lua.emulation import serve
from kosmo_lua.integrations.buildkite.emulator import Emulator
from kosmo_lua.result import ExecutionResult

Lua = Callable[..., ExecutionResult]
TOKEN = "bkua_parallel_SECRET_token_0123456789"
BK = "local bk = app.integrations.buildkite\n"


# The scheduler, without any network -----------------------------------------------------


def test_results_come_in_input_order_whatever_finishes_first(lua: Lua) -> None:
    result = lua(
        """
        local r = app.map({0.2, 0.05, 0.1}, function(seconds, i)
          sleep(seconds)
          print("done " .. i)
          return i * 10
        end)
        return r
        """
    )
    assert result.success, result.error
    assert result.output == ["done 2", "done 3", "done 1"]  # the branches interleaved
    assert result.result == [[10, 20, 30]]


def test_parallel_returns_each_functions_first_value(lua: Lua) -> None:
    result = lua(
        """
        return app.parallel({
          function() return "a", "ignored" end,
          function() sleep(0.01) return "b" end,
        })
        """
    )
    assert result.result == [["a", "b"]]


def test_empty_input_gives_an_empty_array(lua: Lua) -> None:
    result = lua("return json.encode(app.map({}, print)), json.encode(app.parallel({}))")
    assert result.result == ["[]", "[]"]


def test_a_failure_is_raised_with_its_position_and_stops_what_waits(lua: Lua) -> None:
    result = lua(
        """
        local ok, err = pcall(app.map, {1, 2, 3}, function(x)
          if x == 3 then error("three failed") end
          sleep(0.05)
          print("after the sleep " .. x)  -- never: the failure cancels the sleepers
          return x
        end)
        return ok, err
        """
    )
    assert result.result == [False, "test:3: three failed"]
    assert result.output == []


def test_collect_returns_one_outcome_per_item(lua: Lua) -> None:
    result = lua(
        """
        return app.map({1, 2, 3}, function(x)
          if x == 2 then error({code = 7}) end
          return x
        end, {errors = "collect"})
        """
    )
    assert result.result == [
        [
            {"ok": True, "value": 1},
            {"ok": False, "error": {"code": 7}},
            {"ok": True, "value": 3},
        ]
    ]


def test_a_c_function_error_in_a_branch_names_the_scripts_line(lua: Lua) -> None:
    result = lua("app.parallel({function()\n  for _ in ipairs(nil) do end\nend})")
    assert result.error.startswith("test:2: ")


def test_a_tail_called_failure_names_the_line_of_the_map(lua: Lua) -> None:
    """`return f(x)` leaves no frame of the branch's function: the error names app.map's line."""
    result = lua(
        """local texts = {"{"}
        local ok, err = pcall(app.map, texts, function(text)
          return json.decode(text)
        end)
        return err"""
    )
    assert result.result[0].startswith("test:2: json.decode: invalid JSON")


def test_branches_may_run_parallel_groups_of_their_own(lua: Lua) -> None:
    result = lua(
        """
        return app.map({1, 2}, function(x)
          return app.map({10, 20}, function(y) sleep(0.01) return x * y end)
        end)
        """
    )
    assert result.result == [[[10, 20], [20, 40]]]


def test_calls_from_a_scripts_own_coroutine_in_a_branch_still_work(lua: Lua) -> None:
    result = lua(
        """
        return app.map({1, 2}, function(x)
          local co = coroutine.wrap(function() sleep(0.01) coroutine.yield(x + 1) end)
          return co()
        end)
        """
    )
    assert result.result == [[2, 3]]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            "app.map({1}, print, {concurrency = 0})",
            "concurrency must be a whole number from 1 to 64",
        ),
        ("app.map({1}, print, {concurrency = 65})", "from 1 to 64, got 65"),
        ("app.map({1}, print, {concurrency = 2.5})", "got 2.5"),
        ("app.map({1}, print, {errors = 'ignore'})", 'errors must be "raise" or "collect"'),
        ("app.map({1}, print, {concurency = 2})", "unknown option concurency"),
        ("app.map({1}, print, 'fast')", "options must be a table"),
        ("app.map(nil, print)", "expected an array of items, got nil"),
        ("app.map({1}, 'print')", "expected a function as argument 2"),
        ("app.parallel({print, 2})", "item 2 is a number, not a function"),
        ("app.parallel(print)", "expected an array of functions, got function"),
    ],
)
def test_bad_arguments_are_refused_before_anything_runs(lua: Lua, call: str, message: str) -> None:
    result = lua(f"local ran = false\n{call}")
    assert not result.success
    assert result.error.startswith("test:2: ")
    assert message in result.error


def test_a_branch_cannot_be_resumed_or_closed_by_the_script(lua: Lua) -> None:
    result = lua(
        """
        local branch
        local ok, err = pcall(app.parallel, {
          function() branch = coroutine.running() sleep(0.05) return "real" end,
          function() return coroutine.resume(branch, "fake") end,
        })
        local ok2, err2 = pcall(coroutine.close, branch)
        return ok, err, ok2, err2
        """
    )
    ok, err, ok2, err2 = result.result
    assert not ok and "is an app.parallel branch; only the scheduler runs it" in err
    assert not ok2 and "coroutine.close" in err2


def test_a_branch_that_yields_gets_a_clear_error(lua: Lua) -> None:
    result = lua("return pcall(app.parallel, {function() coroutine.yield(1) end})")
    assert result.result[0] is False
    assert "an app.parallel branch cannot yield" in result.result[1]


# Limits hold inside branches -------------------------------------------------------------


def test_a_runaway_branch_stops_the_run(lua: Lua) -> None:
    result = lua(
        "app.parallel({function() sleep(0.01) end, function() while true do end end})",
        cpu_seconds=0.5,
    )
    assert result.meta["limit"] == "cpu"
    assert "CPU limit exceeded" in result.error


def test_pcall_in_the_script_does_not_swallow_a_limit_tripped_in_a_branch(lua: Lua) -> None:
    result = lua(
        "pcall(app.parallel, {function() local t = {} while true do t[#t + 1] = ('x'):rep(64)"
        " end end}) return 'survived'",
        memory_bytes=4 * 1024 * 1024,
    )
    assert result.meta["limit"] == "memory"


def test_sleeping_branches_wake_at_the_timeout(lua: Lua) -> None:
    started = time.monotonic()
    result = lua(
        "app.parallel({function() sleep(30) end, function() sleep(30) end})", timeout_seconds=0.5
    )
    assert result.meta["limit"] == "timeout"
    assert time.monotonic() - started < 10  # not the 30 s the branches asked for


def test_output_of_branches_keeps_whole_lines(lua: Lua) -> None:
    result = lua(
        "app.map({1, 2, 3}, function(i) for n = 1, 20 do print(('branch %d line %d'):format(i, n))"
        " if n % 5 == 0 then sleep(0) end end end)"
    )
    assert len(result.output) == 60
    assert all(line.startswith("branch ") for line in result.output)


# Real calls against a served emulator ----------------------------------------------------


@pytest.fixture
def emulator() -> Emulator:
    return Emulator(token=TOKEN)


@pytest.fixture
def configured(emulator: Emulator) -> Iterator[Callable[..., dict[str, Any]]]:
    """``run(code, *options)``: the envelope of a script run in process against the served
    emulator; the token appears in no envelope."""
    with serve(emulator) as running:
        code, _ = envelope_of(
            "integrations:configure",
            "buildkite",
            "--set",
            f"url={running.base_url}",
            "--set",
            f"access_token={TOKEN}",
            "--json",
        )
        assert code == 0

        def run(code: str, *options: str) -> dict[str, Any]:
            _, envelope = envelope_of("integrations:lua", "-e", code, "--json", *options)
            assert TOKEN not in json.dumps(envelope)
            return envelope

        yield run


def _overlapping(calls: list[dict[str, Any]]) -> int:
    """The most calls whose [startMs, endMs] intervals overlap at one moment."""
    events = sorted([(c["startMs"], 1) for c in calls] + [(c["endMs"], -1) for c in calls])
    most = now = 0
    for _, change in events:
        now += change
        most = max(most, now)
    return most


def test_calls_of_branches_are_in_flight_together_within_the_bound(configured, emulator) -> None:
    emulator.faults.add(
        "/organizations/acme-inc/pipelines/*/builds/*", "latency", count=12, seconds=0.15
    )
    envelope = configured(
        BK + "return app.map({35, 36, 37, 38, 39, 40}, function(n)\n"
        '  return bk.get_build{organization = "acme-inc", pipeline = "deploy", number = n}.number\n'
        "end, {concurrency = 3})"
    )
    assert envelope["result"] == [[35, 36, 37, 38, 39, 40]]
    calls = envelope["integration_calls"]
    assert len(calls) == 6 and all(c["status"] == "ok" for c in calls)
    assert 1 < _overlapping(calls) <= 3


def test_concurrency_option_of_the_command_is_the_default(configured, emulator) -> None:
    emulator.faults.add(
        "/organizations/acme-inc/pipelines/*/builds/*", "latency", count=12, seconds=0.15
    )
    envelope = configured(
        BK + "return app.map({35, 36, 37, 38}, function(n)\n"
        '  return bk.get_build{organization = "acme-inc", pipeline = "deploy", number = n}.number\n'
        "end)",
        "--concurrency",
        "1",
    )
    assert envelope["result"] == [[35, 36, 37, 38]]
    assert _overlapping(envelope["integration_calls"]) == 1


def test_a_failed_write_leaves_no_lost_or_repeated_writes(configured, emulator) -> None:
    """web is slow and in flight when missing fails: web finishes and is recorded; api and
    deploy wait for a slot and are never sent."""
    emulator.faults.add(
        "/organizations/acme-inc/pipelines/web/builds", "latency", seconds=0.3, method="POST"
    )
    envelope = configured(
        BK + 'local ok, err = pcall(app.map, {"web", "missing", "api", "deploy"}, function(p)\n'
        '  return bk.create_build{organization = "acme-inc", pipeline = p, branch = "main"}\n'
        "end, {concurrency = 2})\n"
        "return ok, err.status",
        "--force",
    )
    assert envelope["result"] == [False, 404]
    posts = [r.path for r in emulator.requests if r.method == "POST"]
    assert sorted(posts) == [
        "/v2/organizations/acme-inc/pipelines/missing/builds",
        "/v2/organizations/acme-inc/pipelines/web/builds",
    ]
    calls = envelope["integration_calls"]
    assert sorted((c["status"], c["requests"]) for c in calls) == [("error", 1), ("ok", 1)]


def test_collecting_attempts_every_write_once(configured, emulator) -> None:
    envelope = configured(
        BK + 'local r = app.map({"web", "missing", "api"}, function(p)\n'
        '  return bk.create_build{organization = "acme-inc", pipeline = p, branch = "x"}.number\n'
        'end, {errors = "collect"})\n'
        "return r[1].ok, r[2].ok, r[2].error.status, r[3].ok",
        "--force",
    )
    assert envelope["result"] == [True, False, 404, True]
    assert len([r for r in emulator.requests if r.method == "POST"]) == 3


def test_permission_is_checked_per_call_before_sending(configured, emulator) -> None:
    envelope = configured(
        BK + 'return app.map({"web", "api"}, function(p)\n'
        '  return bk.create_build{organization = "acme-inc", pipeline = p, branch = "main"}\n'
        'end, {errors = "collect"})'
    )
    outcomes = envelope["result"][0]
    assert [o["ok"] for o in outcomes] == [False, False]
    assert all("requires approval" in o["error"] for o in outcomes)
    assert not [r for r in emulator.requests if r.method == "POST"]


def test_parallel_pages_equal_sequential_pages(configured, emulator) -> None:
    code = (
        BK
        + "local builds, meta = bk.list_builds{per_page = 7, all_pages = true, with_meta = true}\n"
        "local numbers = {} for i, b in ipairs(builds) do numbers[i] = b.number end\n"
        "return numbers, meta.pages"
    )
    sequential = configured(code, "--concurrency", "1")
    emulator.requests.clear()
    parallel = configured(code, "--concurrency", "4")
    assert parallel["result"] == sequential["result"]
    assert parallel["result"][1] > 2
    pages = [r.query_string for r in emulator.requests if r.path == "/v2/builds"]
    assert len(pages) == parallel["result"][1] and len(set(pages)) == len(pages)


# The shared rate limiter -------------------------------------------------------------------


def test_a_429_in_one_branch_pauses_the_others(kosmo_home) -> None:
    arrivals: list[tuple[float, str]] = []

    def answer(connection: Any, request: bytes) -> None:
        path = request.split(b" ")[1].decode()
        arrivals.append((time.monotonic(), path))
        if path == "/v2/user" and sum(p == path for _, p in arrivals) == 1:
            body, status, headers = (
                b'{"message": "slow down"}',
                "429 Too Many Requests",
                {"RateLimit_Reset": "1"},
            )
        else:
            body, status, headers = b'{"name": "x", "slug": "acme"}', "200 OK", {}
        connection.sendall(
            reply(status, body, Content_Type="application/json", Connection="close", **headers)
        )

    with servers() as start:
        server: LoopbackServer = start(answer)
        envelope_of(
            "integrations:configure",
            "buildkite",
            "--set",
            f"url={server.url}/v2",
            "--set",
            f"access_token={TOKEN}",
            "--json",
        )
        _, envelope = envelope_of(
            "integrations:lua",
            "--json",
            "-e",
            BK + "return app.parallel({\n"
            "  function() return bk.get_current_user().name end,\n"
            '  function() sleep(0.3) return bk.get_organization("acme").slug end,\n'
            "})",
        )
    assert envelope["result"] == [["x", "acme"]], envelope["error"]
    throttled = arrivals[0][0]
    other = next(t for t, p in arrivals if p == "/v2/organizations/acme")
    assert other - throttled >= 0.95  # it waited out the other branch's 429 (1 s)


# Ctrl-C ----------------------------------------------------------------------------------------


def test_ctrl_c_during_a_parallel_run_ends_it_with_one_envelope(kosmo_home) -> None:
    proc = subprocess.Popen(
        [
            kosmo_path(),
            "integrations:lua",
            "--json",
            "-e",
            "print('started') app.map({1, 2, 3}, function() sleep(60) end)",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "KOSMO_HOME": str(kosmo_home)},
    )
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    stdout, _ = proc.communicate(timeout=20)
    assert proc.returncode == 130
    envelope = json.loads(stdout)
    assert envelope["error"] == "Interrupted (Ctrl-C)"
    assert envelope["output"] == "started"


def test_the_most_calls_in_flight_fit_the_default_memory_limit(configured, emulator) -> None:
    """64 calls at once start 64 threads: their stacks and watchdogs fit the worker's data
    limit at the default --memory-limit. Run by the installed command: a worker forked from
    this test process would carry the whole test session's memory into that limit."""
    emulator.faults.add(
        "/organizations/acme-inc/pipelines/*/builds/*", "latency", count=64, seconds=0.2
    )
    code = (
        BK + "local numbers = {} for i = 1, 64 do numbers[i] = 35 + i % 8 end\n"
        "local builds = app.map(numbers, function(n)\n"
        '  return bk.get_build{organization = "acme-inc", pipeline = "deploy", number = n}.number\n'
        "end, {concurrency = 64})\n"
        "return #builds"
    )
    done = subprocess.run(
        [kosmo_path(), "integrations:lua", "--json", "-e", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ},
    )
    envelope = json.loads(done.stdout)
    assert envelope["result"] == [64], envelope["error"]
    assert _overlapping(envelope["integration_calls"]) > 8
