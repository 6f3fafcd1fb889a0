"""The forked worker: streaming, killing, and leaving no process behind."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from kosmo_lua.dispatch import AppDispatcher
from kosmo_lua.limits import Limits
from kosmo_lua.runtime.supervisor import Worker, kill_all, terminations_interrupt

PATHOLOGICAL = 'string.find(string.rep("a", 400), ".-.-.-.-.-b$")'


def make_worker(**limits) -> Worker:
    return Worker(Limits(**limits), AppDispatcher.factory())


def assert_gone(pid: int) -> None:
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_output_streams_while_the_script_runs():
    seen: list[tuple[str, float]] = []
    with make_worker() as worker:
        result = worker.run(
            "print('first') local t = os.clock() while os.clock() - t < 0.3 do end print('second')",
            "x",
            on_output=lambda line: seen.append((line, time.monotonic())),
        )
    assert [line for line, _ in seen] == ["first", "second"] == result.output
    assert seen[1][1] - seen[0][1] > 0.2  # the first line arrived before the script ended


def test_a_killed_run_keeps_what_it_printed():
    with make_worker(cpu_seconds=0.5) as worker:
        result = worker.run(f"print('before') {PATHOLOGICAL}", "x")
    assert result.output == ["before"]
    assert result.meta["limit"] == "cpu"


def test_close_leaves_no_process_behind():
    worker = make_worker()
    worker.run("return 1", "x")
    pid = worker._pid
    worker.close()
    assert_gone(pid)


def test_a_one_run_worker_leaves_after_its_run_and_each_run_gets_its_own():
    worker = Worker(Limits(), AppDispatcher.factory(), one_run=True)
    assert worker.run("x = 41 return x + 1", "x").result == [42]
    first = worker._pid
    # It leaves without being told (close() only reaps it): a zombie until then.
    deadline = time.monotonic() + 5
    while _state(first) != "Z" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _state(first) == "Z"
    result = worker.run("return x", "x")  # a fresh state: nothing kept from the first run
    assert result.success and result.result == [None]
    second = worker._pid
    assert second != first
    assert_gone(first)  # reaped before the second started
    worker.close()
    assert_gone(second)


def _state(pid: int) -> str:
    """A process's state letter (Linux /proc): R, S, Z..."""
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0]


def test_closing_one_worker_while_another_lives_does_not_hang():
    """A worker forked later must not hold the first worker's pipe open."""
    first, second = make_worker(), make_worker()
    first.run("return 1", "x")
    second.run("return 2", "x")
    started = time.monotonic()
    first.close()
    assert time.monotonic() - started < 0.5
    second.close()


def test_a_killed_worker_is_reaped():
    worker = make_worker(cpu_seconds=0.3)
    worker.run("return 1", "x")
    pid = worker._pid
    worker.run(PATHOLOGICAL, "x")
    assert_gone(pid)
    worker.close()


PRINT_THEN_LOOP = "print('marker') while true do end"


def test_ctrl_c_ends_the_run_with_what_it_printed():
    def interrupt(line: str) -> None:
        raise KeyboardInterrupt

    with make_worker(cpu_seconds=1000) as worker:
        result = worker.run(PRINT_THEN_LOOP, "x", on_output=interrupt)
        assert worker.interrupted == signal.SIGINT
        assert worker.restarted
    assert (result.success, result.error, result.error_info["kind"]) == (
        False,
        "Interrupted (Ctrl-C)",
        "interrupted",
    )
    assert result.output == ["marker"]


def test_sigterm_ends_the_run_under_terminations_interrupt():
    pids: list[int] = []

    def terminate(line: str) -> None:
        pids.append(worker._pid)
        os.kill(os.getpid(), signal.SIGTERM)

    before = signal.getsignal(signal.SIGTERM)
    with make_worker(cpu_seconds=1000) as worker, terminations_interrupt():
        result = worker.run(PRINT_THEN_LOOP, "x", on_output=terminate)
    assert signal.getsignal(signal.SIGTERM) is before
    assert (result.error, result.error_info["kind"], result.output) == (
        "Interrupted (SIGTERM)",
        "interrupted",
        ["marker"],
    )
    assert worker.interrupted == signal.SIGTERM
    assert_gone(pids[0])


def test_an_output_handler_that_fails_kills_the_worker():
    """It used to hang: the worker blocked on a full pipe that nobody read any more."""
    pids: list[int] = []

    def fail(line: str) -> None:
        pids.append(worker._pid)
        raise BrokenPipeError

    with make_worker() as worker, pytest.raises(BrokenPipeError):
        worker.run("for i = 1, 200000 do print(i) end", "x", on_output=fail)
    assert_gone(pids[0])


def test_kill_all_stops_a_run_in_another_thread():
    """What mcp:serve's SIGTERM handler does: its runs happen in threads."""
    results = []
    worker = make_worker(cpu_seconds=1000)
    thread = threading.Thread(target=lambda: results.append(worker.run("while true do end", "x")))
    thread.start()
    deadline = time.monotonic() + 10
    while worker._pid is None:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    kill_all()
    thread.join(10)
    assert results[0].error == "The Lua worker stopped unexpectedly (signal 9)"
    worker.close()
