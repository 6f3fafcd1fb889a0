"""``--plan``: reads are sent, writes are not; each is a step of ``meta.plan`` with its line,
and the script goes on with a placeholder. The API is the emulator on loopback, so the test
sees every request that arrived."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner
from helpers import configured_emulator, envelope_of

from kosmo_lua import shapes
from kosmo_lua.cli import main
from kosmo_lua.integrations import load
from kosmo_lua.integrations.buildkite.emulator import Emulator
from kosmo_lua.plan import placeholder

TOKEN = "bkua_plan_SECRET_token_never_printed_0123"


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    """The emulator on loopback, configured as the default account's API."""
    with configured_emulator(TOKEN) as served:
        yield served


def methods(emulator: Emulator) -> list[str]:
    return [request.method for request in emulator.requests]


SCRIPT = """\
local bk = app.integrations.buildkite
local b = bk.list_builds{organization = "acme-inc", pipeline = "web", per_page = 1}[1]
local cancelled = bk.cancel_build{organization = "acme-inc", pipeline = "web", number = b.number}
local made = bk.api_post("/organizations/acme-inc/pipelines/web/builds",
  {commit = "HEAD", branch = "main", message = "planned"})
return {number = b.number, cancelled = cancelled, made = made}
"""


def test_plan_sends_reads_records_writes_and_goes_on(emulator: Emulator):
    code, envelope = envelope_of("integrations:lua", "-e", SCRIPT, "--plan", "--json")
    assert code == 0, envelope["error"]
    assert methods(emulator) == ["GET"]  # the read, and nothing else
    result = envelope["result"][0]
    number = result["number"]
    cancelled = result["cancelled"]  # a Build, as cancel_build declares, marked as planned
    assert (cancelled["planned"], cancelled["tool"]) == (True, "buildkite.buildkite_cancel_build")
    assert (cancelled["number"], cancelled["state"], cancelled["blocked"]) == (
        0,
        "(planned)",
        False,
    )
    assert "finished_at" not in cancelled  # what may be nil is left out
    assert result["made"] == {"planned": True, "tool": "buildkite.buildkite_api_post"}
    assert envelope["meta"]["plan"] == [
        {
            "tool": "buildkite.buildkite_cancel_build",
            "method": "PUT",
            "path": f"/organizations/acme-inc/pipelines/web/builds/{number}/cancel",
            "body": {},
            "line": 3,
            "permission": "ask",
        },
        {
            "tool": "buildkite.buildkite_api_post",
            "method": "POST",
            "path": "/organizations/acme-inc/pipelines/web/builds",
            "body": {"commit": "HEAD", "branch": "main", "message": "planned"},
            "line": 4,
            "permission": "ask",
        },
    ]
    planned = [call for call in envelope["integration_calls"] if call.get("planned")]
    assert [call["tool"] for call in planned] == [
        "buildkite.buildkite_cancel_build",
        "buildkite.buildkite_api_post",
    ]


def test_the_plan_then_force_sends_each_write_once(emulator: Emulator):
    code, planned = envelope_of("integrations:lua", "-e", SCRIPT, "--plan", "--json")
    assert code == 0 and len(planned["meta"]["plan"]) == 2
    code, applied = envelope_of("integrations:lua", "-e", SCRIPT, "--force", "--json")
    assert code == 0, applied["error"]
    assert "plan" not in applied["meta"]
    assert methods(emulator) == ["GET", "GET", "PUT", "POST"]
    assert applied["result"][0]["made"]["message"] == "planned"


def test_plan_in_parallel_branches_and_with_meta(emulator: Emulator):
    code, envelope = envelope_of(
        "integrations:lua",
        "-e",
        """local bk = app.integrations.buildkite
        local builds = bk.list_builds{organization = "acme-inc", pipeline = "web", per_page = 3}
        local retried = app.map(builds, function(b)
          local r = bk.rebuild_build{organization = "acme-inc", pipeline = "web", number = b.number}
          return r
        end)
        local value, meta = bk.api_delete{path = "/organizations/acme-inc/pipelines/legacy",
          query = {force = "true"}, with_meta = true}
        return #retried, retried[3].planned, value.planned, meta""",
        "--plan",
        "--json",
    )
    assert code == 0, envelope["error"]
    assert envelope["result"] == [3, True, True, {}]
    assert methods(emulator) == ["GET"]
    steps = envelope["meta"]["plan"]
    assert [step["method"] for step in steps] == ["PUT", "PUT", "PUT", "DELETE"]
    assert {step["line"] for step in steps[:3]} == {4}
    assert steps[3]["path"] == "/organizations/acme-inc/pipelines/legacy?force=true"
    assert steps[3]["line"] == 7 and steps[3]["body"] is None


def test_plan_still_checks_arguments_and_deny(emulator: Emulator, kosmo_home: Any):
    code, envelope = envelope_of(
        "integrations:lua",
        "-e",
        'return app.integrations.buildkite.cancel_build{organization = "acme-inc"}',
        "--plan",
        "--json",
    )
    assert code == 1 and envelope["meta"]["error"]["kind"] == "argument"
    assert "Missing required argument 'pipeline'" in envelope["error"]
    assert envelope["meta"]["plan"] == []
    done = CliRunner().invoke(main, ["integrations:configure", "buildkite", "--write", "deny"])
    assert done.exit_code == 0, done.output
    code, envelope = envelope_of(
        "integrations:lua",
        "-e",
        'return app.integrations.buildkite.api_put("/organizations/acme-inc/pipelines/web")',
        "--plan",
        "--json",
    )
    assert code == 0, envelope["error"]
    (step,) = envelope["meta"]["plan"]
    assert step["permission"] == "deny"  # the plan says --force will not be enough
    assert emulator.requests == []


def test_plan_refuses_an_account_that_is_not_configured(emulator: Emulator):
    # A real run would fail there: a plan that lists the write would say it can be sent.
    code, envelope = envelope_of(
        "integrations:lua",
        "-e",
        "return app.integrations.buildkite.wrok.cancel_build"
        '{organization = "acme-inc", pipeline = "web", number = 1}',
        "--plan",
        "--json",
    )
    assert code == 1 and "Unknown Buildkite account 'wrok'" in envelope["error"]
    assert envelope["meta"]["plan"] == [] and emulator.requests == []


def test_dry_run_refuses_an_account_that_is_not_configured(emulator: Emulator):
    # It had described a request to the default account's URL, which no run would send.
    where = ["--arg", "organization=acme-inc", "--arg", "pipeline=web", "--arg", "number=1"]
    done = CliRunner().invoke(
        main,
        ["integrations:call", "buildkite.cancel_build", "--account", "wrok", "--dry-run", *where],
    )
    assert done.exit_code != 0 and "Unknown Buildkite account 'wrok'" in done.output
    assert emulator.requests == []


def test_plan_and_force_are_one_or_the_other():
    done = CliRunner().invoke(main, ["integrations:lua", "-e", "return 1", "--plan", "--force"])
    assert done.exit_code == 2
    assert "--plan sends no write and --force sends them" in done.output


def test_plain_plan_lists_the_writes_on_stderr(emulator: Emulator):
    done = CliRunner().invoke(main, ["integrations:lua", "-e", SCRIPT, "--plan"])
    assert done.exit_code == 0, done.output
    assert "Plan: 2 writes, none sent:" in done.stderr
    assert "line 4: POST /organizations/acme-inc/pipelines/web/builds" in done.stderr
    assert "run the script again with --force" in done.stderr
    assert TOKEN not in done.output


def test_the_plan_on_stderr_shows_hidden_characters_escaped():
    """A body with a bidi override or a zero-width space reads on screen as it would be
    sent: escaped, not turned around or hidden."""
    script = 'app.integrations.buildkite.api_post("/x", {message = "ok \\u{202E}evil\\u{200B}"})'
    done = CliRunner().invoke(main, ["integrations:lua", "-e", script, "--plan", "--emulate"])
    assert done.exit_code == 0, done.output
    assert '"ok \\u202eevil\\u200b"' in done.stderr
    assert "\u202e" not in done.stderr and "\u200b" not in done.stderr


def test_a_loop_of_planned_writes_is_bounded(emulator: Emulator):
    code, envelope = envelope_of(
        "integrations:lua",
        "-e",
        'for i = 1, 1500 do app.integrations.buildkite.api_delete("/x/" .. i) end return 1',
        "--plan",
        "--json",
    )
    assert code == 0, envelope["error"]
    assert len(envelope["meta"]["plan"]) == 1000
    assert envelope["meta"]["plan_dropped"] == 500
    assert envelope["meta"]["plan"][-1]["path"] == "/x/1000"
    assert emulator.requests == []


def test_every_write_placeholder_has_its_declared_shape():
    """Each write tool's placeholder carries the required fields of its declared result
    (what a script reads next), and records that name each other end."""
    for integration in load():
        for tool in integration.tools:
            if tool.access != "write":
                continue
            value = placeholder(tool, integration.records)
            assert value["planned"] is True and value["tool"] == tool.full_name
            shape = shapes.parse(tool.result or "any")
            if isinstance(shape, shapes.Name) and shape.name in integration.records:
                record = integration.records[shape.name]
                required = {f.name for f in record.fields if not f.type.endswith("?")}
                assert required <= value.keys(), tool.name


def test_a_call_on_a_planned_result_says_the_plan_ends_there(emulator: Emulator):
    """What a planned write returned is a placeholder: a call that fails on it says so, and
    a read given a placeholder string is not sent (it would ask about nothing real)."""
    create = (
        "local b = app.integrations.buildkite.create_build{organization = 'acme-inc',"
        " pipeline = 'web', commit = 'HEAD', branch = 'main'}\n"
    )
    for then, start in (
        (
            "app.integrations.buildkite.wait_for_build{organization = 'acme-inc',"
            " pipeline = 'web', number = b.number}",
            "Argument 'number' of buildkite.buildkite_wait_for_build must be at least 1",
        ),
        (
            "app.integrations.buildkite.get_pipeline{organization = 'acme-inc', pipeline = b.id}",
            "buildkite.buildkite_get_pipeline was given a planned write's result.",
        ),
    ):
        code, envelope = envelope_of("integrations:lua", "-e", create + then, "--plan", "--json")
        assert code == 1
        assert envelope["error"].startswith(f"eval:2: {start}")
        assert envelope["error"].endswith("the plan goes as far as this call.")
        assert len(envelope["meta"]["plan"]) == 1
    assert methods(emulator) == []  # neither the write nor the reads after it were sent
