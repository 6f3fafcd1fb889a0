"""Every way a script can run away is stopped with a clear error, in time.

Each case names the limit in its error, leaves a valid result, and stops within about half
a second past the limit (checked loosely: these machines are shared and noisy).
"""

from __future__ import annotations

import time

import lupa.lua54
import pytest

from kosmo_lua.limits import MIB

CPU = 1.0
SLACK = 1.5  # seconds allowed past the limit before a case counts as hung


def timed(lua, code: str, **limits):
    started = time.monotonic()
    result = lua(code, **limits)
    return result, time.monotonic() - started


@pytest.mark.parametrize(
    "code",
    [
        pytest.param("while true do end", id="endless-loop"),
        pytest.param("while true do pcall(function() while true do end end) end", id="in-pcall"),
        pytest.param("while true do pcall(error, 'x') end", id="pcall-swallowing-errors"),
        pytest.param(
            "local co = coroutine.create(function() while true do end end)"
            " while true do coroutine.resume(co) end",
            id="in-coroutine",
        ),
        pytest.param(
            "local f = coroutine.wrap(function() while true do end end) f()", id="in-wrap"
        ),
        pytest.param(
            "while true do xpcall(function() while true do end end, function(e) return e end) end",
            id="in-xpcall-with-handler",
        ),
        pytest.param(
            "local s = string.rep('a', 400) while true do s:find('.-.-.-.-.-b$') end",
            id="pattern-loop",
        ),
    ],
)
def test_cpu_limit_stops_runaway_code(lua, code):
    result, elapsed = timed(lua, code, cpu_seconds=CPU)
    assert not result.success
    assert result.error.startswith("CPU limit exceeded")
    assert result.meta["limit"] == "cpu"
    assert result.result is None
    assert elapsed < CPU + SLACK


def test_one_long_c_call_is_stopped_by_the_supervisor(lua):
    """A pathological pattern runs inside one C call, where no hook fires."""
    code = 'return string.find(string.rep("a", 400), ".-.-.-.-.-b$")'
    result, elapsed = timed(lua, code, cpu_seconds=CPU)
    assert result.error.startswith("CPU limit exceeded")
    assert elapsed < CPU + SLACK


def test_the_worker_restarts_after_a_kill(lua):
    from kosmo_lua.dispatch import AppDispatcher
    from kosmo_lua.limits import Limits
    from kosmo_lua.runtime.supervisor import Worker

    with Worker(Limits(cpu_seconds=0.5), AppDispatcher.factory()) as worker:
        killed = worker.run('string.find(string.rep("a", 400), ".-.-.-.-.-b$")', "x")
        assert killed.meta["limit"] == "cpu"
        assert worker.restarted
        assert worker.run("return 1", "x").result == [1]


@pytest.mark.parametrize(
    "code",
    [
        pytest.param("local t = {} for i = 1, 1e9 do t[i] = i end", id="table-growth"),
        pytest.param("local s = 'x' while true do s = s .. s end", id="string-doubling"),
        pytest.param("return string.rep('x', 1e9)", id="string-rep"),
        pytest.param(
            "while true do pcall(function() local t = {} for i = 1, 1e9 do t[i] = i end end) end",
            id="in-pcall",
        ),
        pytest.param(
            "local co = coroutine.wrap(function() local t = {} for i = 1, 1e9 do t[i] = i end end)"
            " pcall(co)",
            id="in-coroutine",
        ),
    ],
)
def test_memory_limit_stops_bombs(lua, code):
    result, elapsed = timed(lua, code, memory_bytes=16 * 1024 * 1024, cpu_seconds=10)
    assert not result.success
    assert result.error.startswith("Memory limit exceeded"), result.error
    assert result.meta["limit"] == "memory"
    assert elapsed < 10


def test_deep_recursion_is_stopped(lua):
    result = lua("local function f(n) return 1 + f(n + 1) end return f(1)", memory_bytes=256 << 20)
    assert not result.success
    assert result.error.startswith("Recursion limit exceeded")


def test_deep_recursion_under_a_small_memory_limit_reports_memory(lua):
    result = lua("local function f(n) return 1 + f(n + 1) end return f(1)", memory_bytes=4 << 20)
    assert result.error.startswith(("Memory limit exceeded", "Recursion limit exceeded"))


def test_endless_printing_stops_at_the_output_limit(lua):
    code = "while true do print('spam spam spam') end"
    result, elapsed = timed(lua, code, output_bytes=64 * 1024)
    assert result.error.startswith("Output limit exceeded")
    assert result.meta["limit"] == "output"
    assert sum(len(line) + 1 for line in result.output) <= 64 * 1024
    assert result.output[0] == "spam spam spam"  # what was printed before the limit is kept
    assert elapsed < SLACK * 4


def test_output_limit_cannot_be_swallowed_by_pcall(lua):
    result = lua("while true do pcall(print, string.rep('x', 1000)) end", output_bytes=10_000)
    assert result.meta["limit"] == "output"


def test_wall_clock_timeout_stops_a_busy_script(lua):
    result, elapsed = timed(lua, "while true do end", timeout_seconds=0.5, cpu_seconds=30)
    assert result.error.startswith("Time limit exceeded")
    assert result.meta["limit"] == "timeout"
    assert elapsed < 0.5 + SLACK


def test_wall_clock_timeout_stops_a_long_c_call(lua):
    code = 'return string.find(string.rep("a", 400), ".-.-.-.-.-b$")'
    result, elapsed = timed(lua, code, timeout_seconds=0.5, cpu_seconds=30)
    assert result.meta["limit"] == "timeout"
    assert elapsed < 0.5 + SLACK


def test_gc_finalizers_are_refused(lua):
    """A __gc finalizer runs outside the hook and could hang collection; scripts cannot set one."""
    result = lua("setmetatable({}, {__gc = function() while true do end end})")
    assert not result.success
    assert "__gc finalizers are not allowed" in result.error


def test_limits_do_not_leak_into_the_next_run(lua):
    from kosmo_lua.dispatch import AppDispatcher
    from kosmo_lua.limits import Limits
    from kosmo_lua.runtime.supervisor import Worker

    with Worker(Limits(cpu_seconds=0.3, output_bytes=100), AppDispatcher.factory()) as worker:
        assert worker.run("while true do end", "x").meta["limit"] == "cpu"
        assert worker.run("while true do print('.') end", "x").meta["limit"] == "output"
        ok = worker.run("print('fine') return 2", "x")
        assert ok.success and ok.output == ["fine"] and ok.result == [2]


def test_lupa_lua54_is_lua_5_4():
    """`import lupa` alone gives Lua 5.5; the runtime must pin lupa.lua54."""
    assert lupa.lua54.LuaRuntime().lua_version == (5, 4)


def test_the_engine_imports_lupa_lua54():
    import kosmo_lua.runtime.engine as engine

    assert engine.lupa is lupa.lua54


# Script code never runs with the memory cap lifted (each entry point where the host might
# run it: a comparison while converting, an error object's __tostring, ...).

HOG = "local s = {} for i = 1, 200 do s[i] = string.rep('x', 1024 * 1024) end"


def test_an_eq_metamethod_never_runs_while_values_are_converted(lua):
    """Return values are read raw: a script's __eq is not called (it would allocate freely)."""
    code = f"return {{setmetatable({{}}, {{__eq = function() {HOG} return false end}})}}"
    result = lua(code, memory_bytes=8 * 1024 * 1024)
    assert result.success, result.error
    assert result.memory_usage < 8 * 1024 * 1024


def test_an_error_objects_tostring_runs_under_the_cap(lua):
    code = f"error(setmetatable({{}}, {{__tostring = function() {HOG} return 'x' end}}))"
    result = lua(code, memory_bytes=8 * 1024 * 1024)
    assert result.meta.get("limit") == "memory", result.error


def test_a_host_side_blow_up_nobody_foresaw_ends_as_the_memory_limit():
    """The backstop: the worker's data limit turns an unforeseen host allocation (here a
    dispatcher that builds 4 GiB) into the memory-limit error, not an out-of-memory machine."""
    from kosmo_lua.limits import DATA_ALLOWANCE, Limits
    from kosmo_lua.runtime.supervisor import Worker

    def greedy(report):
        def dispatch(path, args):
            hog = b"x" * (4096 * MIB)  # nothing bounds this but the backstop
            return (len(hog),)

        return dispatch

    limits = Limits(memory_bytes=8 * MIB)
    assert limits.data_bytes == 3 * 8 * MIB + DATA_ALLOWANCE
    with Worker(limits, greedy) as worker:
        result = worker.run("local ok = pcall(app.anything) return ok", "test")
    assert result.meta.get("limit") == "memory", result.error
    assert result.error.startswith("Memory limit exceeded")


@pytest.mark.parametrize(
    "code",
    [
        # A gsub replacement function allocating freely (it ran with the cap off).
        f"regex.gsub(string.rep('a', 2000), '/a/', function() {HOG} return 'b' end)",
        # An __index on an options table (it ran in the host with the cap off).
        f"json.encode({{1}}, setmetatable({{}}, {{__index = function() {HOG} end}}))",
    ],
    ids=["gsub-callback", "options-index"],
)
def test_script_callbacks_run_under_the_scripts_cap(lua, code):
    result = lua(f"local ok = pcall(function() {code} end) return ok", memory_bytes=8 * MIB)
    assert result.meta.get("limit") == "memory" or result.result == [True], result.error
    assert result.memory_usage < 8 * MIB


@pytest.mark.parametrize(
    "code",
    [
        # Pretty text of a deep table that shares one leaf: the indentation is the cost.
        "local t = 'v' for i = 1, 400 do t = {t} end local row = {}"
        " for i = 1, 3000 do row[i] = t end return json.encode(row)",
        # A 4 KB replacement over 300 KB: 1.2 GB of result.
        "return regex.gsub(string.rep('a', 300000), '/a/', string.rep('R', 4096))",
    ],
    ids=["pretty-json", "gsub-output"],
)
def test_host_side_output_is_charged_before_it_is_built(lua, code):
    result = lua(code)
    assert result.meta.get("limit") == "memory", result.error


def test_a_pattern_that_unrolls_to_gigabytes_is_refused_before_compiling(lua):
    result = lua("local ok, err = pcall(regex.match, 'aaa', '/a{1000000000}/') return err")
    assert "repeats too much to compile" in result.result[0]


def test_sleep_waits_without_cpu_and_wakes_at_the_timeout(lua):
    result = lua("local before = os.clock() sleep(0.3) return os.clock() - before < 0.1")
    assert result.result == [True], result.error
    assert result.execution_time_ms >= 300
    started = time.monotonic()
    stopped = lua("sleep(30)", timeout_seconds=0.5)
    assert stopped.meta.get("limit") == "timeout"
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("seconds", ["-1", "0/0", "1e300", "'x'"])
def test_sleep_refuses_what_is_not_a_duration(lua, seconds):
    result = lua(f"sleep({seconds})")
    assert "sleep: seconds must be a number from 0 to 86400" in result.error


def test_a_value_too_big_for_lua_is_refused_before_the_host_builds_it(lua):
    """json.decode of five million empty arrays (or an API reply like it) is counted before
    any Lua table is made: the memory limit, not a worker stuck on a failed allocation."""
    code = 'local s = "[" .. string.rep("[],", 5e6) .. "[]]" return #json.decode(s)'
    result = lua(code, timeout_seconds=60)
    assert result.meta.get("limit") == "memory", result.error
