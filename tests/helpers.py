"""Helpers that several test modules share (their fixtures are in conftest.py)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from kosmo_lua.cli import main


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
