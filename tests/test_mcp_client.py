"""MCP configuration files, and McpHub against a real MCP server process over stdio."""

from __future__ import annotations

import json
import stat
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import gone

from kosmo_lua.errors import ConfigFileError, HostError
from kosmo_lua.mcp.errors import McpConfigError, McpError, McpServerFailed, McpToolError
from kosmo_lua.mcp.servers import (
    ServerConfig,
    add_server,
    load_servers,
    lua_name,
    remove_server,
    trust,
)

pytest.importorskip("mcp")

from kosmo_lua.mcp.client import McpHub

FAKE_SERVER = str(Path(__file__).parent / "mcp_fixtures" / "fake_server.py")


def fake(name: str = "fake", **env: str) -> ServerConfig:
    return ServerConfig(
        name=name, type="stdio", command=sys.executable, args=[FAKE_SERVER], env=env
    )


def write(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


# Configuration files ---------------------------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path) -> Path:
    path = tmp_path / "project"
    path.mkdir()
    return path


def test_reads_all_four_files_and_the_global_definition_wins(project: Path, kosmo_home: Path):
    write(
        project / ".mcp.json",
        {"mcpServers": {"shared": {"command": "from-claude"}, "both": {"command": "claude"}}},
    )
    write(
        project / ".vscode" / "mcp.json",
        """{
          // VS Code writes "servers" and allows comments and trailing commas
          "servers": {
            "shared": {"type": "stdio", "command": "from-vscode"},
            "both": {"command": "vscode"},
            "vscode-only": {"type": "http", "url": "https://example.test/mcp",},
          },
          "inputs": [],
        }""",
    )
    write(
        project / ".cursor" / "mcp.json",
        {"mcpServers": {"shared": {"command": "from-cursor"}, "cursor-only": {"command": "c"}}},
    )
    write(
        kosmo_home / "mcp.json",
        {"mcpServers": {"shared": {"command": "from-global"}, "global-only": {"command": "g"}}},
    )

    servers = {s.name: s for s in load_servers(project, kosmo_home)}

    assert list(servers) == ["both", "vscode-only", "cursor-only", "shared", "global-only"]
    assert servers["shared"].command == "from-global"
    assert servers["shared"].source == str(kosmo_home / "mcp.json")
    assert servers["both"].command == "claude"  # among project files, the first wins
    assert servers["vscode-only"].type == "http"
    assert servers["vscode-only"].url == "https://example.test/mcp"
    assert servers["cursor-only"].source == str(project / ".cursor" / "mcp.json")
    assert servers["global-only"].project is False
    assert servers["global-only"].trusted is True
    assert all(servers[n].project for n in ("both", "vscode-only", "cursor-only"))


def test_types_are_declared_or_inferred(project: Path, kosmo_home: Path):
    write(
        project / ".mcp.json",
        {
            "mcpServers": {
                "a": {"command": "x"},
                "b": {"url": "https://b.test/mcp"},
                "c": {"type": "streamable-http", "url": "https://c.test/mcp"},
                "d": {"type": "sse", "url": "https://d.test/sse"},
                "e": {"args": ["no command"]},
                "f": {"type": "websocket", "url": "wss://f.test"},
            }
        },
    )
    servers = {s.name: s for s in load_servers(project, kosmo_home)}
    assert [servers[n].type for n in "abcdf"] == ["stdio", "http", "http", "sse", "websocket"]
    assert servers["e"].problem and "neither 'command' nor 'url'" in servers["e"].problem
    assert servers["f"].problem and "not stdio or http" in servers["f"].problem
    assert servers["a"].problem is None


def test_variables_are_expanded_from_the_environment(
    project: Path, kosmo_home: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("MCP_TEST_TOKEN", "s3cret")
    monkeypatch.setenv("MCP_TEST_EMPTY", "")
    monkeypatch.delenv("MCP_TEST_UNSET", raising=False)
    write(
        kosmo_home / "mcp.json",
        {
            "mcpServers": {
                "stdio": {
                    "command": "${MCP_TEST_UNSET:-npx}",
                    "args": ["--token=${MCP_TEST_TOKEN}", "${MCP_TEST_EMPTY:-fallback}"],
                    "env": {"TOKEN": "${env:MCP_TEST_TOKEN}", "PLAIN": "value"},
                },
                "web": {
                    "url": "https://${MCP_TEST_UNSET:-api.test}/mcp",
                    "headers": {"Authorization": "Bearer ${MCP_TEST_TOKEN}"},
                },
                "broken": {"command": "run", "env": {"KEY": "${MCP_TEST_UNSET}"}},
            }
        },
    )
    servers = {s.name: s.launch() for s in load_servers(project, kosmo_home)}
    stdio, web, broken = servers["stdio"], servers["web"], servers["broken"]
    assert stdio.command == "npx"
    assert stdio.args == ["--token=s3cret", "fallback"]
    assert stdio.env == {"TOKEN": "s3cret", "PLAIN": "value"}
    assert web.url == "https://api.test/mcp"
    assert web.headers == {"Authorization": "Bearer s3cret"}
    assert stdio.missing == [] and broken.missing == ["MCP_TEST_UNSET"]
    with McpHub([broken]) as hub, pytest.raises(McpError, match="MCP_TEST_UNSET"):
        hub.tools("broken")


def test_enabled_and_disabled(project: Path, kosmo_home: Path):
    write(
        kosmo_home / "mcp.json",
        {
            "mcpServers": {
                "on": {"command": "x"},
                "off": {"command": "x", "disabled": True},
                "also-off": {"command": "x", "enabled": False},
            }
        },
    )
    servers = {s.name: s for s in load_servers(project, kosmo_home)}
    assert [servers[n].enabled for n in ("on", "off", "also-off")] == [True, False, False]
    hub = McpHub(list(servers.values()))
    with hub, pytest.raises(McpError, match=r"MCP server 'off' is disabled in .*mcp\.json"):
        hub.call("off.anything", {})


def test_trust_is_keyed_by_name_and_fingerprint(project: Path, kosmo_home: Path):
    definition = {"command": "npx", "args": ["-y", "server"]}
    write(project / ".mcp.json", {"mcpServers": {"tools": definition}})
    (server,) = load_servers(project, kosmo_home)
    assert server.project and not server.trusted

    trust_file = trust("tools", server, kosmo_home)
    assert trust_file == kosmo_home / "mcp-trust.json"
    assert stat.S_IMODE(trust_file.stat().st_mode) == 0o600
    assert load_servers(project, kosmo_home)[0].trusted

    # Another argument is another program: it needs trusting again.
    write(project / ".mcp.json", {"mcpServers": {"tools": {**definition, "args": ["-y", "evil"]}}})
    assert not load_servers(project, kosmo_home)[0].trusted
    # So does an environment that changes what the same command does.
    write(project / ".mcp.json", {"mcpServers": {"tools": {**definition, "env": {"X": "1"}}}})
    assert not load_servers(project, kosmo_home)[0].trusted
    # The same definition under another name is not trusted either.
    write(project / ".mcp.json", {"mcpServers": {"other": definition}})
    assert not load_servers(project, kosmo_home)[0].trusted
    write(project / ".mcp.json", {"mcpServers": {"tools": definition}})
    assert load_servers(project, kosmo_home)[0].trusted


def test_add_and_remove_servers(project: Path, kosmo_home: Path):
    write(project / ".mcp.json", {"mcpServers": {"existing": {"command": "x"}}, "other": 1})

    path = add_server(
        "local",
        scope="project",
        project_dir=project,
        home=kosmo_home,
        command="python",
        args=["server.py"],
        env={"A": "1"},
    )
    assert path == project / ".mcp.json"
    data = json.loads(path.read_text())
    assert data["other"] == 1
    assert data["mcpServers"]["existing"] == {"command": "x"}
    assert data["mcpServers"]["local"] == {
        "type": "stdio",
        "command": "python",
        "args": ["server.py"],
        "env": {"A": "1"},
    }

    path = add_server(
        "remote",
        scope="global",
        project_dir=project,
        home=kosmo_home,
        url="https://api.test/mcp",
        headers={"Authorization": "Bearer t"},
    )
    assert path == kosmo_home / "mcp.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text())["mcpServers"]["remote"]["type"] == "http"

    with pytest.raises(McpConfigError, match="already defined"):
        add_server("local", scope="project", project_dir=project, home=kosmo_home, command="y")
    with pytest.raises(McpConfigError, match="either a command"):
        add_server("x", scope="project", project_dir=project, home=kosmo_home)
    with pytest.raises(McpConfigError, match="Invalid MCP server name"):
        add_server("a.b", scope="project", project_dir=project, home=kosmo_home, command="y")

    names = [s.name for s in load_servers(project, kosmo_home)]
    assert names == ["existing", "local", "remote"]

    write(project / ".cursor" / "mcp.json", {"mcpServers": {"cursor": {"command": "c"}}})
    assert remove_server("cursor", project, kosmo_home) == project / ".cursor" / "mcp.json"
    assert remove_server("remote", project, kosmo_home) == kosmo_home / "mcp.json"
    assert remove_server("local", project, kosmo_home) == project / ".mcp.json"
    assert [s.name for s in load_servers(project, kosmo_home)] == ["existing"]
    with pytest.raises(McpConfigError, match="No MCP server named 'local'"):
        remove_server("local", project, kosmo_home)


def test_a_broken_file_names_itself(project: Path, kosmo_home: Path):
    write(project / ".mcp.json", "{not json")
    with pytest.raises(ConfigFileError, match=r"\.mcp\.json"):
        load_servers(project, kosmo_home)


def test_lua_names():
    assert lua_name("GitHub") == "github"
    assert lua_name("my-server.v2") == "my_server_v2"
    assert lua_name("Weird-Name.Tool") == "weird_name_tool"
    assert lua_name("ok_name_1") == "ok_name_1"


# A real server over stdio ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def events() -> list[tuple[str, Any]]:
    return []


@pytest.fixture(scope="module")
def hub(events: list[tuple[str, Any]]) -> Iterator[McpHub]:
    """One hub and one fake server process for the read-only checks of this module."""
    hub = McpHub([fake()], timeout=20, report=lambda kind, value: events.append((kind, value)))
    yield hub
    hub.close()


def test_lists_tools_with_lua_names_and_schemas(hub: McpHub):
    tools = {row["name"]: row for row in hub.tools("fake")}
    assert {"echo", "add", "json_text", "fail", "Weird-Name.Tool", "pid"} <= set(tools)
    add = tools["add"]
    assert add["server"] == "fake"
    assert add["qualified"] == "fake.add"
    assert add["description"] == "Adds two numbers."
    assert add["input_schema"]["required"] == ["a", "b"]
    assert tools["Weird-Name.Tool"]["lua_name"] == "weird_name_tool"
    assert hub.schema("fake.echo")["properties"]["text"]["type"] == "string"
    assert [row["server"] for row in hub.tools()] == ["fake"] * len(tools)


def test_calls_each_kind_of_result(hub: McpHub):
    assert hub.call("fake.echo", {"text": "hello"}) == "hello"
    assert hub.call("fake.add", {"a": 2, "b": 3}) == {"sum": 5}
    assert hub.call("fake.json_text", {}) == {"items": [1, 2, 3], "ok": True}
    assert hub.call("fake.Weird-Name.Tool") == "weird"


def test_an_error_result_raises_with_the_servers_message(hub: McpHub):
    with pytest.raises(McpToolError, match="the widget is broken") as caught:
        hub.call("fake.fail", {"reason": "the widget is broken"})
    assert isinstance(caught.value, HostError)
    assert caught.value.tool == "mcp.fake.fail"
    assert "the widget is broken" in caught.value.fields()["message"]


def test_calls_are_reported(hub: McpHub, events: list[tuple[str, Any]]):
    events.clear()
    hub.call("fake.echo", {"text": "x"})
    with pytest.raises(McpToolError):
        hub.call("fake.fail", {})
    (ok, failed) = [value for kind, value in events if kind == "call"]
    assert ok["path"] == "mcp.fake.echo" and ok["status"] == "ok" and ok["durationMs"] >= 0
    assert failed["path"] == "mcp.fake.fail" and failed["status"] == "error"
    assert "widget" in failed["error"]


def test_resources_and_prompts(hub: McpHub):
    (resource,) = hub.resources("fake")
    assert resource["uri"] == "memo://greeting"
    assert hub.read_resource("fake", "memo://greeting") == [
        {"uri": "memo://greeting", "mimeType": "text/plain", "text": "Hello from the fake server"}
    ]
    (prompt,) = hub.prompts("fake")
    assert prompt["name"] == "review"
    assert prompt["arguments"] == [{"name": "topic", "required": True}]
    assert hub.get_prompt("fake", "review", {"topic": "the parser"}) == {
        "description": "Asks for a review.",
        "messages": [{"role": "user", "text": "Please review the parser."}],
    }


def test_lua_names_resolve_to_tools(hub: McpHub):
    assert hub.resolve_lua("fake", "weird_name_tool") == "fake.Weird-Name.Tool"
    assert hub.resolve_lua("fake", "echo") == "fake.echo"
    with pytest.raises(McpError, match=r"has no tool 'ecko'\. Did you mean: echo"):
        hub.resolve_lua("fake", "ecko")


def test_unknown_names_suggest_the_closest(hub: McpHub):
    with pytest.raises(McpError, match=r"Unknown MCP server 'fak'\. Did you mean: fake"):
        hub.tools("fak")
    with pytest.raises(McpError, match=r"no tool 'ech'\. Did you mean: echo"):
        hub.call("fake.ech", {})
    with pytest.raises(McpError, match="no MCP servers are configured"):
        McpHub([]).tools("anything")


def test_one_process_serves_every_call(hub: McpHub):
    first = hub.call("fake.pid", {})
    assert hub.call("fake.pid", {}) == first
    assert hub.pids["fake"] == first


# Lifecycle, trust and failures -------------------------------------------------------------------


def test_close_leaves_no_process_behind(tmp_path: Path):
    pidfile = tmp_path / "pids"
    hub = McpHub([fake(FAKE_MCP_PIDFILE=str(pidfile))], timeout=20)
    pid = hub.call("fake.pid", {})
    hub.call("fake.echo", {"text": "again"})
    assert pidfile.read_text().split() == [str(pid)]  # started once
    hub.close()
    assert gone(pid)
    with pytest.raises(McpError, match="closed"):
        hub.call("fake.echo", {"text": "late"})


def test_untrusted_project_server_is_refused_even_when_forced(project: Path, kosmo_home: Path):
    write(
        project / ".mcp.json",
        {"mcpServers": {"proj": {"command": sys.executable, "args": [FAKE_SERVER]}}},
    )
    servers = load_servers(project, kosmo_home)
    for force in (False, True):
        with McpHub(servers, force=force) as hub:
            with pytest.raises(McpError) as caught:
                hub.call("proj.echo", {"text": "x"})
            assert str(caught.value) == (
                f"MCP server 'proj' is defined by {project / '.mcp.json'} and is not trusted:"
                f" check what it runs ({sys.executable} {FAKE_SERVER}), then run"
                " `kosmo mcp:trust proj`"
            )
            assert hub.tools() == []  # listing everything skips what may not run
            assert hub.pids == {}
    trust("proj", servers[0], kosmo_home)
    with McpHub(load_servers(project, kosmo_home), timeout=20) as hub:
        assert hub.call("proj.echo", {"text": "trusted"}) == "trusted"


def test_a_server_that_crashes_on_start_names_itself_and_its_stderr():
    with McpHub([fake("crashy", FAKE_MCP_MODE="crash")], timeout=20) as hub:
        with pytest.raises(McpServerFailed) as caught:
            hub.call("crashy.echo", {"text": "x"})
        message = str(caught.value)
        assert message.startswith("MCP server 'crashy' failed to start")
        assert "cannot open the widget database" in message
        # The failure sticks: no second start on every call.
        with pytest.raises(McpServerFailed, match="crashy"):
            hub.tools("crashy")


def test_a_server_that_never_answers_times_out(tmp_path: Path):
    pidfile = tmp_path / "pids"
    started = time.monotonic()
    hub = McpHub([fake("sleepy", FAKE_MCP_MODE="hang", FAKE_MCP_PIDFILE=str(pidfile))], timeout=1)
    with (
        hub,
        pytest.raises(McpServerFailed, match=r"MCP server 'sleepy' did not answer within 1 s"),
    ):
        hub.tools("sleepy")
    assert time.monotonic() - started < 6
    assert gone(int(pidfile.read_text().split()[0]))


def test_a_server_that_dies_mid_run_is_reported():
    with McpHub([fake()], timeout=20) as hub:
        pid = hub.call("fake.pid", {})
        with pytest.raises(McpServerFailed, match="MCP server 'fake' stopped unexpectedly"):
            hub.call("fake.die", {})
        with pytest.raises(McpServerFailed, match="stopped unexpectedly"):
            hub.call("fake.echo", {"text": "x"})
    assert gone(pid)


def test_listing_everything_skips_a_broken_server_and_reports_it():
    events: list[tuple[str, Any]] = []
    servers = [fake(), fake("crashy", FAKE_MCP_MODE="crash")]
    with McpHub(servers, timeout=20, report=lambda k, v: events.append((k, v))) as hub:
        rows = hub.tools()
    assert rows and {row["server"] for row in rows} == {"fake"}
    (meta,) = [value for kind, value in events if kind == "meta"]
    assert "crashy" in meta["mcp_errors"]


def test_a_slow_call_times_out_and_the_server_stays_usable():
    with McpHub([fake()], timeout=2.5) as hub:
        hub.tools("fake")  # started within the timeout
        started = time.monotonic()
        with pytest.raises(McpServerFailed, match=r"'fake' did not answer tool slow within 2\.5 s"):
            hub.call("fake.slow", {"seconds": 30})
        assert time.monotonic() - started < 5
        assert hub.call("fake.echo", {"text": "still here"}) == "still here"


def test_a_command_that_does_not_exist():
    server = ServerConfig(name="nothing", type="stdio", command="/nonexistent/mcp-server")
    with McpHub([server]) as hub, pytest.raises(McpServerFailed) as caught:
        hub.tools("nothing")
    assert str(caught.value).startswith("MCP server 'nothing' failed to start:")
    assert "/nonexistent/mcp-server" in str(caught.value)


def test_refusals_are_reported_too():
    events: list[tuple[str, Any]] = []
    with McpHub([], report=lambda k, v: events.append((k, v))) as hub, pytest.raises(McpError):
        hub.call("ghost.tool", {})
    ((kind, entry),) = events
    assert kind == "call" and entry["path"] == "mcp.ghost.tool" and entry["status"] == "error"


def test_sse_servers_are_refused_on_use():
    server = ServerConfig(name="old", type="sse", url="https://old.test/sse")
    with McpHub([server]) as hub, pytest.raises(McpError, match="SSE transport"):
        hub.tools("old")


def test_servers_rows():
    rows = McpHub(
        [fake(), ServerConfig(name="web", type="http", url="https://w.test/mcp")]
    ).servers()
    assert rows[0]["command"] == f"{sys.executable} {FAKE_SERVER}"
    assert rows[1]["url"] == "https://w.test/mcp"
    assert {"name", "type", "enabled", "source", "trusted"} <= set(rows[0])
