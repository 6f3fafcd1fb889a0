"""The Buildkite emulator on loopback with a fixed delay per request, for the concurrency
benchmarks (issue 12).

A script's calls only overlap if the server lets them: this one sleeps `--latency` seconds
per request outside the emulator's lock, in a thread per connection, with a deep accept
queue (a burst of 50 connections must not wait for a SYN retry) and a rate limit out of
reach. `--builds N` fills pipeline bench/bench with N finished builds (data-file format,
docs/emulator.md). `--no-last-link` drops rel="last" from Link headers, so a client can
only walk `next` one page at a time: the sequential baseline, served in the same run.

    .venv/bin/python benchmarks/latency_server.py --latency 0.05 --builds 10000 [--port 8990]

From another benchmark: `serve(...)` in a thread, or `running(...)` in a child process (its
own GIL, so a Python client measured in the benchmark does not compete with the server).
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any

from kosmo_lua import emulation
from kosmo_lua.emulation import Served
from kosmo_lua.integrations.buildkite.emulator import Emulator

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

ORGANIZATION = PIPELINE = "bench"
TOKEN = "bk-emulator-token"


def world(builds: int) -> dict[str, Any]:
    """Emulator data (the data-file format) with `builds` passed builds of one pipeline."""
    pipeline = {
        "name": PIPELINE,
        "repository": "git@example.com:bench/bench.git",
        "steps": [{"key": "test", "command": "make test"}],
        "builds": [{} for _ in range(builds)],
    }
    return {"organizations": [{"slug": ORGANIZATION, "pipelines": [pipeline]}]}


# What a GET reply depends on (the host and token too: links carry the host, 401s the token).
_CACHE_KEY = ("PATH_INFO", "QUERY_STRING", "HTTP_HOST", "HTTP_AUTHORIZATION")


class Delayed:
    """The emulator behind a fixed latency, optionally without rel="last" links.

    GET replies are cached: this world never changes on its own (every build finished, no
    build clock), and the emulator renders a page of 100 builds in about 50 ms under its one
    lock, which would serialize the very requests a concurrent client overlaps. So the first
    walk (each benchmark's warm-up) pays for rendering; the runs it measures see the latency.
    """

    base_path = Emulator.base_path

    def __init__(self, emulator: Emulator, latency: float, last_link: bool) -> None:
        self.emulator = emulator
        self.token = emulator.token
        self.latency = latency
        self.last_link = last_link
        self._replies: dict[tuple[str, ...], tuple[str, list[tuple[str, str]], bytes]] = {}

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        time.sleep(self.latency)  # before the emulator takes its lock: delays overlap
        if environ["REQUEST_METHOD"] != "GET":  # a write may change any reply
            self._replies.clear()
            status, headers, body = self._render(environ)
        else:
            key = tuple(environ.get(name, "") for name in _CACHE_KEY)
            if key not in self._replies:
                self._replies[key] = self._render(environ)
            status, headers, body = self._replies[key]
        start_response(status, headers)
        return [body]

    def _render(self, environ: WSGIEnvironment) -> tuple[str, list[tuple[str, str]], bytes]:
        started: list[tuple[str, list[tuple[str, str]]]] = []

        def start(status: str, headers: list[tuple[str, str]], *exc_info: Any) -> Any:
            if not self.last_link:
                headers = [(k, _without_last(v) if k.lower() == "link" else v) for k, v in headers]
            started.append((status, headers))
            return lambda data: None  # the emulator returns its body instead of writing it

        body = b"".join(self.emulator(environ, start))
        return started[0][0], started[0][1], body


def _without_last(links: str) -> str:
    # The emulator joins links with ", "; a URL's own commas are percent-encoded.
    return ", ".join(link for link in links.split(", ") if not link.endswith('rel="last"'))


def serve(latency: float, builds: int, *, last_link: bool = True, port: int = 0) -> Served:
    """Serves the emulator on 127.0.0.1 (port 0: any free port) until closed, as
    `kosmo integrations:emulate` does."""
    emulator = Emulator(world(builds), token=TOKEN, rate_limit=10**9)
    return emulation.serve(Delayed(emulator, latency, last_link), port=port)


@contextmanager
def running(latency: float, builds: int, *, last_link: bool = True) -> Iterator[str]:
    """The server in a child process, stopped on leaving; yields its base URL."""
    command = [sys.executable, __file__, "--latency", str(latency), "--builds", str(builds)]
    if not last_link:
        command.append("--no-last-link")
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    try:
        first = child.stdout.readline()
        if not first.startswith("serving at "):
            raise RuntimeError(f"latency server did not start: {first!r}")
        yield first.split()[-1]
    finally:
        child.terminate()
        child.wait()
        child.stdout.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per request")
    parser.add_argument("--builds", type=int, default=100, help="builds of bench/bench")
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    parser.add_argument("--no-last-link", action="store_true", help='no rel="last" links')
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with serve(args.latency, args.builds, last_link=not args.no_last_link, port=args.port) as s:
        print(f"serving at {s.base_url}", flush=True)
        print(f"token {TOKEN}; builds of {ORGANIZATION}/{PIPELINE}: {args.builds}", flush=True)
        with suppress(KeyboardInterrupt):  # Ctrl-C, or SIGTERM from running()
            signal.pause()


if __name__ == "__main__":
    main()
