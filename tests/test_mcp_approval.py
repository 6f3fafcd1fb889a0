"""``mcp:serve`` and writes under the ``ask`` policy: the human is asked through MCP
elicitation when the client supports it (accepted: sent; declined: an error, nothing sent),
and otherwise the write is planned (``meta.plan``, not an error). Also ``execute_lua``'s
``mode = "check"``. A real ``kosmo mcp:serve`` process, the official MCP client, and the
Buildkite emulator on loopback as the API."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner
from helpers import configured_emulator, kosmo_path, server_env

from kosmo_lua.cli import main
from kosmo_lua.integrations.buildkite.emulator import Emulator

pytest.importorskip("mcp")

import anyio
from mcp import Client, StdioServerParameters
from mcp.types import ElicitRequestParams, ElicitResult

TOKEN = "bkua_approval_SECRET_token_0123456789"
WRITE = """\
local bk = app.integrations.buildkite
local b = bk.list_builds{organization = "acme-inc", pipeline = "web", per_page = 1}[1]
local r = bk.cancel_build{organization = "acme-inc", pipeline = "web", number = b.number}
return b.number, r.planned or r.state
"""


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with configured_emulator(TOKEN) as served:
        yield served


def run_lua(
    arguments: dict[str, Any], answer: str | None, mode: str = "legacy"
) -> tuple[Any, list[str]]:
    """Calls ``execute_lua`` on a real server; ``answer`` is what the human says to each
    elicitation (None: the client has no elicitation capability). Returns the result and
    the messages the human was shown. ``mode``: the client's protocol era (elicitation
    mid-call needs the handshake era's back-channel)."""
    asked: list[str] = []

    async def elicit(context: Any, params: ElicitRequestParams) -> ElicitResult:
        asked.append(params.message)
        return ElicitResult(action=answer, content={} if answer == "accept" else None)

    parameters = StdioServerParameters(command=kosmo_path(), args=["mcp:serve"], env=server_env())

    async def main() -> Any:
        callback = elicit if answer is not None else None
        async with Client(parameters, elicitation_callback=callback, mode=mode) as client:
            return await client.call_tool("execute_lua", arguments)

    return anyio.run(main), asked


def test_an_accepted_write_is_sent(emulator: Emulator):
    result, asked = run_lua({"code": WRITE}, "accept")
    envelope = result.structured_content
    assert not result.is_error and envelope["success"], envelope["error"]
    number, state = envelope["result"]
    assert state in ("canceling", "canceled")
    (message,) = asked
    assert "(script line 3)" in message
    assert f"PUT /organizations/acme-inc/pipelines/web/builds/{number}/cancel" in message
    assert "[buildkite.buildkite_cancel_build]" in message
    assert [r.method for r in emulator.requests] == ["GET", "PUT"]
    assert "plan" not in envelope.get("meta", {})


def test_a_declined_write_is_not_sent(emulator: Emulator):
    result, asked = run_lua({"code": WRITE}, "decline")
    envelope = result.structured_content
    assert len(asked) == 1
    assert envelope["success"] is False
    assert envelope["meta"]["error"]["kind"] == "permission"
    assert envelope["meta"]["error"]["hint"].startswith("Nothing was sent.")
    assert result.is_error and "The user declined this buildkite write" in envelope["error"]
    assert [r.method for r in emulator.requests] == ["GET"]


@pytest.mark.parametrize(("answer", "mode"), [(None, "legacy"), (None, "auto"), ("accept", "auto")])
def test_without_elicitation_the_write_is_planned(
    emulator: Emulator, answer: str | None, mode: str
):
    """No elicitation capability, or a session of the 2026-07-28 protocol (no back-channel
    for a question in the middle of a call): the write is planned, not refused."""
    result, asked = run_lua({"code": WRITE}, answer, mode)
    envelope = result.structured_content
    assert asked == []
    assert not result.is_error and envelope["success"], envelope["error"]
    number, planned = envelope["result"]
    assert planned is True
    (step,) = envelope["meta"]["plan"]
    assert step == {
        "tool": "buildkite.buildkite_cancel_build",
        "method": "PUT",
        "path": f"/organizations/acme-inc/pipelines/web/builds/{number}/cancel",
        "body": {},
        "line": 3,
        "permission": "ask",
    }
    assert [r.method for r in emulator.requests] == ["GET"]


def test_allowed_writes_ask_nobody(emulator: Emulator):
    done = CliRunner().invoke(main, ["integrations:configure", "buildkite", "--write", "allow"])
    assert done.exit_code == 0, done.output
    result, asked = run_lua({"code": WRITE}, "decline")
    assert asked == [] and result.structured_content["success"]
    assert [r.method for r in emulator.requests] == ["GET", "PUT"]


def test_check_mode_runs_nothing(emulator: Emulator):
    code = 'docs.read("nope")\napp.integrations.buildkite.get_biuld{}\n' + WRITE
    result, asked = run_lua({"code": code, "mode": "check"}, "accept")
    envelope = result.structured_content
    assert asked == [] and emulator.requests == []
    assert result.is_error and envelope["success"] is False
    assert "execution_time_ms" not in envelope  # a compact reply, as a run's
    findings = envelope["meta"]["check"]["findings"]
    assert [(f["line"], f["kind"]) for f in findings] == [
        (1, "unknown_page"),
        (2, "unknown_function"),
    ]
    clean, _ = run_lua({"code": WRITE, "mode": "check"}, None)
    assert clean.structured_content["success"] is True
    assert clean.structured_content["meta"]["check"] == {"findings": [], "calls": 2}
    wrong, _ = run_lua({"code": WRITE, "mode": "dry"}, None)
    assert wrong.is_error and "mode must be one of run, check" in wrong.content[0].text
    assert emulator.requests == []


def test_the_question_shows_invisible_and_reordering_characters_escaped(emulator: Emulator):
    # A script could make the body the human approves read otherwise than it is: a
    # right-to-left override turns what follows around on screen, a zero-width space hides.
    code = (
        "return app.integrations.buildkite.create_build{organization = 'acme-inc',"
        " pipeline = 'web', commit = 'HEAD', branch = 'main',"
        " message = 'docs only \\u{202E}txt.hs.pleh \\u{200B}', env = {DEPLOY = 'prod'}}"
    )
    _, asked = run_lua({"code": code}, "decline")
    (message,) = asked
    assert "\u202e" not in message and "\u200b" not in message
    assert "docs only \\u202etxt.hs.pleh \\u200b" in message
    assert emulator.requests == []
