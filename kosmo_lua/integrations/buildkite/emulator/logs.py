"""Job logs shaped like the agent's: timestamp markers, ANSI colours, erase codes, sections.

A job's log grows in two pieces: the preamble when it starts (checkout, then the command line)
and the conclusion when it finishes (the command's output, then the agent's exit report).
"""

from __future__ import annotations

import re

from .model import Build, Job

_LINE_GAP = 0.05  # seconds between stamped lines
_HEADER = re.compile(r"^\x1b_bk;t=(\d+)\x07(?:~~~|---|\+\+\+) ", re.MULTILINE)

DIM, RED, RESET, ERASE = "\x1b[90m", "\x1b[31m", "\x1b[0m", "\x1b[K"


def stamp(lines: list[str], start: float) -> str:
    """Prefix each line with ``ESC _bk;t=<epoch ms> BEL``, as the agent does."""
    return "".join(
        f"\x1b_bk;t={round((start + i * _LINE_GAP) * 1000)}\x07{line}\n"
        for i, line in enumerate(lines)
    )


def header_times(log: str) -> list[int]:
    """Nanosecond times of the section headers (``~~~``, ``---``, ``+++``)."""
    return [int(millis) * 1_000_000 for millis in _HEADER.findall(log)]


def preamble(build: Build, job: Job, start: float) -> str:
    pipeline = build.pipeline
    workdir = (
        f"/var/lib/buildkite-agent/builds/{job.agent}/{pipeline.organization.slug}/{pipeline.slug}"
    )
    subject = build.message.splitlines()[0] if build.message else ""
    lines = [
        "~~~ Running global environment hook",
        "~~~ Preparing working directory",
        f"{DIM}${RESET} cd {workdir}",
        f"{DIM}${RESET} git clone -v -- {pipeline.repository} .",
        "Cloning into '.'...",
        f"remote: Counting objects: 100% (412/412), done.{ERASE}",
        f"Receiving objects: 100% (2961/2961), 1.38 MiB | 9.71 MiB/s, done.{ERASE}",
        f"{DIM}${RESET} git checkout -f {build.commit}",
        f"HEAD is now at {build.commit[:7]} {subject}",
        "~~~ Running commands",
        f"{DIM}${RESET} {job.step.command}",
    ]
    return stamp(lines, start)


def conclusion(job: Job, end: float, started: float) -> str:
    """The command's output then, for a failure, the agent's error report."""
    step = job.step
    failed = job.exit_status not in (None, 0)
    text = step.failure_output if failed else step.output
    lines = (text or _default_output(job, failed)).splitlines()
    if failed:
        lines += [
            f"{RED}🚨 Error: The command exited with status {job.exit_status}{RESET}",
            "^^^ +++",
        ]
    return stamp(lines, max(started, end - len(lines) * _LINE_GAP))


def _default_output(job: Job, failed: bool) -> str:
    if failed:
        return f"{RED}✖ {job.step.label} failed{RESET}"
    return f"✔ {job.step.label} done"
