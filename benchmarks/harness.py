"""What the concurrency benchmarks share: kosmo as installed, pointed at a latency server
through a throwaway KOSMO_HOME, and each run's wall time, CPU time and peak RSS."""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

from latency_server import TOKEN

# A user's install has compiled bytecode; without it every run would pay for compiling.
BASE_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def kosmo() -> str:
    path = shutil.which("kosmo", path=str(Path(sys.executable).parent))
    if path is None:
        sys.exit("kosmo is not installed next to this Python; run `make demo` first")
    return path


class Run(NamedTuple):
    """One finished process: what it printed, and what it cost with every descendant it
    waited for (kosmo waits for its worker)."""

    status: int
    stdout: str
    wall: float  # seconds
    cpu: float  # seconds, user + system
    peak_rss: int  # bytes, of the largest process


class Failed(Exception):
    """A run that did not do its work; the message says why."""


# A hung run is killed: a benchmark should end with a failure, not wait for ever.
WATCHDOG_SECONDS = 120


def measure(command: list[str], env: dict[str, str]) -> Run:
    """Runs `command` to the end.

    wait4 gives this child's own rusage (its worker's included); RUSAGE_CHILDREN's ru_maxrss
    would be the largest child reaped so far, a latency server included."""
    started = time.perf_counter()
    child = subprocess.Popen(
        command, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env, text=True
    )
    watchdog = threading.Timer(WATCHDOG_SECONDS, child.kill)
    watchdog.start()
    assert child.stdout is not None
    with child.stdout:
        stdout = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    watchdog.cancel()
    child.returncode = os.waitstatus_to_exitcode(status)
    cpu = usage.ru_utime + usage.ru_stime
    return Run(child.returncode, stdout, wall, cpu, usage.ru_maxrss * 1024)


@contextmanager
def configured(base_url: str) -> Iterator[dict[str, str]]:
    """An environment whose kosmo has one Buildkite account: the server at `base_url`."""
    with tempfile.TemporaryDirectory(prefix="kosmo-bench-") as home:
        env = {**BASE_ENV, "HOME": home, "KOSMO_HOME": os.path.join(home, ".kosmo")}
        subprocess.run(
            [
                kosmo(),
                "integrations:configure",
                "buildkite",
                "--set",
                f"url={base_url}",
                "--set",
                f"access_token={TOKEN}",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            env=env,
        )
        yield env


class LuaRun(NamedTuple):
    run: Run
    envelope: dict[str, Any]

    @property
    def seconds(self) -> float:
        """The run as kosmo timed it (`execution_time_ms`: from handing the chunk to the
        worker to its result), without Python's start-up."""
        return float(self.envelope["execution_time_ms"]) / 1000


def lua(code: str, env: dict[str, str], *options: str) -> LuaRun:
    """Runs `code` with `kosmo integrations:lua --json`; `Failed` unless it succeeded."""
    run = measure([kosmo(), "integrations:lua", "--eval", code, "--json", *options], env)
    if run.wall >= WATCHDOG_SECONDS:
        raise Failed(f"no result in {WATCHDOG_SECONDS} s: killed")
    try:
        envelope = json.loads(run.stdout)
    except ValueError:
        raise Failed(f"kosmo exited with {run.status}: {run.stdout[-500:]!r}") from None
    if not envelope["success"]:
        raise Failed(str(envelope["error"]))
    return LuaRun(run, envelope)


def median_ms(seconds: list[float]) -> float:
    return statistics.median(seconds) * 1000
