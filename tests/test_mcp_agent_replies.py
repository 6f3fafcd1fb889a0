"""Replies an agent can act on (issue 14): ``kosmo mcp:serve`` answers ``execute_lua`` with
one compact copy of the outcome, ``isError`` and a hint when the script failed, a reply cut
to its byte budget as valid JSON, and a call budget (``maxCalls``) that stops a script before
the call past it is sent. ``--emulate`` runs every integration against its emulator, and
the exposed functions take ``account``. The server is the installed ``kosmo``, spoken to by
the MCP SDK's own client over stdio."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("mcp")

from helpers import configured_emulator
from mcp_session import Scenario, against

from kosmo_lua.config import Config
from kosmo_lua.integrations.buildkite.emulator import Emulator
from kosmo_lua.mcp.reply import MAX_REPLY_BYTES, REPLY_BYTES

USER = "return app.integrations.buildkite.get_current_user{}.name"


def runs(*calls: str | dict[str, Any]) -> Scenario:
    """``execute_lua`` once per code (or argument set), in order: the SDK's results."""

    async def scenario(client: Any) -> list[Any]:
        results = []
        for call in calls:
            arguments = call if isinstance(call, dict) else {"code": call}
            results.append(await client.call_tool("execute_lua", arguments))
        return results

    return scenario


def text(result: Any) -> str:
    (block,) = result.content
    return str(block.text)


@pytest.fixture
def api() -> Iterator[Emulator]:
    """A Buildkite emulator on loopback, the default account's API: what it was asked is
    what reached it."""
    with configured_emulator("bk-agent-replies-token") as emulator:
        yield emulator


# One copy, compact, isError ------------------------------------------------------------------


def test_a_reply_is_one_compact_copy_and_a_failure_is_an_error():
    ok, failed = against(runs("print('hi') return 1 + 1, {a = 'b'}", "local x = 1\nerror('boom')"))

    assert not ok.is_error
    assert ok.structured_content == {"success": True, "result": [2, {"a": "b"}], "output": "hi"}
    assert text(ok) == '{"success":true,"result":[2,{"a":"b"}],"output":"hi"}'  # no indent

    assert failed.is_error
    reply = failed.structured_content
    assert json.loads(text(failed)) == reply
    assert reply["error"] == "execute_lua:2: boom"
    assert text(failed).count("boom") == 1  # the error once
    assert reply["meta"]["error"] == {"kind": "runtime", "file": "execute_lua", "line": 2}
    for noise in ("result", "execution_time_ms", "memory_usage", "integration_calls"):
        assert noise not in reply


def test_calls_are_counted_on_success_and_detailed_on_failure():
    counted, failed = against(
        runs(
            """
            local bk = app.integrations.buildkite
            bk.list_builds{organization = "acme-inc", per_page = 1}
            bk.list_builds{organization = "acme-inc", per_page = 2}
            pcall(bk.get_build, {organization = "acme-inc", pipeline = "web", number = 999999})
            return bk.get_current_user{}.name
            """,
            'local build = app.integrations.buildkite.get_build{organization = "acme-inc",'
            ' pipeline = "web", number = 999999} return build',
        ),
        "--emulate",
    )
    reply = counted.structured_content
    assert reply["result"] == ["Ada Lovelace"]
    assert reply["integration_calls"] == {
        "buildkite.list_builds": 2,
        "buildkite.get_build": 1,
        "buildkite.get_current_user": 1,
    }
    assert reply["meta"] == {"emulated": True, "failed_calls": {"buildkite.get_build": 1}}

    assert failed.is_error
    reply = failed.structured_content
    (call,) = reply["integration_calls"]
    assert call["path"] == "integrations.buildkite.get_build" and call["status"] == "error"
    assert call["http_status"] == 404 and "durationMs" not in call
    error = reply["meta"]["error"]
    assert error["kind"] == "integration" and error["status"] == 404 and error["line"] == 1
    assert error["tool"] == "buildkite.buildkite_get_build"
    assert error["hint"].startswith("Not found: check the identifiers")


def test_a_write_that_needs_approval_says_what_an_agent_can_do():
    """In execute_lua a write under `ask` is planned (test_mcp_approval.py); an exposed
    write tool has no script to plan for, so it is refused, in words an agent can act on."""

    async def scenario(client: Any) -> Any:
        return await client.call_tool(
            "buildkite_create_build",
            {"organization": "acme-inc", "pipeline": "web", "commit": "HEAD", "branch": "main"},
        )

    refused = against(scenario, "--emulate", "--expose-integrations")
    assert refused.is_error
    assert "needs approval: ask the user to allow it" in text(refused)
    assert "the server must run with --force" in text(refused)
    assert "Run with --force" not in text(refused)  # the CLI's words, which an agent cannot act on


def test_limits_name_the_argument_an_agent_can_change():
    (stopped,) = against(runs({"code": "while true do end", "cpuLimit": 0.3}))
    assert stopped.is_error
    reply = stopped.structured_content
    assert reply["error"] == (
        "CPU limit exceeded: the script used more than 0.3 s of CPU time (execute_lua's cpuLimit)"
    )
    assert "--cpu-limit" not in text(stopped)
    assert reply["meta"]["error"] == {
        "kind": "limit",
        "limit": "cpu",
        "hint": "Do less work in one run (fewer items, smaller pages), or ask for a larger"
        " cpuLimit.",
    }


# Truncation -----------------------------------------------------------------------------------


def test_a_large_result_is_cut_to_the_budget_as_valid_json():
    many = "local t = {} for i = 1, 5000 do t[i] = 'item ' .. i end return t"
    default, small, long_string = against(
        runs(
            many,
            {"code": many, "maxReplyBytes": 2000},
            "return string.rep('x', 100000)",
        )
    )
    for result, budget in ((default, REPLY_BYTES), (small, 2000)):
        assert not result.is_error
        assert len(text(result).encode()) <= budget
        reply = json.loads(text(result))
        assert reply == result.structured_content
        items = reply["result"][0]
        assert items[0] == "item 1"
        assert items[-1] == f"…[{5000 - (len(items) - 1)} more items]"
        assert reply["meta"]["truncated"]["budget"] == budget
        assert reply["meta"]["truncated"]["bytes"] > 50_000
    (cut,) = long_string.structured_content["result"]
    assert cut.startswith("xxx") and cut.endswith("…[cut: 100000 characters in all]")


def test_the_reply_budget_is_checked():
    too_small, too_large, not_a_number = against(
        runs(
            {"code": "return 1", "maxReplyBytes": 10},
            {"code": "return 1", "maxReplyBytes": MAX_REPLY_BYTES + 1},
            {"code": "return 1", "maxReplyBytes": "lots"},
        )
    )
    for refused in (too_small, too_large):
        assert refused.is_error
        assert f"maxReplyBytes must be from 1000 to {MAX_REPLY_BYTES} bytes" in text(refused)
    assert not_a_number.is_error and "maxReplyBytes must be a whole number" in text(not_a_number)


def test_hostile_values_cannot_blow_the_reply_or_the_server():
    """Deep, wide, huge and many: each reply stays within its budget, the server lives on."""
    deep = (
        "local t = {} local c = t for i = 1, 200 do"
        " c.x = {pad = string.rep('p', 30)} c = c.x end return t"
    )
    wide = "local t = {} for i = 1, 200000 do t['k' .. i] = i end return {t}"
    # a 6 MB print, a 1 MB error
    huge = "local s = string.rep('é', 3000000) print(s) error(string.rep('boom ', 200000))"
    nested_lists = (
        "local t = {} for i = 1, 300 do local row = {} for j = 1, 300 do row[j] = j end"
        " t[i] = row end return t"
    )
    # Small but deeper than clients' JSON parsers go (the SDK's refused 200 levels): cut too.
    deep_small = "local t = {} local c = t for i = 1, 300 do c.x = {} c = c.x end return t"
    results = against(
        runs(
            {"code": deep, "maxReplyBytes": 4000},
            {"code": wide, "maxReplyBytes": 1000},
            {"code": huge, "maxReplyBytes": 1000, "memoryLimit": 64_000_000},
            {"code": nested_lists, "maxReplyBytes": 1500},
            deep_small,
            "return 'still serving'",
        )
    )
    for result, budget in zip(results[:4], (4000, 1000, 1000, 1500), strict=True):
        assert len(text(result).encode()) <= budget, text(result)[:200]
        assert json.loads(text(result)) == result.structured_content
        assert result.structured_content["meta"]["truncated"]["budget"] == budget
    deep_reply = results[0].structured_content["result"][0]
    assert "nested deeper than" in json.dumps(deep_reply, ensure_ascii=False)
    wide_reply = results[1].structured_content["result"][0][0]
    assert wide_reply["…"].endswith("more keys")
    failed = results[2]
    assert failed.is_error and failed.structured_content["error"].startswith("execute_lua:1: boom")
    small = results[4].structured_content
    assert "nested deeper than 32 levels" in text(results[4])
    assert small["meta"]["truncated"]["budget"] == REPLY_BYTES
    assert results[5].structured_content["result"] == ["still serving"]


# The call budget --------------------------------------------------------------------------------


def test_max_calls_stops_a_script_before_the_call_past_it(api):
    emulator = api
    loop = (
        "for i = 1, 10 do pcall(app.integrations.buildkite.get_current_user, {}) end return 'never'"
    )
    branches = (
        "return app.map({1, 2, 3, 4, 5, 6, 7, 8}, function(i)"
        " return app.integrations.buildkite.get_current_user{}.name end, {concurrency = 3})"
    )
    looped, mapped, within = against(
        runs(
            {"code": loop, "maxCalls": 3},
            {"code": branches, "maxCalls": 2},
            {"code": USER, "maxCalls": 1},
        )
    )
    assert len(emulator.requests) == 3 + 2 + 1  # nothing past a budget reached the API
    for result, budget in ((looped, 3), (mapped, 2)):
        assert result.is_error
        reply = result.structured_content
        assert reply["error"] == (
            f"Call limit exceeded: the script made {budget} integration and MCP calls, the most"
            " it may (execute_lua's maxCalls); the next was not sent"
        )  # a limit: pcall did not swallow it
        assert reply["meta"]["error"]["kind"] == "limit"
        assert reply["meta"]["error"]["limit"] == "calls"
        assert "maxCalls" in reply["meta"]["error"]["hint"]
        assert len(reply["integration_calls"]) == budget
    assert within.structured_content["result"] == ["Ada Lovelace"]


def test_max_calls_is_checked(api):
    negative, fraction = against(
        runs({"code": "return 1", "maxCalls": -1}, {"code": "return 1", "maxCalls": 1.5})
    )
    for refused in (negative, fraction):
        assert refused.is_error and "maxCalls must be a whole number" in text(refused)


def test_huge_numbers_are_refused_before_a_run_and_the_server_goes_on(api):
    """Integers past a float's (or Lua's) range: a clear refusal each, not a crashed worker."""
    huge = 10**400
    *refused, served = against(
        runs(
            {"code": "return 1", "maxCalls": huge},
            {"code": "return 1", "maxCalls": 2**63},
            {"code": "return 1", "memoryLimit": huge},
            {"code": "return 1", "cpuLimit": huge},
            {"code": "return 1", "timeout": huge},
            {"code": "return 1", "maxReplyBytes": huge},
            "return 'still serving'",
        )
    )
    words = ("maxCalls", "maxCalls", "memoryLimit", "cpuLimit", "timeout", "maxReplyBytes")
    for result, name in zip(refused, words, strict=True):
        assert result.is_error and result.structured_content is None
        assert text(result).startswith(f"{name} ")
        assert "at most" in text(result) or "from" in text(result)
    assert served.structured_content["result"] == ["still serving"]


# --emulate and account -------------------------------------------------------------------------


def test_emulate_serves_every_integration_offline_and_tools_take_an_account(kosmo_home: Path):
    config = Config.load()
    config.set_account("buildkite", "ci", {"access_token": "bk-never-used"})
    config.save()

    async def scenario(client: Any) -> dict[str, Any]:
        listed = {tool.name: tool for tool in (await client.list_tools()).tools}
        return {
            "listed": listed,
            "lua": await client.call_tool("execute_lua", {"code": USER}),
            "default": await client.call_tool("buildkite_get_current_user", {}),
            "ci": await client.call_tool("buildkite_get_current_user", {"account": "ci"}),
            "unknown": await client.call_tool("buildkite_get_current_user", {"account": "cj"}),
            "dotted": await client.call_tool(
                "buildkite_get_current_user", {"account": "default.get_build"}
            ),
        }

    got = against(scenario, "--emulate", "--expose-integrations")
    account = got["listed"]["buildkite_get_build"].input_schema["properties"]["account"]
    assert account["enum"] == ["default", "ci"]
    assert got["lua"].structured_content == {
        "success": True,
        "result": ["Ada Lovelace"],
        "integration_calls": {"buildkite.get_current_user": 1},
        "meta": {"emulated": True},
    }
    assert got["default"].structured_content["name"] == "Ada Lovelace"
    assert got["ci"].structured_content["name"] == "Ada Lovelace"  # the emulator, not the token
    for refused in (got["unknown"], got["dotted"]):
        assert refused.is_error
        assert "'account' must be one of default, ci. Nothing was sent." in text(refused)
