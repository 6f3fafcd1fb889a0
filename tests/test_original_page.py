"""Every Lua example on the original's Buildkite page runs unchanged against the emulator
and does what that page implies (each snippet below is copied from the page as it is)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from helpers import envelope_of


def run(*args: str) -> dict[str, Any]:
    code, envelope = envelope_of(*args, "--emulate", "--json")
    assert code == 0, envelope["error"]
    assert all(call["status"] == "ok" for call in envelope["integration_calls"])
    return envelope


def lua(code: str, *options: str) -> dict[str, Any]:
    return run("integrations:lua", "--eval", code, *options)


def printed_value(envelope: dict[str, Any]) -> Any:
    """`dump(v)` and `print(v)` of one value: the output is exactly one JSON value."""
    return json.loads(envelope["output"])


def test_dump_get_current_user_prints_one_value():
    envelope = lua("dump(app.integrations.buildkite.get_current_user({}))")
    assert printed_value(envelope)["name"] == "Ada Lovelace"


def test_print_result_prints_one_value():
    envelope = lua("local result = app.integrations.buildkite.get_current_user({})\nprint(result)")
    assert printed_value(envelope)["email"] == "ada@acme-inc.example"


def test_docs_pages():
    assert lua('print(docs.read("buildkite"))')["output"].startswith("# Buildkite")
    page = lua('print(docs.read("buildkite.get_current_user"))')["output"]
    assert page.startswith("# buildkite.get_current_user")


def test_workflow_file(tmp_path: Path):
    workflow = tmp_path / "workflow.lua"
    workflow.write_text(
        "local buildkite = app.integrations.buildkite\n"
        "local result = buildkite.get_current_user({})\n"
        "dump(result)\n"
    )
    for options in ((), ("--force",)):
        envelope = run("integrations:lua", str(workflow), *options)
        assert printed_value(envelope)["name"] == "Ada Lovelace"
        assert envelope["meta"]["permission_bypassed"] is False


def test_mcp_only_lua():
    code, envelope = envelope_of("mcp:lua", "--eval", "dump(mcp.servers())", "--json")
    assert code == 0, envelope["error"]
    assert json.loads(envelope["output"]) == []


def test_common_workflow():
    envelope = lua(
        """
local orgs = app.integrations.buildkite.list_organizations({ per_page = 20 })
local pipelines = app.integrations.buildkite.list_pipelines({
organization = "acme-inc",
per_page = 20,
})
local builds = app.integrations.buildkite.list_builds({
organization = "acme-inc",
pipeline = "deploy",
branch = "main",
state = "failed",
})
return #orgs, #pipelines, #builds, builds[1].state"""
    )
    assert envelope["result"] == [1, 5, 2, "failed"]


def test_trigger_a_build_with_a_payload():
    envelope = lua(
        """
local build = app.integrations.buildkite.create_build({
organization = "acme-inc",
pipeline = "deploy",
payload = {
commit = "HEAD",
branch = "main",
message = "Deploy from agent",
env = {
DEPLOY_TARGET = "staging",
},
},
})
return build""",
        "--force",
    )
    (build,) = envelope["result"]
    assert (build["number"], build["branch"], build["message"]) == (43, "main", "Deploy from agent")
    assert build["env"] == {"DEPLOY_TARGET": "staging"}
    assert envelope["meta"]["permission_bypassed"] is True


def test_retry_failed_jobs_with_a_payload():
    envelope = lua(
        """
app.integrations.buildkite.retry_failed_jobs({
organization = "acme-inc",
pipeline = "deploy",
number = 42,
payload = { states = "failed,soft_failed" },
})""",
        "--force",
    )
    assert envelope["integration_calls"][0]["http_status"] == 202


def test_job_diagnostics():
    envelope = lua(
        """
local log = app.integrations.buildkite.get_job_log({
organization = "acme-inc",
pipeline = "deploy",
number = 42,
job_id = "b63254c0-3271-4a98-8270-7cfbd6c2f14e",
})
return log.content:match("Rolled out %d/%d tasks")"""
    )
    assert envelope["result"] == ["Rolled out 6/6 tasks"]


def test_raw_helpers():
    envelope = lua(
        """
local user = app.integrations.buildkite.api_get({
path = "/user",
})
return user.name"""
    )
    assert envelope["result"] == ["Ada Lovelace"]
