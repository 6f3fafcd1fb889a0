"""LuaCATS stubs: every function and record annotated, every file valid Lua, names from
configuration that a stub cannot hold left out."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import lupa.lua54 as lupa
import pytest
from click.testing import CliRunner

from kosmo_lua.cli import main
from kosmo_lua.config import Config
from kosmo_lua.integrations import load
from kosmo_lua.stubs import stub_files

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
