"""A second integration written as data only, found as a plug-in: the host is generic.

tests/plugins holds a GitHub-style integration (kosmo_github_example) with its dist-info,
as `pip install` would leave it, and a broken plug-in beside it. Putting the folder on the
path is all it takes for entry-point discovery to find both: nothing in kosmo-lua names
them. Its API differs from Buildkite's wherever GitHub's does (see the plug-in's docstring),
and each test runs it against its emulator served on loopback or in process.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kosmo_lua.cli import main
from kosmo_lua.config import Config
from kosmo_lua.emulation import serve
from kosmo_lua.integrations import load

PLUGINS = Path(__file__).parent / "plugins"
TOKEN = "gh-emulator-token"


@pytest.fixture(autouse=True)
def plugins(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.syspath_prepend(str(PLUGINS))
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join([str(PLUGINS), os.environ.get("PYTHONPATH", "")])
    )
    load.cache_clear()
    yield
    load.cache_clear()


@pytest.fixture
def github(kosmo_home: Path) -> Iterator[Any]:
    """The plug-in's emulator on loopback, and the default account pointed at it."""
    from kosmo_github_example.emulator import GitHubEmulator

    app = GitHubEmulator()
    with serve(app) as served:
        config = Config.load(kosmo_home)
        config.set_account("github", "default", {"api_url": served.base_url, "token": TOKEN})
        config.save()
        yield app


def cli(*args: str) -> Any:
    return CliRunner().invoke(main, list(args))


def lua(code: str, *options: str) -> dict[str, Any]:
    done = cli("integrations:lua", "--json", "-e", code, *options)
    return json.loads(done.stdout)


def test_discovery_lists_it_and_a_broken_plugin_is_one_warning():
    done = cli("integrations:list", "--json")
    assert done.exit_code == 0, done.output
    assert [row["name"] for row in json.loads(done.stdout)] == ["buildkite", "github"]
    assert done.stderr == (
        "kosmo: warning: integration plug-in 'broken' (kosmo_no_such_module:INTEGRATION) failed"
        " to load: ModuleNotFoundError: No module named 'kosmo_no_such_module'\n"
    )


def test_docs_and_schemas_come_from_its_table():
    page = lua('return docs.read("github")')["result"][0]
    assert page.startswith("# GitHub")
    assert "up to 100 pages" in page  # the host's fact, filled in from its constant
    assert "### Read" in page and "### Write" not in page  # it has no writes
    function = lua('return docs.read("github.list_repos")')["result"][0]
    assert "| `per_page` | integer | no | query | Items per page (default 30, at most 100). |" in (
        function
    )
    assert 'docs.read("github.errors")' in function  # errors are said once, there
    errors = lua('return docs.read("github.errors")')["result"][0]
    assert "`GitHub API error (429, or 403 with no requests left)`: rate limited" in errors
    assert "Bad credentials" in errors

    whole = json.loads(cli("integrations:schema", "github").stdout)
    assert sorted(whole["functions"]) == ["get_issue", "get_user", "list_repos"]
    one = json.loads(cli("integrations:schema", "github.list_repos").stdout)
    assert one["properties"]["per_page"]["maximum"] == 100
    assert one["required"] == ["owner"]


def test_dry_run_shows_its_auth_and_base_url(github):
    done = cli("integrations:call", "github.list_repos", "--arg", "owner=octocat", "--dry-run")
    request = json.loads(done.stdout)
    assert request["url"].endswith("/users/octocat/repos")
    assert request["headers"] == {"Authorization": "Bearer ***"}
    assert github.requests == []


def test_calls_pages_and_rate_limit_metadata(github):
    envelope = lua(
        "local gh = app.integrations.github\n"
        "local repos, meta = gh.list_repos{owner = 'octocat', per_page = 3, with_meta = true}\n"
        "local all = gh.list_repos{owner = 'octocat', per_page = 3, all_pages = true}\n"
        "return gh.get_user().login, #repos, meta.next_page, meta.last_page,"
        " meta.rate_limit.remaining, meta.rate_limit.reset > 3000, #all"
    )
    assert envelope["success"], envelope["error"]
    assert envelope["result"] == ["octocat", 3, 2, 3, 4999, True, 7]


def test_throttling_by_403_with_nothing_left_is_waited_out(github):
    github.throttle_next = 1
    envelope = lua("return app.integrations.github.get_user().name")
    assert envelope["result"] == ["Mona"]
    (call,) = envelope["integration_calls"]
    assert call["requests"] == 2
    assert call["durationMs"] >= 900  # the reset was a second away


def test_errors_speak_its_label_and_its_mistakes(github):
    envelope = lua("app.integrations.github.get_issue('octocat', 'hello', 7)")
    assert envelope["error"] == "eval:1: GitHub API error (404): Not Found"
    envelope = lua("app.integrations.github.get_issue('octocat', 'hello', '#7')")
    assert envelope["error"] == (
        "eval:1: Argument 'number' of github.github_get_issue: '#7' has a '#': give the bare number"
    )
    assert envelope["meta"]["error"]["kind"] == "argument"


def test_its_credential_names_are_its_own(kosmo_home):
    envelope = lua("local user = app.integrations.github.get_user()")
    assert envelope["error"] == (
        "eval:1: No GitHub token for account 'default'. Set GITHUB_TOKEN or run:"
        " kosmo integrations:configure github --set token=…"
    )


def test_its_emulator_runs_in_process_and_on_loopback():
    """The host runs any integration's emulator: --emulate needs no code of the plug-in's."""
    envelope = lua("return app.integrations.github.get_user().login", "--emulate")
    assert envelope["result"] == ["octocat"]
    done = cli("integrations:lua", "-e", "return 1", "--emulate", "--emulate-data", "x.json")
    assert "say which emulator it feeds, as NAME=FILE (buildkite, github)" in done.stderr


def test_the_installed_command_discovers_it_too(kosmo):
    done = kosmo("integrations:docs", "github.get_user")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("# github.get_user")
