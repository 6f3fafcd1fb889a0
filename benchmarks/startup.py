"""Start-up cost of `kosmo integrations:lua --eval 'return 1' --json`, as a ratio to a floor.

The floor is the least any lupa-based host can do: start Python, import lupa.lua54, run
`return 1`. Both commands run alternately in the same process, so machine noise hits both;
the ratio is the figure to track (target: at most 3x). Run by hand:

    .venv/bin/python benchmarks/startup.py [--runs 30]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

FLOOR = [
    sys.executable,
    "-c",
    "import lupa.lua54; lupa.lua54.LuaRuntime().execute('return 1')",
]


def kosmo_command() -> list[str]:
    kosmo = shutil.which("kosmo", path=str(Path(sys.executable).parent))
    if kosmo is None:
        sys.exit("kosmo is not installed next to this Python; run `make demo` first")
    return [kosmo, "integrations:lua", "--eval", "return 1", "--json"]


# A user's install has compiled bytecode; without it every run would pay for compiling.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def wall_time(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(
        command, check=True, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL, env=ENV
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    runs = parser.parse_args().runs
    kosmo = kosmo_command()
    for command in (FLOOR, kosmo):  # warm the page cache and write bytecode first
        wall_time(command)
    floor, ours = [], []
    for _ in range(runs):
        floor.append(wall_time(FLOOR))
        ours.append(wall_time(kosmo))
    floor_ms = statistics.median(floor) * 1000
    ours_ms = statistics.median(ours) * 1000
    print(f"runs:   {runs} each, alternating")
    print(f"floor:  {floor_ms:6.1f} ms  (python + import lupa.lua54 + return 1)")
    print(f"kosmo:  {ours_ms:6.1f} ms  (kosmo integrations:lua --eval 'return 1' --json)")
    print(f"ratio:  {ours_ms / floor_ms:6.2f}x  (target <= 3x)")


if __name__ == "__main__":
    main()
