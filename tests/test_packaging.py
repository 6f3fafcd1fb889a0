"""A built wheel installed into a fresh venv gives a working `kosmo` (prelude.lua included)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import REPO


def _run(*args: str | Path, cwd: Path | None = None) -> str:
    proc = subprocess.run(
        [str(a) for a in args],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def test_wheel_installs_and_runs(tmp_path):
    wheels = tmp_path / "wheels"
    _run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", wheels, REPO)
    (wheel,) = wheels.glob("kosmo_lua-*.whl")
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", venv)
    _run(venv / "bin" / "pip", "install", "--quiet", wheel)
    out = _run(
        venv / "bin" / "kosmo",
        "integrations:lua",
        "-e",
        "return json.encode({ok = true})",
        cwd=tmp_path,
    )
    assert out == '{\n    "ok": true\n}\n'
