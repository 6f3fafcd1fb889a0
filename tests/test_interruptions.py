"""A closed or full stdout: the installed `kosmo` in real subprocesses.

Output nobody can read ends the run instead of hanging it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest


def kosmo_command(*args: str) -> list[str]:
    kosmo = shutil.which("kosmo", path=str(Path(sys.executable).parent))
    assert kosmo, "the kosmo command is not installed next to this interpreter"
    return [kosmo, *args]


@contextmanager
def started(*args: str, **popen: Any) -> Iterator[subprocess.Popen[str]]:
    """``kosmo args...`` in a process group of its own, killed afterwards with any worker
    left behind (a worker stays in the group when its parent dies)."""
    options = {"stdin": subprocess.DEVNULL, **popen}
    process = subprocess.Popen(kosmo_command(*args), text=True, start_new_session=True, **options)
    try:
        yield process
    finally:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


PRINT_MANY = "integrations:lua", "-e", "for i = 1, 200000 do print(i) end"


def test_a_closed_pipe_ends_the_run():
    """`kosmo ... | head -1`: once head leaves, kosmo stops too (it used to hang)."""
    with started(*PRINT_MANY, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as kosmo:
        head = subprocess.run(
            ["head", "-1"], stdin=kosmo.stdout, capture_output=True, text=True, timeout=10
        )
        kosmo.stdout.close()
        assert kosmo.wait(10) == 141
        assert kosmo.stderr.read() == ""
    assert head.stdout == "1\n"


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("as_json", [False, True])
def test_a_full_disk_ends_the_run_with_one_line(as_json):
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            kosmo_command(*PRINT_MANY, *(["--json"] if as_json else [])),
            stdin=subprocess.DEVNULL,
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=20,
        )
    assert done.returncode == 1
    assert done.stderr == "kosmo: cannot write output: No space left on device\n"
