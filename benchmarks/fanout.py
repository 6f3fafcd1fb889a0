"""50 x `get_build` at 50 ms latency: a Lua loop, `app.map`, and plain Python's floor.

Issue 12 wants `app.map` at least 6x faster than the loop and at most 1.5x the floor (50
httpx requests on 50 threads, one client); `app.map` runs with its default concurrency and
again with `{concurrency = 50}`, as many calls in flight as the floor. Lua has no wall
clock, so kosmo's own `execution_time_ms` times each run, and a run that makes only the
warm-up call is subtracted: that call loads the HTTP stack (about 0.1 s, once per run) and
opens the first connection, as the floor's warm-up request does, so each figure is the 50
calls alone. All runs alternate against one latency server in a child process. Run by hand:

    .venv/bin/python benchmarks/fanout.py [--runs 5]
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
from harness import Failed, configured, lua, median_ms
from latency_server import ORGANIZATION, PIPELINE, TOKEN, running

CALLS = 50
LATENCY = 0.05
BUILD = f'organization = "{ORGANIZATION}", pipeline = "{PIPELINE}"'
WARM_UP = f"local bk = app.integrations.buildkite\nbk.get_build{{{BUILD}, number = 1}}\n"


def mapped(options: str = "") -> str:
    """The app.map script; `options` its third argument, if any."""
    return (
        WARM_UP
        + f"local numbers = {{}}\nfor n = 1, {CALLS} do numbers[n] = n end\n"
        + "local builds = app.map(numbers, function(n)\n"
        + f"  return app.integrations.buildkite.get_build{{{BUILD}, number = n}}\n"
        + f"end{options})\nreturn #builds"
    )


SCRIPTS = {
    "warm-up": WARM_UP + f"return {CALLS}",
    "loop": WARM_UP
    + f"local builds = {{}}\nfor n = 1, {CALLS} do\n"
    + f"  builds[n] = bk.get_build{{{BUILD}, number = n}}\nend\nreturn #builds",
    "map": mapped(),
    # As many calls in flight as the floor has (app.map's default is fewer).
    "map-all": mapped(f", {{concurrency = {CALLS}}}"),
}
MAPPED = {"map": "(default concurrency)", "map-all": f"{{concurrency = {CALLS}}}"}
# pcall: before app.map exists, `app.map` is an integration path that refuses a function.
PROBE = "return pcall(app.map, {1}, function(n) return n end)"


def floor(base_url: str) -> float:
    """Seconds for 50 concurrent GETs from one warm httpx client, on 50 threads (faster
    than httpx's asyncio here)."""
    urls = [
        f"{base_url}/organizations/{ORGANIZATION}/pipelines/{PIPELINE}/builds/{n}"
        for n in range(1, CALLS + 1)
    ]
    limits = httpx.Limits(max_connections=CALLS)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(headers=headers, limits=limits) as client, ThreadPoolExecutor(CALLS) as pool:
        client.get(urls[0]).raise_for_status()
        started = time.perf_counter()
        builds = list(pool.map(lambda url: client.get(url).raise_for_status().json(), urls))
        elapsed = time.perf_counter() - started
    assert len(builds) == CALLS
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    times: dict[str, list[float]] = {name: [] for name in [*SCRIPTS, "httpx"]}
    failed: dict[str, str] = {}  # an app.map variant that failed, and why
    with running(LATENCY, CALLS) as base_url, configured(base_url) as env:
        probe = lua(PROBE, env).envelope["result"]
        if not probe[0]:
            failed = {name: f"not available: {probe[1]}" for name in MAPPED}
        for index in range(runs + 1):  # round 0 warms the server's cache and the page cache
            for name, script in SCRIPTS.items():
                if name in failed:
                    continue
                try:
                    run = lua(script, env)
                except Failed as error:
                    if name not in MAPPED:
                        raise
                    failed[name] = f"failed: {error}"
                    continue
                assert run.envelope["result"] == [CALLS], run.envelope
                if index:
                    times[name].append(run.seconds)
            seconds = floor(base_url)
            if index:
                times["httpx"].append(seconds)
    warm_up = median_ms(times["warm-up"])
    loop = median_ms(times["loop"]) - warm_up
    httpx_ms = median_ms(times["httpx"])
    print(f"runs:      {runs} each, alternating; {CALLS} x get_build at {LATENCY * 1000:.0f} ms")
    print(f"warm-up:   {warm_up:7.1f} ms  (a kosmo run making 1 call; subtracted below)")
    print(f"loop:      {loop:7.1f} ms  (Lua for loop)")
    print(f"httpx:     {httpx_ms:7.1f} ms  ({CALLS} threads, one httpx.Client: the floor)")
    for name, label in MAPPED.items():
        if name in failed:
            print(f"app.map {label}: {failed[name]}")
            continue
        mapped_ms = median_ms(times[name]) - warm_up
        print(f"app.map {label}: {mapped_ms:7.1f} ms")
        print(f"  loop/map:  {loop / mapped_ms:7.2f}x  (target >= 6x)")
        print(f"  map/httpx: {mapped_ms / httpx_ms:7.2f}x  (target <= 1.5x)")


if __name__ == "__main__":
    main()
