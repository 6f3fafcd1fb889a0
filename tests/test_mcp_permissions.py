"""MCP tools follow the integrations' permission policy by their annotations: a tool annotated
``readOnlyHint`` reads, any other writes; reads are allowed, writes ask (issue #11, point 8).
The server is a real MCP server process over stdio."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, Completed

from kosmo_lua.config import Config
from kosmo_lua.errors import PermissionDenied
from kosmo_lua.mcp.servers import ServerConfig

pytest.importorskip("mcp")

from kosmo_lua.mcp.client import McpHub

FAKE = str(REPO / "tests" / "mcp_fixtures" / "fake_server.py")
WRITE_NEEDS_APPROVAL = (
    "MCP tool fake.note may write (it is not annotated readOnlyHint), and MCP server 'fake'"
    " write requires approval. Run with --force to allow it for this run, or allow it for"
    " good: kosmo integrations:configure mcp.fake --write allow"
)


@pytest.fixture
def notes(tmp_path: Path) -> Path:
    """Where the fake server's write tool writes: absent until a write reaches the server."""
    return tmp_path / "notes.txt"


def hub(notes: Path, **options: Any) -> tuple[McpHub, list[tuple[str, Any]]]:
    events: list[tuple[str, Any]] = []
    server = ServerConfig(
        name="fake",
        type="stdio",
        command=sys.executable,
        args=[FAKE],
        env={"FAKE_MCP_NOTES": str(notes)},
    )
    report = lambda kind, value: events.append((kind, value))  # noqa: E731
    return McpHub([server], timeout=20, report=report, **options), events


def test_reads_are_allowed_and_writes_ask(notes: Path):
    mcp, events = hub(notes)
    with mcp:
        assert mcp.call("fake.echo", {"text": "read"}) == "read"
        with pytest.raises(PermissionDenied) as caught:
            mcp.call("fake.note", {"text": "write"})
    assert str(caught.value) == WRITE_NEEDS_APPROVAL
    assert caught.value.tool == "mcp.fake.note"
    assert not notes.exists()
    refused = [value for kind, value in events if kind == "call"][-1]
    assert refused["status"] == "error" and refused["path"] == "mcp.fake.note"


def test_force_approves_a_write_and_says_so(notes: Path):
    mcp, events = hub(notes, force=True)
    with mcp:
        assert mcp.call("fake.echo", {"text": "read"}) == "read"
        assert mcp.call("fake.note", {"text": "forced"}) == "noted"
    assert notes.read_text() == "forced\n"
    read, write = [value for kind, value in events if kind == "call"]
    assert "permission_bypassed" not in read
    assert write["permission_bypassed"] is True
    assert ("meta", {"permission_bypassed": True}) in events


def test_a_configured_policy_applies(notes: Path):
    with Config.edit() as config:
        config.set_mcp_permission("fake", "write", "allow")
    mcp, events = hub(notes)
    with mcp:
        assert mcp.call("fake.note", {"text": "allowed"}) == "noted"
    assert ("meta", {"permission_bypassed": True}) not in events

    with Config.edit() as config:
        config.set_mcp_permission("fake", "read", "deny")
    mcp, _ = hub(notes)
    with mcp, pytest.raises(PermissionDenied, match=r"MCP server 'fake' read access denied"):
        mcp.call("fake.echo", {"text": "x"})


# Every command ------------------------------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path, notes: Path, kosmo: Callable[..., Completed], monkeypatch) -> Path:
    """A folder whose trusted .mcp.json defines the fake server; kosmo runs there."""
    monkeypatch.chdir(tmp_path)
    added = kosmo("mcp:add", "fake", "--env", f"FAKE_MCP_NOTES={notes}", "--", sys.executable, FAKE)
    assert added.returncode == 0, added.stderr
    assert kosmo("mcp:trust", "fake").returncode == 0
    return tmp_path


@pytest.mark.parametrize("command", ["integrations:lua", "mcp:lua"])
def test_scripts_need_force_or_an_allow_to_write(
    project: Path, notes: Path, kosmo: Callable[..., Completed], command: str
):
    code = "return app.mcp.fake.echo{text = 'read'}, mcp.call('fake.note', {text = 'w'})"
    refused = kosmo(command, "-e", code, "--json").json()
    assert refused["error"].endswith(WRITE_NEEDS_APPROVAL)
    assert refused["integration_calls"][-1]["status"] == "error"
    assert not notes.exists()

    forced = kosmo(command, "-e", code, "--json", "--force").json()
    assert forced["result"] == ["read", "noted"]
    assert forced["meta"]["permission_bypassed"] is True

    configured = kosmo("integrations:configure", "mcp.fake", "--write", "allow")
    assert configured.returncode == 0, configured.stderr
    allowed = kosmo(command, "-e", code, "--json").json()
    assert allowed["result"] == ["read", "noted"]
    assert allowed["meta"]["permission_bypassed"] is False
    assert notes.read_text() == "w\nw\n"


def test_mcp_call_needs_force_or_an_allow_to_write(
    project: Path, notes: Path, kosmo: Callable[..., Completed], kosmo_home: Path
):
    refused = kosmo("mcp:call", "fake.note", "--arg", "text=x")
    assert refused.returncode == 1
    assert refused.stderr.strip() == f"Error: {WRITE_NEEDS_APPROVAL}"
    assert json.loads(kosmo("mcp:call", "fake.note", "--arg", "text=x", "--force").stdout) == (
        "noted"
    )
    configured = kosmo("integrations:configure", "mcp.fake", "--write", "allow", "--json")
    assert json.loads(configured.stdout) == {
        "mcp_server": "fake",
        "permissions": {"read": "allow", "write": "allow"},
    }
    stored = json.loads((kosmo_home / "integrations.json").read_text())
    assert stored["mcp"] == {"fake": {"permissions": {"write": "allow"}}}
    assert kosmo("mcp:call", "fake.note", "--arg", "text=y").returncode == 0
    assert notes.read_text() == "x\ny\n"


def test_configuring_an_mcp_server_takes_only_permissions(kosmo: Callable[..., Completed]):
    done = kosmo("integrations:configure", "mcp.fake", "--set", "access_token=x")
    assert done.returncode == 2 and "mcp.fake takes only --read and --write" in done.stderr
    done = kosmo("integrations:configure", "mcp.bad/name", "--write", "allow")
    assert done.returncode == 2 and "is not an MCP server name" in done.stderr
