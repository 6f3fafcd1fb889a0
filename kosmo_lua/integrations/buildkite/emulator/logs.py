"""Job logs shaped like the agent's: timestamp markers, ANSI colours, erase codes, sections.

A job's log grows in two pieces: the preamble when it starts (checkout, then the command line)
and the conclusion when it finishes (the command's output, then the agent's exit report).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

from .model import Build, Job

_LINE_GAP = 0.05  # seconds between stamped lines
_HEADER = re.compile(r"^\x1b_bk;t=(\d+)\x07(?:~~~|---|\+\+\+) ", re.MULTILINE)
# Timestamp markers (``ESC _ … BEL``) and CSI sequences (colours, ``ESC[K``).
_ESCAPES = re.compile(r"\x1b_[^\x07]*\x07|\x1b\[[0-9;?]*[A-Za-z]")

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


def as_html(log: str) -> str:
    """The log as the API's ``text/html`` format gives it, less terminal-to-html's colours:
    markers and escape codes gone, the text escaped, the lines kept."""
    return html.escape(_ESCAPES.sub("", log), quote=False)


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


class SyntheticLog:
    """A job log of any size, made on the fly: benchmarks and tests read gigabytes of it
    without the emulator holding them. Agent-shaped lines of ``LINE_BYTES`` each (a
    timestamp marker, then text), a block of them repeated, and the failure at the end, so
    any byte range is made from offsets without the bytes before it."""

    LINE_BYTES = 100
    BLOCK_LINES = 1000
    ENDING = stamp(
        [
            "--- :test_tube: Running the test suite",
            "FAIL tests/test_payments.py::test_refund_rounding - AssertionError: 9.99 != 10.0",
            f"{RED}🚨 Error: The command exited with status 1{RESET}",
            "^^^ +++",
        ],
        1_700_000_000.0,
    ).encode()

    def __init__(self, size: int) -> None:
        body_lines = max(size - len(self.ENDING), 0) // self.LINE_BYTES
        self._body_size = body_lines * self.LINE_BYTES
        self.size = self._body_size + len(self.ENDING)
        self._block = b"".join(self._line(i) for i in range(self.BLOCK_LINES))

    def _line(self, i: int) -> bytes:
        marker = f"\x1b_bk;t={1_700_000_000_000 + i * 50}\x07".encode()
        text = f"[worker {i % 7}] step {i:04d}: compiling src/module_{i:04d}.c ... ok".encode()
        padding = self.LINE_BYTES - len(marker) - len(text) - 1
        return marker + text + b" " * padding + b"\n"

    def read(self, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """The bytes ``start`` to ``end`` (exclusive), in chunks of at most a block."""
        end = self.size if end is None else min(end, self.size)
        block = len(self._block)
        position = start
        while position < min(end, self._body_size):
            offset = position % block
            stop = min(block, offset + min(end, self._body_size) - position)
            yield self._block[offset:stop]
            position += stop - offset
        if end > self._body_size:
            yield self.ENDING[max(position - self._body_size, 0) : end - self._body_size]

    def text(self) -> str:
        return b"".join(self.read()).decode()
