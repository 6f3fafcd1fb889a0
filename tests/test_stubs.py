"""LuaCATS stubs: every function and record annotated, every file valid Lua, names from
configuration that a stub cannot hold left out."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import lupa.lua54 as lupa
import pytest
from click.testing import CliRunner

from kosmo_lua.cli import main
from kosmo_lua.config import Config
from kosmo_lua.integrations import load
from kosmo_lua.mcp.client import MAX_TOOLS
from kosmo_lua.mcp.servers import load_servers, trust
from kosmo_lua.mcp.stubs import MAX_PROPERTIES, servers_stub
from kosmo_lua.stubs import HEADER, stub_files

BUILDKITE = load()[0]


def _load_error(text: str) -> str | None:
    """What Lua's ``load`` says of ``text``: None when it compiles."""
    lua = lupa.LuaRuntime()
    error: str | None = lua.eval("function(t) local _, e = load(t, 'stub'); return e end")(text)
    return error


def _write(tmp_path: Path, *args: str) -> Path:
    out = tmp_path / "stubs"
    done = CliRunner().invoke(main, ["integrations:stubs", "--output", str(out), *args])
    assert done.exit_code == 0, done.output
    assert f"Wrote LuaCATS stubs to {out}/" in done.output
    return out


def test_every_function_and_record_is_annotated(tmp_path):
    text = (_write(tmp_path) / "buildkite.lua").read_text()
    assert text.startswith("---@meta\n")
    for tool in BUILDKITE.tools:
        block = text.split(f"function buildkite.{tool.name}(args) end")[0].rsplit("\n\n", 1)[1]
        assert f"---@param args? buildkite.{tool.name}.args" in block
        assert re.search(r"---@return \S", block), tool.name
        assert "---@overload fun(" in block
        for param in tool.params:
            assert f"---@field {param.name}{'' if param.required else '?'} " in text
    for record in BUILDKITE.records.values():
        assert f"---@class buildkite.{record.name}\n" in text
    assert "---@return buildkite.Build[]\n" in text  # list_builds
    assert "---@field jobs? buildkite.Job[] " in text
    assert "---@return buildkite.JobLog|string\n" in text
    assert "---@field default buildkite " in text


def test_each_file_is_lua_the_embedded_interpreter_loads(tmp_path):
    out = _write(tmp_path)
    assert _load_error("local x = = 1") is not None  # the check can fail
    for path in out.glob("*.lua"):
        assert _load_error(path.read_text()) is None, path.name
    luarc = json.loads((out / ".luarc.json").read_text())
    assert luarc["runtime.version"] == "Lua 5.4"


def test_host_stub_covers_the_libraries(tmp_path):
    text = (_write(tmp_path) / "kosmo.lua").read_text()
    for name in (
        "app.parallel",
        "app.map",
        "dump",
        "sleep",
        "docs.read",
        "docs.list",
        "docs.search",
        "json.decode",
        "json.encode",
        "regex.match",
        "regex.match_all",
        "regex.gsub",
        "mcp.call",
        "mcp.tools",
    ):
        assert f"function {name}(" in text
    assert "---@field buildkite buildkite" in text


def test_accounts_become_fields_and_hostile_names_are_left_out(kosmo_home, tmp_path):
    config = Config.load(kosmo_home)
    config.set_account("buildkite", "work", {"access_token": "tok-never-in-stubs"})
    config.set_account("buildkite", "x\nfunction evil() end --", {"access_token": "t"})
    config.save()
    out = _write(tmp_path)
    text = (out / "buildkite.lua").read_text()
    assert "---@field work buildkite The account work." in text
    assert "evil" not in text and "tok-never-in-stubs" not in text
    assert _load_error(text) is None


def test_descriptions_cannot_break_out_of_a_comment():
    from dataclasses import replace

    from kosmo_lua.tools import Integration

    tool = replace(BUILDKITE.tools[0], summary="Line one.\nos.exit(1) -- and more", params=())
    integration = Integration(
        name="ci",
        title="CI",
        summary="CI.\nerror('x')",
        tools=(tool,),
        credentials=(),
        records=BUILDKITE.records,
    )
    text = stub_files([integration], {}, [])["ci.lua"]
    assert "\nos.exit" not in text and "\nerror(" not in text
    assert "---Line one. os.exit(1) -- and more" in text


def test_an_unwritable_output_is_a_usage_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    done = CliRunner().invoke(main, ["integrations:stubs", "--output", str(blocker / "x")])
    assert done.exit_code == 2 and "Cannot write stubs" in done.output


def test_a_link_planted_in_the_output_folder_is_replaced_not_written_through(tmp_path):
    # The default output is inside the project: a hostile checkout could ship
    # .kosmo-stubs/kosmo.lua as a link to a file of the user's.
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    out = tmp_path / "stubs"
    out.mkdir()
    for name in ("kosmo.lua", "buildkite.lua", ".luarc.json"):
        (out / name).symlink_to(victim)
    _write(tmp_path)
    assert victim.read_text() == "precious\n"
    for name in ("kosmo.lua", "buildkite.lua", ".luarc.json"):
        assert not (out / name).is_symlink()
    assert (out / "kosmo.lua").read_text().startswith("---@meta")
    assert sorted(p.name for p in out.iterdir()) == [".luarc.json", "buildkite.lua", "kosmo.lua"]


def test_an_output_folder_that_is_a_link_is_refused(tmp_path, monkeypatch):
    # A hostile checkout could ship .kosmo-stubs itself as a link to a folder of the user's.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / ".kosmo-stubs").symlink_to(elsewhere)
    monkeypatch.chdir(tmp_path)
    done = CliRunner().invoke(main, ["integrations:stubs"])
    assert done.exit_code == 2
    assert "stubs are not written through links" in done.output
    assert list(elsewhere.iterdir()) == []


@pytest.mark.skipif(not shutil.which("lua-language-server"), reason="lua-language-server absent")
def test_lua_language_server_finds_no_problems(tmp_path):
    out = _write(tmp_path)
    (out / "workflow.lua").write_text(
        "local bk = app.integrations.buildkite\n"
        'local b = bk.get_build{organization = "acme-inc", pipeline = "web", number = 1}\n'
        "print(b.number + 1, b.jobs[1].id)\n"
    )
    done = subprocess.run(
        ["lua-language-server", "--check", str(out), "--checklevel=Warning"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


# MCP servers: typed from the tools they list, when they may start ------------------------------

FAKE = str(Path(__file__).parent / "mcp_fixtures" / "fake_server.py")
SECRET = "s3cr3t-literal-in-the-definition"


def _define(path: Path, **servers: dict[str, str]) -> None:
    """``servers``: name → the fake server's environment (``FAKE_MCP_MODE`` …)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(
            {
                "mcpServers": {
                    name: {"command": sys.executable, "args": [FAKE], "env": env}
                    for name, env in servers.items()
                }
            }
        ),
        encoding="utf-8",
    )


def _stubs(tmp_path: Path) -> tuple[Path, str]:
    """Writes the stubs; the folder and what the command said on stderr."""
    out = tmp_path / "stubs"
    done = CliRunner().invoke(main, ["integrations:stubs", "--output", str(out)])
    assert done.exit_code == 0, done.output
    for path in out.glob("*.lua"):
        assert _load_error(path.read_text()) is None, path.name
    return out, done.stderr


def test_a_trusted_servers_tools_are_typed_from_their_input_schemas(
    kosmo_home, tmp_path, monkeypatch
):
    _define(tmp_path / "project" / ".mcp.json", fake={})
    _define(kosmo_home / "mcp.json", shared={})  # global: trusted as the user's own
    monkeypatch.chdir(tmp_path / "project")
    (project,) = [s for s in load_servers(Path.cwd(), kosmo_home) if s.name == "fake"]
    trust("fake", project, kosmo_home)
    out, stderr = _stubs(tmp_path)
    assert stderr == ""
    host, text = (out / "kosmo.lua").read_text(), (out / "mcp.lua").read_text()
    assert "---@field fake kosmo.mcp.fake\n" in host
    assert "---@field shared kosmo.mcp.shared\n" in host
    assert "---@class kosmo.mcp.fake.add.args\n---@field a number A\n---@field b number B\n" in text
    assert "---@field reason? string Reason\n" in text  # has a default: optional
    assert "---@class kosmo.mcp.fake.add.result\n---@field sum number Sum\n" in text
    assert (
        "---@field add fun(args: kosmo.mcp.fake.add.args): kosmo.mcp.fake.add.result"
        " Adds two numbers.\n"
    ) in text
    assert "---@field echo fun(args: kosmo.mcp.fake.echo.args): any " in text  # text only
    assert "---@field pid fun(args?: kosmo.mcp.fake.pid.args): any " in text  # nothing required
    assert "---@field weird_name_tool fun(" in text  # "Weird-Name.Tool", as app.mcp calls it
    assert "---@class kosmo.mcp.shared\n" in text


def test_an_untrusted_or_broken_server_keeps_the_generic_stub_and_says_why(
    kosmo_home, tmp_path, monkeypatch
):
    pidfile = tmp_path / "started"
    _define(
        tmp_path / "project" / ".mcp.json", fake={"FAKE_MCP_PIDFILE": str(pidfile), "KEY": SECRET}
    )
    _define(kosmo_home / "mcp.json", broken={"FAKE_MCP_MODE": "crash", "KEY": SECRET})
    monkeypatch.chdir(tmp_path / "project")
    out, stderr = _stubs(tmp_path)
    assert not pidfile.exists()  # an untrusted server is never started
    host = (out / "kosmo.lua").read_text()
    assert "---@field fake kosmo.mcp_server\n" in host
    assert "---@field broken kosmo.mcp_server\n" in host
    assert not (out / "mcp.lua").exists()
    lines = stderr.splitlines()
    assert len(lines) == 2, stderr
    untrusted, broken = sorted(lines, key=lambda line: "broken" in line)
    assert untrusted.startswith("app.mcp.fake is untyped")
    assert "is not trusted" in untrusted and "kosmo mcp:trust fake" in untrusted
    assert broken.startswith("app.mcp.broken is untyped") and "failed to start" in broken
    assert SECRET not in stderr and "widget database" not in stderr  # not the server's stderr


def test_hostile_tool_names_descriptions_and_schemas_stay_inside_comments(
    kosmo_home, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    _define(kosmo_home / "mcp.json", fake={"FAKE_MCP_MODE": "hostile"})
    out, _ = _stubs(tmp_path)
    text = (out / "mcp.lua").read_text()
    assert text.startswith(HEADER)
    for line in text.removeprefix(HEADER).splitlines():
        assert line == "" or line.startswith("---"), line
        assert not re.match(r"---\s*@(class|meta)\s+(injected|evil)", line), line
        field = re.match(r"---@field (\S+)", line)
        if field:
            assert re.fullmatch(r'[a-z_][a-z0-9_]*\??|\["[\w-]+"\]\??', field[1]), line
    end, three_d = "kosmo.mcp.fake.end", "kosmo.mcp.fake.3d"
    assert f'---@field ["end"] fun(args: {end}.args): {end}.result ]] ---@class' in text
    assert f'---@field ["3d"] fun(args: {three_d}.args): {three_d}.result \\@class evil ' in text
    assert text.count("---@class kosmo.mcp.fake.end.result\n---@field plain string ]] ---@") == 1
    assert "---@field tool_____field_injected_any fun(" in text  # the name's newline is a "_"
    assert '---@field ["with-dash"] integer A name Lua cannot spell.\n' in text
    assert "---1 argument(s) whose names a stub cannot hold left out.\n" in text
    assert "---1 tool(s) whose Lua name is taken or unusable left out.\n" in text  # Tool, tool
    assert '---@field mode? "fast"|"slow"\n' in text
    assert "---@field choice? string\n" in text  # an enum value that is no safe literal
    assert "---@field tags? string[]\n---@field options? table\n" in text


def test_a_server_listing_tools_without_end_is_stopped_and_its_stub_stays_small(
    kosmo_home, tmp_path, monkeypatch
):
    """Endless pages of tools (a 2,000-property schema on each page, 25-level and non-object
    ones): the listing stops at the client's bound and the stub says why, quickly."""
    monkeypatch.chdir(tmp_path)
    _define(kosmo_home / "mcp.json", flood={"FAKE_MCP_MODE": "flood"})
    started = time.monotonic()
    out, stderr = _stubs(tmp_path)
    assert time.monotonic() - started < 60
    assert not (out / "mcp.lua").exists()  # the generic stub: nothing of the flood's
    assert stderr.startswith("app.mcp.flood is untyped")
    assert f"more than {MAX_TOOLS} tools" in stderr


def test_a_giant_input_schema_makes_a_bounded_stub():
    """2,000 properties, an enum of 5,000 values and 1,000 tools: each tool's class keeps at
    most MAX_PROPERTIES fields, and an enum that long is typed by its kind."""
    giant = {
        "type": "object",
        "properties": {
            **{f"p{n}": {"type": "string", "description": "d" * 500} for n in range(2000)},
            "many": {"type": "string", "enum": [f"v{n}" for n in range(5000)]},
        },
    }
    rows = [{"lua_name": f"t{n}", "input_schema": giant} for n in range(1000)]
    lines = servers_stub({"flood": rows})
    assert sum(len(line) for line in lines) < 1000 * (MAX_PROPERTIES + 5) * 220
    assert (
        lines.count(
            f"---{2001 - MAX_PROPERTIES} argument(s) left out (a stub keeps {MAX_PROPERTIES})."
        )
        == 1000
    )
    one = servers_stub(
        {
            "s": [
                {
                    "lua_name": "t",
                    "input_schema": {"properties": {"many": giant["properties"]["many"]}},
                }
            ]
        }
    )
    assert "---@field many? string" in one
