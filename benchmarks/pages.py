"""Every page of 10,000 builds with `list_builds{all_pages = true}`: time at 50 ms latency,
CPU and peak RSS at none.

Issue 12 wants the pages fetched concurrently when the Link header names the last page, at
least 3x faster than walking `next` one page at a time; both are measured in the same run,
against two latency servers that differ only in rel="last" (`--no-last-link`). Each time is
kosmo's `execution_time_ms` for the whole run, HTTP stack start included (it is in both, so
it only lowers the ratio). At zero latency the kosmo run (parent and worker together) is
held against a bare httpx walk of `next` in its own Python process that keeps every build in
a list, as the script keeps them: targets at most 1.2x its CPU time and 1.2x its peak RSS.
A third run there, with `KOSMO_NATIVE=0`, shows what the C decoder of pages saves (it says
when the decoder is not built, and then the first two figures are the Python path's).
Run by hand (it starts three servers of 10,000 builds, about 5 s each):

    .venv/bin/python benchmarks/pages.py [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Callable
from contextlib import ExitStack

from harness import BASE_ENV, Failed, Run, configured, lua, measure, median_ms
from latency_server import ORGANIZATION, PIPELINE, TOKEN, running

from kosmo_lua.runtime.native import SWITCH, library_path

BUILDS, PER_PAGE = 10_000, 100
LATENCY = 0.05
SCRIPT = (
    "local b = app.integrations.buildkite.list_builds{\n"
    f'  organization = "{ORGANIZATION}", pipeline = "{PIPELINE}",\n'
    f"  all_pages = true, max_pages = {BUILDS // PER_PAGE}, per_page = {PER_PAGE}}}\n"
    "return #b"
)
LIMITS = ("--memory-limit", "1G", "--cpu-limit", "600")
BARE_WALK = """
import sys, httpx
url, token = sys.argv[1:]
items = []
with httpx.Client(headers={"Authorization": f"Bearer {token}"}) as client:
    while url:
        reply = client.get(url).raise_for_status()
        items.extend(reply.json())
        url = reply.links.get("next", {}).get("url")
print(len(items))
"""


def kosmo_pages(env: dict[str, str]) -> Run:
    """One kosmo run of SCRIPT; its `wall` is kosmo's own `execution_time_ms`."""
    done = lua(SCRIPT, env, *LIMITS)
    assert done.envelope["result"] == [BUILDS], done.envelope
    return done.run._replace(wall=done.seconds)


def bare_walk(base_url: str) -> Run:
    first = f"{base_url}/organizations/{ORGANIZATION}/pipelines/{PIPELINE}/builds"
    walk = measure(
        [sys.executable, "-c", BARE_WALK, f"{first}?per_page={PER_PAGE}", TOKEN], BASE_ENV
    )
    if walk.status or walk.stdout.split() != [str(BUILDS)]:
        raise Failed(f"bare walk exited with {walk.status}: {walk.stdout[-500:]!r}")
    return walk


def alternate(runs: int, *measured: tuple[str, Callable[[], Run]]) -> dict[str, list[Run]]:
    """Each (name, run-it) `runs` times, in turn, after one unmeasured round that warms
    the servers' reply caches."""
    found: dict[str, list[Run]] = {name: [] for name, _ in measured}
    for index in range(runs + 1):
        for name, run_it in measured:
            run = run_it()
            if index:
                found[name].append(run)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs
    with ExitStack() as stack:
        concurrent = stack.enter_context(configured(stack.enter_context(running(LATENCY, BUILDS))))
        sequential = stack.enter_context(
            configured(stack.enter_context(running(LATENCY, BUILDS, last_link=False)))
        )
        timed = alternate(
            runs,
            ("concurrent", lambda: kosmo_pages(concurrent)),
            ("sequential", lambda: kosmo_pages(sequential)),
        )
    with running(0.0, BUILDS) as base_url, configured(base_url) as env:
        native = {name: value for name, value in env.items() if name != SWITCH}
        python_only = {**native, SWITCH: "0"}
        costs = alternate(
            runs,
            ("kosmo", lambda: kosmo_pages(native)),
            ("bare", lambda: bare_walk(base_url)),
            ("python", lambda: kosmo_pages(python_only)),
        )
    fast = median_ms([run.wall for run in timed["concurrent"]])
    slow = median_ms([run.wall for run in timed["sequential"]])
    cpu = {name: statistics.median(run.cpu for run in found) for name, found in costs.items()}
    rss = {name: statistics.median(run.peak_rss for run in found) for name, found in costs.items()}
    pages = BUILDS // PER_PAGE
    print(f"runs: {runs} each, alternating; {BUILDS} builds in {pages} pages of {PER_PAGE}")
    print(f"at {LATENCY * 1000:.0f} ms latency (kosmo's execution_time_ms):")
    print(f'  rel="last" (concurrent):  {fast:7.0f} ms')
    print(f"  next only (sequential):   {slow:7.0f} ms")
    print(f"  sequential/concurrent:    {slow / fast:7.2f}x  (target >= 3x)")
    print("at 0 ms latency (whole processes: kosmo's parent and worker; the bare walk):")
    kosmo_cpu, bare_cpu = cpu["kosmo"], cpu["bare"]
    kosmo_rss, bare_rss = rss["kosmo"] / 2**20, rss["bare"] / 2**20
    print(f"  CPU:      kosmo {kosmo_cpu:5.2f} s    bare httpx walk {bare_cpu:5.2f} s  ", end="")
    print(f"{kosmo_cpu / bare_cpu:5.2f}x  (target <= 1.2x)")
    print(f"  peak RSS: kosmo {kosmo_rss:5.0f} MiB  bare httpx walk {bare_rss:5.0f} MiB", end="")
    print(f"{kosmo_rss / bare_rss:5.2f}x  (target <= 1.2x)")
    built = "built" if library_path() else "NOT BUILT: both runs decode in Python"
    python_cpu, python_rss = cpu["python"], rss["python"] / 2**20
    print(f"  without the C decoder ({SWITCH}=0; the decoder is {built}):")
    print(f"            CPU {python_cpu:5.2f} s = {python_cpu / bare_cpu:4.2f}x,", end="")
    print(f" peak RSS {python_rss:4.0f} MiB = {python_rss / bare_rss:4.2f}x")


if __name__ == "__main__":
    main()
