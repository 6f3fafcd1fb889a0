"""Following and summarising builds: what an agent or a CI job does after a push.

``wait_for_build`` polls until a build is over, saying on stderr how it goes (never on
stdout, which is the script's); ``get_build_failures`` gathers, in one call, what a person
triaging a red build looks at: its failed jobs with the end of each log and the first error
line, and its error and warning annotations.
"""

from __future__ import annotations

import html
import re
import sys
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TextIO

from ...errors import ApiError, WaitTimedOut
from ...request import Call
from . import joblogs

# A build in one of these states changes no more on its own ("blocked" waits for a person).
FINISHED = frozenset({"passed", "failed", "canceled", "skipped", "not_run", "blocked"})
# Jobs that failed the build, or would have but for soft_fail.
FAILED_JOBS = frozenset({"failed", "timed_out", "expired", "broken"})
ANNOTATION_STYLES = ("error", "warning")
# An HTML tag; it holds no "<", so HTML of unclosed ones is read once, not once from each.
_TAG = re.compile(r"<[^<>]+>")


def wait_for_build(call: Call) -> tuple[Any, dict[str, Any]]:
    """Polls the build every ``interval`` seconds until it is finished, for at most
    ``timeout`` seconds; then returns the build as ``get_build`` does."""
    args = call.args
    progress = _Progress(sys.stderr, f"{args['pipeline']} #{args['number']}")
    started = time.monotonic()
    deadline = started + args["timeout"]
    while True:
        response = call.send()
        build = response.data
        state = build.get("state", "unknown") if isinstance(build, dict) else "unknown"
        progress.show(state, time.monotonic() - started)
        if state in FINISHED:
            progress.done()
            return build, response.meta()
        left = deadline - time.monotonic()
        if left <= 0:
            progress.done()
            raise WaitTimedOut(
                f"Build {args['organization']}/{args['pipeline']} #{args['number']} did not"
                f" finish within {args['timeout']:g} s; it is {state}. Wait longer (timeout ="
                " ...), or read it later with get_build",
                tool=call.tool.full_name,
                state=state,
                last=_summary(build),
            )
        time.sleep(min(args["interval"], left))


def get_build_failures(call: Call) -> tuple[Any, dict[str, Any]]:
    """The build, its failed jobs (the last ``log_lines`` lines of each log and the first
    line matching ``error_pattern``, fetched concurrently) and its error and warning
    annotations as plain text."""
    args = call.args
    pattern = joblogs.line_pattern(call, args["error_pattern"])
    response = call.send()
    build = response.data
    build_path = call.path()
    failed = [job for job in _jobs(build) if _failed(job)]

    def summary(job: dict[str, Any]) -> dict[str, Any]:
        log = f"{build_path}/jobs/{urllib.parse.quote(str(job['id']), safe='')}/log"
        tail, _ = joblogs.tail(call, args["log_lines"], log)
        first, _ = joblogs.search(call, pattern, 0, 1, True, log)
        return {
            **{key: job.get(key) for key in ("id", "name", "state", "exit_status", "web_url")},
            "soft_failed": bool(job.get("soft_failed")),
            "log_tail": joblogs.strip_log(tail),
            "first_error": {"line": first[0]["line"], "text": first[0]["text"]} if first else None,
        }

    jobs: list[dict[str, Any]] = []
    if failed:
        with ThreadPoolExecutor(max_workers=min(call.concurrency, len(failed))) as pool:
            jobs = list(pool.map(summary, failed))
    result = {
        "build": _summary(build),
        "failed_jobs": jobs,
        "annotations": _annotations(call, build_path),
    }
    return result, response.meta()


def _jobs(build: Any) -> list[dict[str, Any]]:
    """The build's jobs that are objects with an id; a reply of another shape has none."""
    jobs = build.get("jobs") if isinstance(build, dict) else None
    if not isinstance(jobs, list):
        return []
    return [job for job in jobs if isinstance(job, dict) and job.get("id") is not None]


def _failed(job: dict[str, Any]) -> bool:
    """A command job that failed the build, not replaced by a newer attempt (retried)."""
    state = job.get("state")
    return (
        job.get("type", "script") == "script"
        and isinstance(state, str)
        and state in FAILED_JOBS
        and not job.get("retried")
    )


def _summary(build: Any) -> dict[str, Any]:
    if not isinstance(build, dict):
        return {}
    keys = ("number", "state", "branch", "commit", "message", "web_url")
    return {key: build.get(key) for key in keys}


def _annotations(call: Call, build_path: str) -> list[dict[str, Any]]:
    """The build's error and warning annotations, their HTML as plain text."""
    try:
        found = call.send("GET", f"{build_path}/annotations", query=[("per_page", "100")]).data
    except ApiError as exc:
        if exc.status == 404:  # a deployment without annotations
            return []
        raise
    items = found if isinstance(found, list) else []
    return [
        {
            "style": item.get("style"),
            "context": item.get("context"),
            "text": _plain(item.get("body_html")),
        }
        for item in items
        if isinstance(item, dict) and item.get("style") in ANNOTATION_STYLES
    ]


def _plain(body: Any) -> str:
    """An annotation's HTML as text; what is no string (a server's mistake) as none."""
    return html.unescape(_TAG.sub("", body)).strip() if isinstance(body, str) else ""


class _Progress:
    """A build's state as it changes, on stderr: on a terminal one line kept up to date
    (with the time waited); elsewhere (CI logs) one line per change."""

    def __init__(self, stream: TextIO, name: str) -> None:
        self._stream = stream
        self._name = name
        self._state: str | None = None
        self._live = stream.isatty()

    def show(self, state: str, elapsed: float) -> None:
        line = f"kosmo: {self._name} is {state} ({elapsed:.0f} s)"
        if self._live:
            end = "\n" if self._state not in (None, state) else ""
            self._write(f"{end}\r{line}\x1b[K")
        elif state != self._state:
            self._write(line + "\n")
        self._state = state

    def done(self) -> None:
        if self._live:
            self._write("\n")

    def _write(self, text: str) -> None:
        try:
            self._stream.write(text)
            self._stream.flush()
        except (OSError, ValueError):  # stderr closed: progress is not worth failing over
            pass
