"""Helpers that several test modules share (their fixtures are in conftest.py)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx
from click.testing import CliRunner

from kosmo_lua.cli import main
from kosmo_lua.emulation import serve
from kosmo_lua.integrations.buildkite.emulator import Emulator

AUTH = {"Authorization": "Bearer bk-emulator-token"}
"""The emulator's token (its demo data's)."""


class FakeClock:
    """The emulator's builds' clock, moved by hand (``clock.now = ...``)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def connect(app: Emulator, base_url: str = "http://bk.test/v2", **options: Any) -> httpx.Client:
    """A client of the emulator in process, with its token."""
    options.setdefault("headers", AUTH)
    transport = options.pop("transport", None) or httpx.WSGITransport(app=app)
    return httpx.Client(transport=transport, base_url=base_url, **options)


def kosmo_path() -> str:
    """The console script installed next to this interpreter, as a user would run it."""
    found = shutil.which("kosmo", path=str(Path(sys.executable).parent))
    assert found, "the kosmo command is not installed in this environment (pip install -e .)"
    return found


def server_env() -> dict[str, str]:
    """What an MCP client's stdio server gets beyond the SDK's safe set: the test's KOSMO_HOME,
    and PYTHONPATH when set, so the server runs the code under test (a checkout other than
    the installed one)."""
    return {name: os.environ[name] for name in ("KOSMO_HOME", "PYTHONPATH") if name in os.environ}


def envelope_of(*args: str) -> tuple[int, dict[str, Any]]:
    """``kosmo ARGS`` in this process (click's runner): its exit code and the JSON envelope
    it printed."""
    done = CliRunner().invoke(main, list(args))
    return done.exit_code, json.loads(done.stdout)


def gone(pid: int, wait: float = 5.0) -> bool:
    """True once no process has this id (a reaped child), polling a little."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.02)
    return False


def free_port() -> int:
    """A loopback port that nothing listened on a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, server: subprocess.Popen[Any], wait: float = 20.0) -> None:
    """Returns once ``server`` accepts connections on the loopback ``port``."""
    deadline = time.monotonic() + wait
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            assert time.monotonic() < deadline, "the server did not start listening"
            assert server.poll() is None, "the server exited"
            time.sleep(0.05)


# Processes, through Linux's /proc ----------------------------------------------------------


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    """Running, that is: a zombie waiting for init to reap it is dead."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_for(condition: Any, what: str, timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)
    return value


def descendants(pid: int) -> list[int]:
    """The processes under ``pid``: its children, theirs, and so on."""
    found = children(pid)
    return found + [grandchild for child in found for grandchild in descendants(child)]


def server_of(parent: int) -> int | None:
    """The `kosmo mcp:serve` that the MCP client of this test started."""
    for pid in children(parent):
        with suppress(OSError):
            if b"mcp:serve" in Path(f"/proc/{pid}/cmdline").read_bytes():
                return pid
    return None


@contextmanager
def configured_emulator(token: str) -> Iterator[Emulator]:
    """The Buildkite emulator served on loopback and configured as the default account's
    API (with ``token``), so the test sees every request that arrives."""
    emulator = Emulator(token=token)
    with serve(emulator) as running:
        done = CliRunner().invoke(
            main,
            [
                "integrations:configure",
                "buildkite",
                "--set",
                f"url={running.base_url}",
                "--set",
                f"access_token={token}",
            ],
        )
        assert done.exit_code == 0, done.output
        yield emulator
