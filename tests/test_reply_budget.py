"""``execute_lua``'s reply (kosmo_lua/mcp/reply.py) within its byte budget, for any value, and
``--max-calls`` on the command line, where no request past the budget reaches the API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from helpers import configured_emulator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kosmo_lua.cli import main
from kosmo_lua.limits import MAX_CALLS, Limits
from kosmo_lua.mcp.reply import (
    MAX_DEPTH,
    MAX_REPLY_BYTES,
    MIN_REPLY_BYTES,
    REPLY_BYTES,
    compact,
    encode,
    fit,
    size,
)
from kosmo_lua.mcp.serve import HostTools, ToolFailed
from kosmo_lua.result import ExecutionResult

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=300)
    | st.text(st.characters(min_codepoint=0x10000, max_codepoint=0x10FFF), max_size=200)
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=40) | st.dictionaries(st.text(max_size=12), inner, max_size=12)
    ),
    max_leaves=400,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=values, budget=st.integers(min_value=120, max_value=6000))
def test_any_value_fits_its_budget_as_json(value: Any, budget: int) -> None:
    cut, truncated = fit({"result": value}, budget)
    assert size(cut) <= budget
    assert json.loads(json.dumps(cut)) == cut
    if not truncated:
        assert cut == {"result": value}


def test_a_cut_keeps_a_fair_share_of_every_branch() -> None:
    """One cap on items for the whole value: a long first list does not starve the next."""
    value = {
        "builds": [f"build {i}" for i in range(1000)],
        "jobs": [f"job {i}" for i in range(1000)],
    }
    cut, truncated = fit(value, 600)
    assert truncated
    assert len(cut["builds"]) == len(cut["jobs"]) > 5
    assert cut["jobs"][-1] == f"…[{1000 - (len(cut['jobs']) - 1)} more items]"


def test_a_value_deeper_than_clients_parse_is_cut_whatever_its_size() -> None:
    deep: Any = []
    for _ in range(100):
        deep = [deep]
    cut, truncated = fit({"result": deep}, 100_000)
    assert truncated
    assert f"…[nested deeper than {MAX_DEPTH} levels]" in json.dumps(cut, ensure_ascii=False)


def test_the_reply_reports_the_cut_and_stays_within_the_budget() -> None:
    result = ExecutionResult(True, result=[["x" * 50] * 10_000])
    result.output = ["printed"] * 1000
    reply = compact(result, Limits(), 3000)
    assert len(encode(reply).encode()) <= 3000
    assert reply["meta"]["truncated"]["budget"] == 3000
    assert reply["meta"]["truncated"]["bytes"] > 500_000  # what the whole reply would have been
    assert reply["output"].startswith("printed\nprinted")
    assert reply["result"][0][-1].endswith("more items]")


# --max-calls on the command line ---------------------------------------------------------------


def test_max_calls_sends_no_request_past_the_budget(kosmo_home: Path) -> None:
    code = (
        "local bk = app.integrations.buildkite\n"
        "for i = 1, 3 do pcall(bk.get_current_user, {}) end\n"
        "return app.map({1, 2, 3, 4, 5}, function() return bk.get_current_user{}.name end)"
    )
    with configured_emulator("bk-max-calls-token") as emulator:
        done = CliRunner().invoke(
            main, ["integrations:lua", "--eval", code, "--max-calls", "5", "--json"]
        )
        unbounded = CliRunner().invoke(main, ["integrations:lua", "--eval", code, "--json"])
    assert done.exit_code == 1
    envelope = json.loads(done.stdout)
    assert envelope["error"] == (
        "Call limit exceeded: the script made 5 integration and MCP calls, the most it may"
        " (--max-calls); the next was not sent"
    )
    assert envelope["meta"]["error"] == {
        "kind": "limit",
        "message": envelope["error"],
        "limit": "calls",
    }
    assert len(envelope["integration_calls"]) == 5
    assert unbounded.exit_code == 0, unbounded.stdout
    assert len(emulator.requests) == 5 + 8  # the bounded run stopped at 5; the other made 8


def test_max_calls_zero_allows_no_call_and_other_code_runs(kosmo_home: Path) -> None:
    done = CliRunner().invoke(
        main,
        [
            "integrations:lua",
            "--emulate",
            "--max-calls",
            "0",
            "--json",
            "--eval",
            "print('before') return app.integrations.buildkite.get_current_user{}",
        ],
    )
    envelope = json.loads(done.stdout)
    assert envelope["output"] == "before"
    assert envelope["meta"]["limit"] == "calls" and envelope["integration_calls"] == []


def test_an_exposed_function_is_cut_to_the_reply_budget(monkeypatch: Any) -> None:
    """`--expose-integrations` tools answer with the API's data as it is: a listing of
    thousands of builds, or a whole log, is cut as execute_lua's replies are."""
    tools = HostTools(emulate=True, expose_integrations=True)
    builds = [{"number": n, "message": "x" * 500} for n in range(1000)]
    for data in (builds, {"builds": builds}, "log line\n" * 100_000):
        monkeypatch.setattr(tools, "call_integration", lambda tool, args, data=data: data)
        reply = tools.call("buildkite_list_builds", {"organization": "acme-inc"})
        assert len(reply.text.encode()) <= REPLY_BYTES
        if not isinstance(data, str):
            assert "more items" in reply.text and json.loads(reply.text)


def test_an_exposed_function_takes_max_reply_bytes_checked_before_anything_is_sent(
    monkeypatch: Any,
) -> None:
    tools = HostTools(emulate=True, expose_integrations=True)
    builds = [{"number": n, "message": "x" * 500} for n in range(1000)]
    sent: list[dict[str, Any]] = []

    def call_integration(tool: Any, args: dict[str, Any]) -> Any:
        sent.append(args)
        return builds

    monkeypatch.setattr(tools, "call_integration", call_integration)
    for budget in (MIN_REPLY_BYTES, 50_000):
        reply = tools.call("buildkite_list_builds", {"organization": "o", "maxReplyBytes": budget})
        assert REPLY_BYTES < 50_000 and budget - 500 < len(reply.text.encode()) <= budget
        assert json.loads(reply.text)
    assert sent == [{"organization": "o"}] * 2  # the budget is the server's, not the API's
    tools.call("buildkite_list_builds", {"organization": "o", "maxReplyBytes": None})
    assert sent[-1] == {"organization": "o"}  # null is "not given", as clients mean it
    for wrong in (10, MAX_REPLY_BYTES + 1, "big", True):
        with pytest.raises(ToolFailed, match="maxReplyBytes"):
            tools.call("buildkite_list_builds", {"organization": "o", "maxReplyBytes": wrong})
    assert len(sent) == 3


def test_an_exposed_function_s_object_with_many_or_huge_keys_is_cut_not_lost(
    monkeypatch: Any,
) -> None:
    """A hostile API's object at the top of a reply: 100,000 keys, or one key of 100,000
    characters, is cut like any other object, not answered as ``null``."""
    tools = HostTools(emulate=True, expose_integrations=True)
    many = {f"key{n}": n for n in range(100_000)}
    huge = {"k" * 100_000: "v", "ok": 1}
    for data, marker in ((many, "more keys"), (huge, "characters in all")):
        monkeypatch.setattr(tools, "call_integration", lambda tool, args, data=data: data)
        reply = tools.call("buildkite_get_build", {"organization": "o", "pipeline": "p"})
        assert len(reply.text.encode()) <= REPLY_BYTES
        assert reply.structured == json.loads(reply.text)
        assert isinstance(reply.structured, dict) and reply.structured[
            "key0" if data is many else "ok"
        ] in (0, 1)
        assert marker in reply.text
    cut, truncated = fit({"result": {"a" * 5000: 1, "b" * 5000: 2}}, 1000)
    assert truncated and size(cut) <= 1000 and len(cut["result"]) == 2  # both keys, each cut


def test_max_calls_past_its_bound_is_a_usage_error_not_a_crashed_worker(kosmo_home: Path) -> None:
    done = CliRunner().invoke(
        main,
        ["integrations:lua", "--max-calls", str(10**30), "--eval", "return 1"],
    )
    assert done.exit_code == 2
    assert "--max-calls" in done.output and str(MAX_CALLS) in done.output
    assert "Traceback" not in done.output
