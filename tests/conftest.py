"""Shared fixtures: an isolated KOSMO_HOME, an in-process runner and the installed command."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kosmo_lua.dispatch import AppDispatcher
from kosmo_lua.limits import Limits
from kosmo_lua.result import ExecutionResult
from kosmo_lua.runtime.supervisor import Worker

REPO = Path(__file__).resolve().parents[1]
ENVELOPE_KEYS = [
    "success",
    "output",
    "error",
    "result",
    "execution_time_ms",
    "memory_usage",
    "integration_calls",
    "meta",
]


@pytest.fixture(autouse=True)
def kosmo_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No test reads or writes a developer's real configuration."""
    home = tmp_path / "kosmo-home"
    monkeypatch.setenv("KOSMO_HOME", str(home))
    return home


@pytest.fixture
def lua() -> Iterator[Callable[..., ExecutionResult]]:
    """Runs Lua in a supervised worker, as the CLI does: ``lua(code, cpu_seconds=1)``."""
    workers: list[Worker] = []

    def run(code: str, **limits: Any) -> ExecutionResult:
        worker = Worker(Limits(**limits), AppDispatcher.factory())
        workers.append(worker)
        return worker.run(code, "test")

    yield run
    for worker in workers:
        worker.close()


@dataclass
class Completed:
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> dict[str, Any]:
        return json.loads(self.stdout)


def _kosmo_path() -> str:
    """The console script installed next to this interpreter, as a user would run it."""
    found = shutil.which("kosmo", path=str(Path(sys.executable).parent))
    assert found, "the kosmo command is not installed in this environment (pip install -e .)"
    return found


@pytest.fixture
def kosmo(kosmo_home: Path) -> Callable[..., Completed]:
    """Runs the installed ``kosmo`` in a subprocess: ``kosmo("integrations:lua", "-e", ...)``."""
    executable = _kosmo_path()

    def run(*args: str, input: str | None = None, timeout: float = 60, **env: str) -> Completed:
        proc = subprocess.run(
            [executable, *args],
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "KOSMO_HOME": str(kosmo_home), **env},
        )
        return Completed(proc.returncode, proc.stdout, proc.stderr)

    return run
