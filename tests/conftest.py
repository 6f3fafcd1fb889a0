"""Shared fixtures: an isolated KOSMO_HOME, an in-process runner, the installed command, and
the demo emulator with a client (a module that needs other data defines its own)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from helpers import FakeClock, connect, kosmo_path

from kosmo_lua.dispatch import AppDispatcher
from kosmo_lua.integrations.buildkite.emulator import Emulator
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
def new_worker() -> Iterator[Callable[..., Worker]]:
    """Makes supervised workers, as the CLI does (``new_worker(cpu_seconds=1)``), and closes
    them after the test."""
    workers: list[Worker] = []

    def make(**limits: Any) -> Worker:
        worker = Worker(Limits(**limits), AppDispatcher.factory())
        workers.append(worker)
        return worker

    yield make
    for worker in workers:
        worker.close()


@pytest.fixture
def lua(new_worker: Callable[..., Worker]) -> Callable[..., ExecutionResult]:
    """Runs Lua in a supervised worker of its own: ``lua(code, cpu_seconds=1)``."""

    def run(code: str, **limits: Any) -> ExecutionResult:
        return new_worker(**limits).run(code, "test")

    return run


@dataclass
class Completed:
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> dict[str, Any]:
        return json.loads(self.stdout)


@pytest.fixture
def kosmo(kosmo_home: Path) -> Callable[..., Completed]:
    """Runs the installed ``kosmo`` in a subprocess: ``kosmo("integrations:lua", "-e", ...)``."""
    executable = kosmo_path()

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


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def emulator(clock: FakeClock) -> Emulator:
    """The emulator with its demo data, on ``clock``."""
    return Emulator(clock=clock)


@pytest.fixture
def client(emulator: Emulator) -> Iterator[httpx.Client]:
    with connect(emulator) as session:
        yield session
