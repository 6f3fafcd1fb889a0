"""Errors on the command line: broken settings files, --json usage errors, mistyped names.

Every command that reads a settings file says which file is broken in one line and exits 2,
never with a traceback; each error carries its exit code, and ``LazyGroup.invoke`` shows it
and exits with it for all of them.
"""

from __future__ import annotations

import re
import signal
from pathlib import Path

import click
import pytest

from kosmo_lua.cli.output import StdoutFailed
from kosmo_lua.errors import ConfigError, ConfigFileError, Failed, HostError, UsageError
from kosmo_lua.mcp.errors import McpConfigError

BROKEN_SETTINGS = {
    "invalid JSON": (
        '{"integrations": {\n  "buildkite": {}\n  "x": 1}}',
        "is not valid JSON (line 3, column 3): Expecting ',' delimiter",
    ),
    "a list": ("[1, 2]", "has the wrong shape: the top level should be an object, not an array"),
    "integrations is a number": (
        '{"integrations": 5}',
        "has the wrong shape: integrations should be an object, not a number",
    ),
    "an account that is not an object": (
        '{"integrations": {"buildkite": {"accounts": {"default": "bkua_x"}}}}',
        "has the wrong shape: integrations.buildkite.accounts.default should be an object,"
        " not a string",
    ),
}

READS_SETTINGS = {
    "integrations:lua": ["integrations:lua", "-e", "return 1"],
    "integrations:call": ["integrations:call", "buildkite.get_build", "--arg", "number=1"],
    "integrations:configure": ["integrations:configure", "buildkite", "--write", "allow"],
    "integrations:status": ["integrations:status"],
    "integrations:list": ["integrations:list", "--json"],
    "mcp:serve": ["mcp:serve"],
}


def one_error_line(stderr: str) -> str:
    assert "Traceback" not in stderr
    assert stderr.count("\n") == 1, stderr
    assert stderr.startswith("Error: "), stderr
    return stderr.removesuffix("\n")


@pytest.mark.parametrize("content, problem", BROKEN_SETTINGS.values(), ids=BROKEN_SETTINGS)
@pytest.mark.parametrize("args", READS_SETTINGS.values(), ids=READS_SETTINGS)
def test_broken_settings_are_one_line_and_exit_2(kosmo, kosmo_home, args, content, problem):
    settings = kosmo_home / "integrations.json"
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text(content)
    done = kosmo(*args)
    assert done.returncode == 2
    assert one_error_line(done.stderr) == f"Error: {settings} {problem}. Fix or remove it."
    assert settings.read_text() == content  # configure did not write over it


@pytest.mark.parametrize(
    "args",
    [["integrations:lua", "-e", "return 1"], [*READS_SETTINGS["integrations:call"]]],
    ids=["integrations:lua", "integrations:call"],
)
def test_broken_settings_with_json_are_an_envelope(kosmo, kosmo_home, args):
    kosmo_home.mkdir(parents=True)
    (kosmo_home / "integrations.json").write_text("{")
    done = kosmo(*args, "--json")
    assert done.returncode == 2
    envelope = done.json()
    assert envelope["success"] is False
    assert envelope["result"] is None
    assert envelope["error"].startswith(f"{kosmo_home / 'integrations.json'} is not valid JSON")


def test_settings_broken_during_a_run_are_a_lua_error(lua, kosmo_home):
    """The worker reads the file on the first call; a file broken after the CLI's check is a
    Lua error with the same words, not an internal error."""
    kosmo_home.mkdir(parents=True)
    (kosmo_home / "integrations.json").write_text('{"integrations": []}')
    result = lua(
        "local ok, err = pcall(app.integrations.buildkite.get_build, 'a', 'b', 1)\n"
        "return ok, tostring(err)"
    )
    ok, message = result.result
    assert ok is False
    assert "integrations.json has the wrong shape: integrations should be an object" in message
    assert "internal error" not in message


BROKEN_MCP = {
    "invalid JSON": ("{not json", "is not valid JSON (line 1, column 2)"),
    "servers in a list": (
        '{"mcpServers": [1]}',
        "has the wrong shape: mcpServers should be an object, not an array",
    ),
}

READS_MCP = {
    "mcp:list": ["mcp:list"],
    "mcp:tools": ["mcp:tools"],
    "mcp:call": ["mcp:call", "files.read"],
    "mcp:lua": ["mcp:lua", "-e", "return 1"],
    "mcp:add": ["mcp:add", "files", "--", "echo"],
    "mcp:remove": ["mcp:remove", "files"],
    "mcp:trust": ["mcp:trust", "files"],
    "mcp:serve": ["mcp:serve"],
}


@pytest.mark.parametrize("content, problem", BROKEN_MCP.values(), ids=BROKEN_MCP)
@pytest.mark.parametrize("args", READS_MCP.values(), ids=READS_MCP)
def test_broken_project_mcp_file_is_one_line_and_exit_2(
    kosmo, tmp_path, monkeypatch, args, content, problem
):
    (tmp_path / ".mcp.json").write_text(content)
    monkeypatch.chdir(tmp_path)
    done = kosmo(*args)
    assert done.returncode == 2
    assert one_error_line(done.stderr).startswith(f"Error: {tmp_path / '.mcp.json'} {problem}")


@pytest.mark.parametrize("name", [".vscode/mcp.json", ".cursor/mcp.json"])
def test_every_project_mcp_file_is_checked(kosmo, tmp_path, monkeypatch, name):
    broken = tmp_path / name
    broken.parent.mkdir()
    broken.write_text('{"servers": {"files": {"command": "echo"},}')  # unclosed
    monkeypatch.chdir(tmp_path)
    done = kosmo("mcp:list")
    assert done.returncode == 2
    assert one_error_line(done.stderr) == (
        f"Error: {broken} is not valid JSON (line 1, column 44): Expecting ',' delimiter."
        " Fix or remove it."
    )


@pytest.mark.parametrize("name", ["mcp.json", "mcp-trust.json"])
def test_broken_global_mcp_files_are_one_line_and_exit_2(kosmo, kosmo_home, name):
    kosmo_home.mkdir(parents=True)
    (kosmo_home / name).write_text('"just a string"')
    done = kosmo("mcp:list")
    assert done.returncode == 2
    assert one_error_line(done.stderr) == (
        f"Error: {kosmo_home / name} has the wrong shape: the top level should be an object,"
        " not a string. Fix or remove it."
    )


def test_mcp_file_with_comments_and_trailing_commas_reads(kosmo, tmp_path, monkeypatch):
    """VS Code's JSON: a comment between the last entry's comma and the brace is fine."""
    (tmp_path / ".mcp.json").write_text(
        '{"mcpServers": {"files": {"command": "echo", "args": ["a // b"]}, // mine\n}}'
    )
    monkeypatch.chdir(tmp_path)
    done = kosmo("mcp:list", "--json")
    assert done.returncode == 0, done.stderr
    assert done.json()[0]["target"] == "echo a // b"


def test_an_mcp_file_error_is_the_settings_file_error(tmp_path):
    """One family for every broken file: code that catches configuration errors (and Lua's
    ``err.kind == "configuration"``) catches a broken MCP file too."""
    from kosmo_lua.mcp.servers import load_servers

    (tmp_path / ".mcp.json").write_text("[]")
    with pytest.raises(ConfigFileError) as raised:
        load_servers(tmp_path, tmp_path / "home")
    assert isinstance(raised.value, ConfigError)
    assert raised.value.kind == "configuration"
    assert raised.value.path == str(tmp_path / ".mcp.json")


def test_every_error_carries_its_exit_code():
    assert UsageError("no code").exit_code == 2
    assert ConfigFileError("/x.json", "is broken").exit_code == 2
    assert McpConfigError("Invalid MCP server name").exit_code == 2
    assert HostError("refused").exit_code == 1
    assert ConfigError("no token").exit_code == 1
    assert Failed("eval:1: boom").exit_code == 1
    assert Failed("Interrupted (SIGTERM)", signal=signal.SIGTERM).exit_code == 143
    assert Failed("Interrupted (Ctrl-C)", signal=signal.SIGINT).exit_code == 130
    assert StdoutFailed(BrokenPipeError(32, "Broken pipe")).exit_code == 141
    assert StdoutFailed(OSError(28, "No space left on device")).exit_code == 1
    assert click.UsageError("bad option").exit_code == 2  # click's own, read the same way


def test_commands_never_exit_on_their_own():
    """Commands raise or return; only ``kosmo_lua.cli`` itself (``LazyGroup.invoke`` and the
    console script) ends the process."""
    package = Path(__file__).resolve().parents[1] / "kosmo_lua"
    exits = re.compile(r"sys\.exit\(|SystemExit\(|\.exit\(|os\._exit\(")
    modules = [*(package / "cli").glob("*.py"), *(package / "mcp").glob("*.py")]
    found = [
        f"{path.name}:{number}"
        for path in modules
        if path != package / "cli" / "__init__.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if exits.search(line)
    ]
    assert found == []


def test_a_refused_mcp_change_is_one_line(kosmo):
    done = kosmo("mcp:add", "bad.name", "--", "echo")
    assert done.returncode == 2
    assert one_error_line(done.stderr).startswith("Error: Invalid MCP server name 'bad.name'")


# integrations:call --json ------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, message",
    [
        (["buildkite.no_such_function"], "buildkite has no function 'no_such_function'"),
        (["nope.get_build"], "unknown integration 'nope'"),
        (["buildkite.get_build", "--arg", "organization"], "'organization' is not NAME=VALUE"),
        (["buildkite.get_build", "--no-such-option"], "No such option '--no-such-option'"),
    ],
    ids=["unknown function", "unknown integration", "bad --arg", "unknown option"],
)
def test_call_usage_errors_with_json_are_an_envelope(kosmo, args, message):
    done = kosmo("integrations:call", *args, "--json")
    assert done.returncode == 2
    envelope = done.json()
    assert envelope["success"] is False
    assert envelope["result"] is None
    assert message in envelope["error"]
    assert envelope["integration_calls"] == []


def test_call_usage_errors_without_json_stay_text(kosmo):
    done = kosmo("integrations:call", "buildkite.get_build", "--no-such-option")
    assert done.returncode == 2
    assert done.stdout == ""
    assert "Error: No such option '--no-such-option'" in done.stderr


def test_mcp_call_usage_errors_with_json_are_json(kosmo):
    done = kosmo("mcp:call", "files.read", "--no-such-option", "--json")
    assert done.returncode == 2
    assert done.json() == {
        "success": False,
        "result": None,
        "error": "No such option '--no-such-option'.",
    }


# integrations:docs -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["buildkite.no_such"],
        ["integrations.buildkite.no_such"],
        ["no_such"],
        ["buildkite.no_such", "--json"],
        ["buildkite.no_such", "--full"],
        ["buildkite.no_such", "--full", "--json"],
        ["buildkite.get_build", "--full"],
    ],
)
def test_docs_of_a_missing_page_fail(kosmo, args):
    done = kosmo("integrations:docs", *args)
    assert done.returncode != 0
    if "--full" not in args:
        assert "No integration docs found" in done.stdout
        assert done.stdout.endswith("\n")


def test_docs_json_of_a_missing_page_says_so(kosmo):
    done = kosmo("integrations:docs", "buildkite.no_such", "--json")
    assert done.returncode == 1
    assert done.json()["found"] is False


# Mistyped commands -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed, hint",
    [
        ("integrations:lau", "Did you mean 'integrations:lua'?"),
        ("mcp:lst", "Did you mean 'mcp:list'?"),
        ("integration:status", "Did you mean 'integrations:status'?"),
        ("lua", "Did you mean 'integrations:lua' or 'mcp:lua'?"),
        ("integrations:tools", "Did you mean 'mcp:tools'?"),
    ],
)
def test_mistyped_commands_get_a_suggestion(kosmo, typed, hint):
    done = kosmo(typed)
    assert done.returncode == 2
    assert f"Error: No such command '{typed}'. {hint}\n" in done.stderr


def test_nothing_close_gets_no_suggestion(kosmo):
    done = kosmo("integrations:xyzzy")
    assert done.returncode == 2
    assert done.stderr.endswith("Error: No such command 'integrations:xyzzy'.\n")
