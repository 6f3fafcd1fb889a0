"""Trust in MCP servers is per project and per definition; --force is not trust; a project
cannot replace a global server; environment values never reach scripts or listings (issue
#11, points 6, 7 and 10). The servers are real MCP server processes over stdio."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import REPO, Completed

from kosmo_lua.cli import main
from kosmo_lua.mcp.servers import load_definitions, load_servers, remove_server, trust

pytest.importorskip("mcp")

FAKE = str(REPO / "tests" / "mcp_fixtures" / "fake_server.py")
SECRET = "s3cr3t-from-the-environment"

Kosmo = Callable[..., Completed]


def define(folder: Path, servers: dict[str, Any], file: str = ".mcp.json") -> Path:
    path = folder / file
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"mcpServers": servers}), encoding="utf-8")
    return path


def fake(*args: str, **env: str) -> dict[str, Any]:
    """The fake server's definition; ``args`` it ignores, ``env`` it reads."""
    return {"command": sys.executable, "args": [FAKE, *args], "env": env}


@pytest.fixture
def two_projects(tmp_path: Path) -> tuple[Path, Path]:
    """Two clones that define ``tools`` with the very same text."""
    folders = tmp_path / "a", tmp_path / "b"
    for folder in folders:
        define(folder, {"tools": fake("--root", "${workspaceFolder}")})
    return folders


@pytest.fixture
def kosmo_at(kosmo: Callable[..., Completed], monkeypatch: pytest.MonkeyPatch) -> Kosmo:
    """``kosmo_at(folder, *args, **env)``: the installed ``kosmo``, run in ``folder``."""

    def run(folder: Path, *args: str, **env: str) -> Completed:
        monkeypatch.chdir(folder)
        return kosmo(*args, **env)

    return run


def run_lua(kosmo_at: Kosmo, folder: Path, code: str) -> dict[str, Any]:
    return kosmo_at(folder, "integrations:lua", "-e", code, "--json").json()


# Point 6: per project, per definition ----------------------------------------------------------


def test_trusting_a_server_in_one_project_does_not_trust_it_in_another(
    two_projects: tuple[Path, Path], kosmo_home: Path
):
    a, b = two_projects
    (server,) = load_servers(a, kosmo_home)
    trust("tools", server, kosmo_home)
    assert load_servers(a, kosmo_home)[0].trusted
    assert not load_servers(b, kosmo_home)[0].trusted


def test_trust_follows_the_definition_as_written_but_not_the_secrets_behind_it(
    tmp_path: Path, kosmo_home: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("KOSMO_TEST_FLAVOUR", "mild")
    monkeypatch.setenv("KOSMO_TEST_TOKEN", "first")
    definition = fake("--flavour=${KOSMO_TEST_FLAVOUR}", TOKEN="${KOSMO_TEST_TOKEN}", MODE="a")
    define(tmp_path, {"tools": definition})
    trust("tools", load_servers(tmp_path, kosmo_home)[0], kosmo_home)

    def trusted() -> bool:
        return load_servers(tmp_path, kosmo_home)[0].trusted

    monkeypatch.setenv("KOSMO_TEST_TOKEN", "rotated")  # a secret behind ${VAR}: the same
    assert trusted()
    define(tmp_path, {"tools": {**definition, "env": {**definition["env"], "MODE": "b"}}})
    assert not trusted()  # a value as written (NODE_OPTIONS=--require …) can change what runs
    define(tmp_path, {"tools": definition})
    assert trusted()
    monkeypatch.setenv("KOSMO_TEST_FLAVOUR", "hot")  # what runs changed
    assert not trusted()
    monkeypatch.setenv("KOSMO_TEST_FLAVOUR", "mild")
    assert trusted()
    define(tmp_path, {"tools": {**definition, "env": {**definition["env"], "NODE_OPTIONS": ""}}})
    assert not trusted()  # a new name in the environment can change what runs


def test_trust_in_project_a_does_not_start_the_server_of_project_b(
    two_projects: tuple[Path, Path], kosmo_at: Kosmo
):
    a, b = two_projects
    assert kosmo_at(a, "mcp:trust", "tools").returncode == 0
    assert run_lua(kosmo_at, a, "return app.mcp.tools.echo{text = 'a'}")["result"] == ["a"]
    (listed,) = json.loads(kosmo_at(b, "mcp:list", "--json").stdout)
    assert listed["trusted"] is False and listed["trust"] == "untrusted"
    refused = run_lua(kosmo_at, b, "return app.mcp.tools.echo{text = 'b'}")
    assert "is not trusted" in refused["error"]


def test_a_changed_definition_needs_trusting_again_and_mcp_list_says_so(
    tmp_path: Path, kosmo_at: Kosmo
):
    define(tmp_path, {"tools": fake()})
    assert kosmo_at(tmp_path, "mcp:trust", "tools").returncode == 0
    assert json.loads(kosmo_at(tmp_path, "mcp:list", "--json").stdout)[0]["trust"] == "trusted"

    define(tmp_path, {"tools": fake("--now-something-else")})
    (listed,) = json.loads(kosmo_at(tmp_path, "mcp:list", "--json").stdout)
    assert listed["trusted"] is False and listed["trust"] == "changed"
    text = kosmo_at(tmp_path, "mcp:list").stdout
    assert "changed since trusted: check it, then kosmo mcp:trust tools" in text
    refused = run_lua(kosmo_at, tmp_path, "return app.mcp.tools.echo{text = 'x'}")
    assert "has changed since it was trusted" in refused["error"]


# Point 7: --force approves writes, not code ----------------------------------------------------


@pytest.mark.parametrize("command", ["integrations:lua", "mcp:lua"])
def test_force_does_not_start_an_untrusted_project_server(
    tmp_path: Path, kosmo_at: Kosmo, command: str
):
    pidfile = tmp_path / "started"
    define(tmp_path, {"tools": fake(FAKE_MCP_PIDFILE=str(pidfile))})
    code = "return app.mcp.tools.echo{text = 'x'}"
    envelope = kosmo_at(tmp_path, command, "-e", code, "--json", "--force").json()
    assert "is not trusted" in envelope["error"] and "kosmo mcp:trust tools" in envelope["error"]
    called = kosmo_at(tmp_path, "mcp:call", "tools.echo", "--arg", "text=x", "--force")
    assert called.returncode == 1 and "is not trusted" in called.stderr
    assert not pidfile.exists()


def test_a_project_definition_never_replaces_a_global_server(
    tmp_path: Path, kosmo_home: Path, kosmo_at: Kosmo
):
    global_file = define(kosmo_home, {"tools": fake()}, "mcp.json")
    project_file = define(tmp_path, {"tools": fake(FAKE_MCP_MODE="crash")})
    assert kosmo_at(tmp_path, "mcp:trust", "tools").returncode == 0  # says: global, trusted

    envelope = run_lua(kosmo_at, tmp_path, "return app.mcp.tools.echo{text = 'global'}")
    assert envelope["result"] == ["global"], envelope["error"]

    rows = json.loads(kosmo_at(tmp_path, "mcp:list", "--json").stdout)
    by_source = {row["source"]: row for row in rows}
    assert by_source[str(project_file)]["shadowed_by"] == str(global_file)
    assert by_source[str(global_file)]["shadowed_by"] is None
    assert by_source[str(global_file)]["trust"] == "global"
    text = kosmo_at(tmp_path, "mcp:list").stdout
    assert f"not used: shadowed by {global_file}" in text


# Point 10: environment values never reach scripts or clients ----------------------------------


@pytest.fixture
def secret_servers(tmp_path: Path, kosmo_home: Path) -> Path:
    """Global servers whose definitions use a secret from the environment; one fails."""
    define(
        kosmo_home,
        {
            "crashy": fake("--token=${KOSMO_TEST_SECRET}", FAKE_MCP_MODE="crash"),
            "missing": {"command": "/nonexistent/${KOSMO_TEST_SECRET}/server"},
            "web": {
                "url": "https://mcp.invalid/${KOSMO_TEST_SECRET}",
                "headers": {"Authorization": "Bearer ${KOSMO_TEST_SECRET}"},
            },
        },
        "mcp.json",
    )
    return tmp_path


def test_definitions_stay_unexpanded_until_a_trusted_server_starts(
    tmp_path: Path, kosmo_home: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("KOSMO_TEST_SECRET", SECRET)
    define(tmp_path, {"tools": fake("--token=${KOSMO_TEST_SECRET}")})
    (server,) = load_definitions(tmp_path, kosmo_home)
    assert server.args[-1] == "--token=${KOSMO_TEST_SECRET}"
    assert SECRET not in repr(server)
    assert server.launch().args[-1] == f"--token={SECRET}"


def test_no_route_in_lua_reads_the_environment(secret_servers: Path, kosmo_at: Kosmo):
    code = """
    local crashed_ok, crashed = pcall(app.mcp.crashy.echo, {text = "x"})
    local missing_ok, missing = pcall(mcp.tools, "missing")
    local docs_text = docs.read("mcp") .. docs.search("environment") .. docs.list()
    return {
      getenv = os.getenv == nil,
      servers = mcp.servers(),
      crashed = tostring(crashed),
      missing = tostring(missing),
      docs = docs_text,
    }
    """
    done = kosmo_at(
        secret_servers, "integrations:lua", "-e", code, "--json", KOSMO_TEST_SECRET=SECRET
    )
    assert SECRET not in done.stdout and SECRET not in done.stderr
    result = done.json()["result"][0]
    assert result["getenv"] is True
    servers = {row["name"]: row for row in result["servers"]}
    assert servers["crashy"]["command"].endswith("--token=${KOSMO_TEST_SECRET}")
    assert servers["web"]["url"] == "https://mcp.invalid/${KOSMO_TEST_SECRET}"
    assert "failed to start" in result["crashed"] and "${KOSMO_TEST_SECRET}" in result["crashed"]
    assert "failed to start" in result["missing"]


def test_mcp_list_shows_definitions_as_written(secret_servers: Path, kosmo_at: Kosmo):
    for options in ((), ("--json",)):
        done = kosmo_at(secret_servers, "mcp:list", *options, KOSMO_TEST_SECRET=SECRET)
        assert done.returncode == 0, done.stderr
        assert SECRET not in done.stdout
        assert "${KOSMO_TEST_SECRET}" in done.stdout


def test_a_failed_start_quotes_no_environment_value(secret_servers: Path, kosmo_at: Kosmo):
    for server in ("crashy", "missing"):
        done = kosmo_at(secret_servers, "mcp:tools", server, KOSMO_TEST_SECRET=SECRET)
        assert done.returncode == 1
        assert "failed to start" in done.stderr and SECRET not in done.stderr


def test_remove_takes_out_the_definition_in_use(
    tmp_path: Path, kosmo_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A global server shadows a project's copy: `mcp:remove` removes the global one
    (removing the shadowed copy would leave the server in use unchanged) and says which
    definition is used now."""
    project = tmp_path / "project"
    define(project, {"tools": fake("project")})
    global_file = define(kosmo_home, {"tools": fake("global")}, file="mcp.json")
    monkeypatch.chdir(project)
    done = CliRunner().invoke(main, ["mcp:remove", "tools"])
    assert done.exit_code == 0
    assert done.stdout == (
        f"Removed MCP server 'tools' from {global_file}\n"
        f"'tools' is still defined in {project / '.mcp.json'}, which is now used.\n"
    )
    assert remove_server("tools", project, kosmo_home) == project / ".mcp.json"
    assert load_servers(project, kosmo_home) == []
