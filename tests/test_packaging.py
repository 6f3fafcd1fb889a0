"""A built wheel installed into a fresh venv gives a working `kosmo` (prelude.lua included,
and the C decoder of pages where a compiler built it)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
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
    if shutil.which("cc") or shutil.which("gcc"):
        names = zipfile.ZipFile(wheel).namelist()
        assert any(name.startswith("kosmo_lua/runtime/_jsondecode") for name in names), names
        found = _run(venv / "bin" / "python", "-c", FOUND_DECODER, cwd=tmp_path)
        assert found.strip() == "bound", found


# The installed package finds its decoder and binds it to the installed lupa.
FOUND_DECODER = """
import lupa.lua54
from kosmo_lua.runtime import native
print("bound" if native.bound_library(lupa.lua54) else native.library_path())
"""
