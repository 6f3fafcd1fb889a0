"""End to end: MCP servers from Lua and the CLI, through the installed `kosmo`.

The server is tests/mcp_fixtures/fake_server.py, a real MCP server spoken to over stdio.
"""

from __future__ import annotations

import json
import sys

import pytest
from conftest import REPO
from helpers import gone

pytest.importorskip("mcp")

FAKE = str(REPO / "tests" / "mcp_fixtures" / "fake_server.py")


@pytest.fixture
def project(tmp_path, kosmo, monkeypatch):
    """A project folder whose .mcp.json defines the fake server, trusted; kosmo runs there."""
    folder = tmp_path / "project"
    folder.mkdir()
    monkeypatch.chdir(folder)
    added = kosmo("mcp:add", "fake", "--", sys.executable, FAKE)
    assert added.returncode == 0, added.stderr
    return folder


def trusted(kosmo) -> None:
    assert kosmo("mcp:trust", "fake").returncode == 0


def lua(kosmo, code: str, *options: str, command: str = "integrations:lua") -> dict:
    done = kosmo(command, "-e", code, "--json", *options)
    return done.json()


def test_untrusted_project_server_needs_trust_and_force_is_not_trust(project, kosmo):
    for force in ((), ("--force",)):
        refused = lua(kosmo, 'return app.mcp.fake.echo{text = "hi"}', *force)
        assert "is not trusted" in refused["error"] and "kosmo mcp:trust fake" in refused["error"]
    trusted(kosmo)
    assert lua(kosmo, 'return app.mcp.fake.echo{text = "hi"}')["result"] == ["hi"]


def test_lua_reaches_tools_resources_and_prompts(project, kosmo):
    trusted(kosmo)
    envelope = lua(
        kosmo,
        """
        local names = {}
        for _, t in ipairs(mcp.tools("fake")) do names[#names + 1] = t.qualified end
        local servers = mcp.servers()
        return {
          servers = {servers[1].name, servers[1].trusted},
          has_echo = table.concat(names, ","):find("fake.echo", 1, true) ~= nil,
          schema = mcp.schema("fake.add").properties.a.type,
          echo = app.mcp.fake.echo{text = "hello"},
          add = mcp.call("fake.add", {a = 2, b = 3}),
          json_text = app.mcp.fake.json_text{},
          weird = app.mcp.fake.weird_name_tool{},
          resource = mcp.read_resource("fake", "memo://greeting")[1].text,
          resources = #mcp.resources("fake"),
          prompts = mcp.prompts("fake")[1].name,
          prompt = mcp.get_prompt("fake", "review", {topic = "tests"}).messages[1].text,
        }
        """,
    )
    assert envelope["success"], envelope["error"]
    result = envelope["result"][0]
    assert result["servers"] == ["fake", True]
    assert result["has_echo"] is True
    assert result["schema"] in ("number", "integer")
    assert result["echo"] == "hello"
    assert result["add"] == {"sum": 5}
    assert isinstance(result["json_text"], dict)
    assert result["resource"] == "Hello from the fake server"
    assert result["resources"] == 1 and result["prompts"] == "review"
    assert "tests" in result["prompt"]
    paths = [call["path"] for call in envelope["integration_calls"]]
    assert "mcp.fake.echo" in paths and "mcp.fake.add" in paths


def test_tool_errors_raise_with_the_server_message(project, kosmo):
    trusted(kosmo)
    envelope = lua(kosmo, "local ok, err = pcall(app.mcp.fake.fail, {}) return ok, tostring(err)")
    ok, message = envelope["result"]
    assert ok is False and message
    unknown = lua(kosmo, "return app.mcp.fake.nope{}")
    assert "nope" in unknown["error"]


def test_mcp_lua_offers_only_the_mcp_helpers(project, kosmo):
    trusted(kosmo)
    envelope = lua(
        kosmo,
        "return docs == nil, type(json), type(regex), type(mcp), app.mcp.fake.echo{text = 'x'}",
        command="mcp:lua",
    )
    assert envelope["result"] == [True, "table", "table", "table", "x"]
    refused = lua(kosmo, "return app.integrations.buildkite.get_current_user()", command="mcp:lua")
    assert "kosmo mcp:lua offers only mcp.* and app.mcp.*" in refused["error"]


def test_no_server_process_outlives_a_run(project, kosmo):
    trusted(kosmo)
    pid = lua(kosmo, "return app.mcp.fake.pid{}")["result"][0]
    assert isinstance(pid, int) and gone(pid)


def test_no_server_process_outlives_a_run_stopped_by_a_limit(project, kosmo):
    """The worker is killed mid-C-call; the supervisor ends the server it had started."""
    trusted(kosmo)
    envelope = lua(
        kosmo,
        "print(app.mcp.fake.pid{}) string.find(string.rep('a', 400), '.-.-.-.-.-b$')",
        "--cpu-limit",
        "3",
    )
    assert envelope["error"].startswith("CPU limit exceeded")
    assert gone(int(envelope["output"]))


def test_cli_list_tools_call_remove(project, kosmo):
    listed = json.loads(kosmo("mcp:list", "--json").stdout)
    assert listed[0]["name"] == "fake" and listed[0]["trusted"] is False
    trusted(kosmo)
    tools = json.loads(kosmo("mcp:tools", "fake", "--json").stdout)
    assert "fake.add" in {t["qualified"] for t in tools}
    called = kosmo("mcp:call", "fake.add", "--arg", "a=1", "--arg", "b=2", "--json")
    assert json.loads(called.stdout)["result"] == {"sum": 3}
    echoed = kosmo("mcp:call", "fake.echo", "--arg", "text=007")
    assert json.loads(echoed.stdout) == "007"  # typed from the schema: a string stays one
    assert kosmo("mcp:remove", "fake").returncode == 0
    assert json.loads(kosmo("mcp:list", "--json").stdout) == []


def test_global_servers_are_trusted(kosmo, kosmo_home, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    kosmo("mcp:add", "fake", "--global", "--", sys.executable, FAKE)
    assert json.loads(kosmo("mcp:list", "--json").stdout)[0]["trusted"] is True
    assert lua(kosmo, 'return app.mcp.fake.echo{text = "g"}')["result"] == ["g"]


def test_a_server_hanging_at_start_does_not_outlive_a_killed_run(project, kosmo, tmp_path):
    """The worker is killed by --timeout while the server never finishes starting."""
    pidfile = tmp_path / "hang.pid"
    kosmo(
        "mcp:add",
        "hang",
        "--env",
        "FAKE_MCP_MODE=hang",
        "--env",
        f"FAKE_MCP_PIDFILE={pidfile}",
        "--",
        sys.executable,
        FAKE,
    )
    assert kosmo("mcp:trust", "hang").returncode == 0
    envelope = lua(
        kosmo,
        'return app.mcp.hang.echo{text = "x"}',
        "--timeout",
        "2",
        command="mcp:lua",
    )
    assert envelope["error"].startswith("Time limit exceeded")
    (pid,) = [int(line) for line in pidfile.read_text().split()]
    assert gone(pid)


def test_bad_arguments_to_mcp_functions_fail_before_any_server_starts(project, kosmo):
    trusted(kosmo)
    envelope = lua(kosmo, 'return mcp.call("fake.add", "not a table")')
    assert envelope["error"] == 'mcp.call("server.tool", args): argument 2 must be a table'
    assert envelope["integration_calls"] == []


def test_mcp_calls_of_parallel_branches_overlap(project, kosmo):
    """Three slow tool calls from app.map, the first of which starts the server: all answer,
    in order, and their calls overlap in time."""
    trusted(kosmo)
    envelope = lua(
        kosmo,
        "return app.map({'a', 'b', 'c'}, function(text)\n"
        "  app.mcp.fake.slow{seconds = 0.3}\n"
        "  return app.mcp.fake.echo{text = text}\n"
        "end)",
        command="mcp:lua",
    )
    assert envelope["result"] == [["a", "b", "c"]], envelope["error"]
    slow = [c for c in envelope["integration_calls"] if c["path"] == "mcp.fake.slow"]
    assert len(slow) == 3
    assert max(c["startMs"] for c in slow) < min(c["endMs"] for c in slow)
