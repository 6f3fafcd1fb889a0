"""Settings files are written safely, and the emulator's control plane refuses cross-site
requests (issue #11, point 12)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from conftest import REPO

from kosmo_lua.config import Config
from kosmo_lua.emulation import serve
from kosmo_lua.integrations.buildkite.emulator import Emulator
from kosmo_lua.mcp.servers import add_server, load_servers, trust

# Symlinks planted where the old code put its temporary files ----------------------------------


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A file the user owns outside every settings directory: a write must never reach it."""
    target = tmp_path / "precious.txt"
    target.write_text("keep me\n", encoding="utf-8")
    return target


def test_a_planted_symlink_does_not_redirect_the_project_file(tmp_path: Path, outside: Path):
    project = tmp_path / "project"
    project.mkdir()
    (project / ".mcp.json.tmp").symlink_to(outside)

    path = add_server("files", scope="project", project_dir=project, home=tmp_path, command="x")

    assert outside.read_text(encoding="utf-8") == "keep me\n"
    assert json.loads(path.read_text(encoding="utf-8"))["mcpServers"]["files"]["command"] == "x"
    assert not path.is_symlink()


def test_a_planted_symlink_does_not_redirect_the_settings(kosmo_home: Path, outside: Path):
    kosmo_home.mkdir()
    (kosmo_home / "integrations.tmp").symlink_to(outside)
    (kosmo_home / "integrations.json.tmp").symlink_to(outside)

    config = Config.load()
    config.set_permission("buildkite", "write", "allow")
    config.save()

    assert outside.read_text(encoding="utf-8") == "keep me\n"
    assert Config.load().permission("buildkite", "write") == "allow"
    assert stat.S_IMODE((kosmo_home / "integrations.json").stat().st_mode) == 0o600


def test_a_planted_symlink_does_not_redirect_the_trust_file(
    tmp_path: Path, kosmo_home: Path, outside: Path
):
    project = tmp_path / "project"
    project.mkdir()
    (project / ".mcp.json").write_text('{"mcpServers": {"t": {"command": "x"}}}')
    kosmo_home.mkdir()
    (kosmo_home / "mcp-trust.json.tmp").symlink_to(outside)

    (server,) = load_servers(project, kosmo_home)
    trust("t", server, kosmo_home)

    assert outside.read_text(encoding="utf-8") == "keep me\n"
    assert load_servers(project, kosmo_home)[0].trusted


def test_no_temporary_file_is_left_behind(kosmo_home: Path):
    config = Config.load()
    config.set_permission("buildkite", "read", "deny")
    config.save()
    assert sorted(p.name for p in kosmo_home.iterdir() if not p.name.endswith(".lock")) == [
        "integrations.json"
    ]


# Concurrent configure runs -------------------------------------------------------------------

# Each process reads the settings slowly, so every read happens before any write unless the
# read-modify-write is serialized.
_SLOW_CONFIGURE = """
import sys, time
import kosmo_lua.config as config
read = config.read_json
def slow(*args, **kwargs):
    value = read(*args, **kwargs)
    time.sleep(0.4)
    return value
config.read_json = slow
from kosmo_lua.cli import main
main(["integrations:configure", "buildkite", "--account", sys.argv[1],
      "--set", "access_token=token-" + sys.argv[1]])
"""


def test_concurrent_configure_runs_keep_every_account(kosmo_home: Path):
    accounts = [f"a{n}" for n in range(6)]
    env = {**os.environ, "KOSMO_HOME": str(kosmo_home)}
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _SLOW_CONFIGURE, account],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for account in accounts
    ]
    for process in processes:
        _, stderr = process.communicate(timeout=60)
        assert process.returncode == 0, stderr

    config = Config.load()
    assert config.accounts("buildkite") == accounts
    assert all(config.account("buildkite", a) == {"access_token": f"token-{a}"} for a in accounts)


# The emulator's control plane ----------------------------------------------------------------


@pytest.fixture
def root() -> str:
    with serve(Emulator()) as served:
        yield served.base_url.removesuffix("/v2")


def test_the_control_plane_requires_json(root: str):
    plain = httpx.post(f"{root}/_emulator/settle")
    form = httpx.post(f"{root}/_emulator/advance", data={"seconds": "30"})
    text = httpx.post(
        f"{root}/_emulator/faults",
        content='{"path": "/user", "kind": "error"}',
        headers={"Content-Type": "text/plain"},
    )
    assert [r.status_code for r in (plain, form, text)] == [415, 415, 415]
    assert "Content-Type: application/json" in plain.json()["message"]
    assert httpx.post(f"{root}/_emulator/settle", json={}).status_code == 200


def test_the_control_plane_refuses_other_origins(root: str):
    fault = {"path": "/user", "kind": "error"}
    foreign = httpx.post(
        f"{root}/_emulator/faults", json=fault, headers={"Origin": "https://evil.example"}
    )
    assert foreign.status_code == 403
    assert "Origin" in foreign.json()["message"]
    own = httpx.post(f"{root}/_emulator/faults", json=fault, headers={"Origin": root})
    assert own.status_code == 201
