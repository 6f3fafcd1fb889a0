"""integration_calls is bounded: the first and the last entries of a run, and a count of
those between, however many calls a loop makes; where the records are made (the worker's
report) as where they are collected (the run's result)."""

from __future__ import annotations

from typing import Any

from kosmo_lua.calls import BoundedReport
from kosmo_lua.result import FIRST_CALLS, LAST_CALLS, CallLog, ExecutionResult

LOOP = """
for i = 1, {n} do
  pcall(function() return app.integrations.buildkite["no_such_" .. i]() end)
end
return "done"
"""


def _entry(number: int) -> dict[str, Any]:
    return {"path": f"integrations.buildkite.no_such_{number}", "status": "error"}


def _numbers(entries: list[dict[str, Any]]) -> list[int]:
    return [int(entry["path"].rsplit("_", 1)[1]) for entry in entries]


def test_a_loop_of_calls_keeps_the_first_and_the_last_and_counts_the_rest(lua):
    result = lua(LOOP.format(n=1000))
    envelope = result.envelope()
    assert envelope["result"] == ["done"]
    numbers = _numbers(envelope["integration_calls"])
    assert numbers == [*range(1, 101), *range(901, 1001)]
    assert envelope["meta"]["integration_calls_dropped"] == 800


def test_a_run_within_the_bound_keeps_every_entry_and_says_nothing_more(lua):
    envelope = lua(LOOP.format(n=FIRST_CALLS + LAST_CALLS)).envelope()
    assert _numbers(envelope["integration_calls"]) == list(range(1, 201))
    assert "integration_calls_dropped" not in envelope["meta"]


def test_the_log_keeps_order_at_its_edges():
    log = CallLog()
    kept = [log.add(_entry(n)) for n in range(1, 202)]
    assert kept == [True] * FIRST_CALLS + [False] * 101
    assert _numbers(log.entries()) == [*range(1, 101), *range(102, 202)]
    assert log.dropped == 1


def test_the_workers_report_sends_a_bounded_number_of_frames_that_add_up():
    frames: list[tuple[str, Any]] = []
    report = BoundedReport(lambda kind, value: frames.append((kind, value)))
    report("meta", {"emulated": True})
    for number in range(1, 10_001):
        report("call", _entry(number))
    assert len(frames) == 1 + FIRST_CALLS  # the held entries wait for the end of the run
    report.end_run()
    assert len(frames) == 1 + FIRST_CALLS + LAST_CALLS + 1
    result = ExecutionResult(success=True, result=[])
    for kind, value in frames:
        if kind == "call":
            result.add_call(value)
        else:
            result.meta.update(value)
    envelope = result.envelope()
    assert _numbers(envelope["integration_calls"]) == [*range(1, 101), *range(9901, 10001)]
    assert envelope["meta"]["integration_calls_dropped"] == 9800
    assert envelope["meta"]["emulated"] is True


def test_the_next_run_of_a_worker_starts_afresh():
    frames: list[tuple[str, Any]] = []
    report = BoundedReport(lambda kind, value: frames.append((kind, value)))
    for number in range(1, 300):
        report("call", _entry(number))
    report.end_run()
    frames.clear()
    report("call", _entry(1))
    report.end_run()
    assert frames == [("call", _entry(1))]
