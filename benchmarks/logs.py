"""Job logs far bigger than memory: the tail and a search of a 1 GiB log (issue 13).

The Buildkite emulator serves, on loopback in this process, one failed build whose job log
is 1 GiB, made on the fly (a data file's `log_bytes`; its failure lines are at the very end).
kosmo runs as installed, with a throwaway KOSMO_HOME pointed at it:

- tail: `get_job_log{..., tail = 50}`: the wall time of the whole `kosmo` command and the
  peak RSS of its largest process (wait4: kosmo and the worker it waits for). Targets:
  at most 64 MiB and 2 s.
- search: `search_job_log{..., pattern = "/FAIL /"}` (one match, on the last lines, so the
  whole log is read) against `curl -s URL | grep -n "^FAIL "` on the same server.
  Targets: at most 64 MiB and 2x the time of curl and grep.

Medians of --runs runs, alternating. Run by hand:

    .venv/bin/python benchmarks/logs.py [--gib 1] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from harness import BASE_ENV, Run, kosmo, measure

from kosmo_lua.emulation import load_app, serve
from kosmo_lua.integrations import load

MIB = 1 << 20
JOB = 'local job = {organization = "acme-inc", pipeline = "big", number = 1, job_id = "%s"}\n'


def data_file(folder: str, size: int) -> str:
    pipeline = {
        "name": "Big",
        "repository": "git@github.com:acme-inc/big.git",
        "steps": [{"key": "test", "command": "make test"}],
        "builds": [
            {"state": "failed", "jobs": [{"step": "test", "state": "failed", "log_bytes": size}]}
        ],
    }
    path = os.path.join(folder, "big.json")
    Path(path).write_text(
        json.dumps({"organizations": [{"slug": "acme-inc", "pipelines": [pipeline]}]})
    )
    return path


def run_lua(code: str, env: dict[str, str]) -> Run:
    run = measure([kosmo(), "integrations:lua", "--json", "--eval", code], env)
    envelope = json.loads(run.stdout)
    if not envelope["success"]:
        sys.exit(f"kosmo failed: {envelope['error']}")
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=1.0)
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()
    size = int(options.gib * 1024 * MIB)
    with tempfile.TemporaryDirectory(prefix="kosmo-bench-") as home:
        app = load_app(load()[0], data_file(home, size))
        with serve(app) as running:
            headers = {"Authorization": f"Bearer {app.token}"}
            build = httpx.get(
                f"{running.base_url}/organizations/acme-inc/pipelines/big/builds/1", headers=headers
            ).json()
            job = build["jobs"][0]
            env = {**BASE_ENV, "HOME": home, "KOSMO_HOME": os.path.join(home, ".kosmo")}
            subprocess.run(
                [
                    kosmo(),
                    "integrations:configure",
                    "buildkite",
                    "--set",
                    f"url={running.base_url}",
                    "--set",
                    f"access_token={app.token}",
                ],
                check=True,
                stdout=subprocess.DEVNULL,
                env=env,
            )
            prelude = "local bk = app.integrations.buildkite\n" + JOB % job["id"]
            tail_code = (
                prelude + "return #bk.get_job_log{organization = job.organization,"
                " pipeline = job.pipeline, number = 1, job_id = job.job_id, tail = 50}"
            )
            search_code = prelude + (
                "local hits = bk.search_job_log{organization = job.organization,"
                ' pipeline = job.pipeline, number = 1, job_id = job.job_id, pattern = "/FAIL /"}'
                " return #hits, hits[1].line"
            )
            floor = (
                f"curl -s -H 'Authorization: Bearer {app.token}' -H 'Accept: text/plain'"
                f" '{job['log_url']}' | grep -n 'FAIL '"
            )
            tails: list[Run] = []
            searches: list[Run] = []
            floors: list[float] = []
            for _ in range(options.runs):
                tails.append(run_lua(tail_code, env))
                searches.append(run_lua(search_code, env))
                started = time.perf_counter()
                found = subprocess.run(["bash", "-c", floor], capture_output=True, text=True)
                floors.append(time.perf_counter() - started)
                if "FAIL " not in found.stdout:
                    sys.exit(f"curl | grep found nothing: {found.stderr}")
    tail_s = statistics.median(r.wall for r in tails)
    tail_rss = max(r.peak_rss for r in tails) / MIB
    search_s = statistics.median(r.wall for r in searches)
    search_rss = max(r.peak_rss for r in searches) / MIB
    floor_s = statistics.median(floors)
    print(
        f"log:     {size / MIB:.0f} MiB, served on 127.0.0.1 by the emulator; {options.runs} runs"
    )
    print(f"tail 50: {tail_s:.2f} s, peak RSS {tail_rss:.0f} MiB  (targets <= 2 s, <= 64 MiB)")
    print(f"search:  {search_s:.2f} s, peak RSS {search_rss:.0f} MiB  (target <= 64 MiB)")
    ratio = search_s / floor_s
    print(f"curl | grep -n: {floor_s:.2f} s;  search / floor: {ratio:.2f}x  (target <= 2x)")


if __name__ == "__main__":
    main()
