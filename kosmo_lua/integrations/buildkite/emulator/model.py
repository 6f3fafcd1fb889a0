"""The emulator's records: plain dataclasses that the state machine mutates and payloads render.

Times are Unix seconds (floats) so that filters compare numbers; they become ISO 8601 strings
only when rendered. Identifiers derive from names, so the same data always yields the same ids.
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .analytics import Suite
    from .fleet import Agent, Cluster
    from .logs import SyntheticLog

_NAMESPACE = uuid.UUID("6f1c9a52-3d0e-4b8e-9a51-b0c4a1e0b7d2")

LIVE_BUILD_STATES = frozenset({"scheduled", "running", "failing"})  # what cancel accepts
UNFINISHED_BUILD_STATES = frozenset({*LIVE_BUILD_STATES, "canceling"})
BLOCKED_JOB_STATES = frozenset({"blocked", "blocked_failed"})  # a block step waiting
# Jobs not yet reached: ``waiting`` ones sit behind a wait step.
PENDING_JOB_STATES = frozenset({"scheduled", "waiting", *BLOCKED_JOB_STATES})


def stable_id(*parts: object) -> str:
    """A UUID named by ``parts``: deterministic across runs, unique across names."""
    return str(uuid.uuid5(_NAMESPACE, "/".join(map(str, parts))))


def graphql_id(kind: str, record_id: str) -> str:
    """Buildkite's GraphQL ids are base64 of ``Kind---uuid``."""
    return base64.b64encode(f"{kind}---{record_id}".encode()).decode()


def iso(moment: float | None) -> str | None:
    """Render a time as the API does: ``2026-03-16T12:00:00.000Z``."""
    if moment is None:
        return None
    millis = round(moment * 1000)
    stamp = datetime.fromtimestamp(millis // 1000, UTC)
    return f"{stamp:%Y-%m-%dT%H:%M:%S}.{millis % 1000:03d}Z"


def parse_time(text: str) -> float:
    """Read ISO 8601 (``Z`` or offset; a bare date or time counts as UTC)."""
    moment = datetime.fromisoformat(text.strip())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


@dataclass
class User:
    id: str
    name: str
    email: str
    created_at: float
    avatar_url: str = ""


@dataclass
class Organization:
    id: str
    slug: str
    name: str
    created_at: float
    # Agents, clusters and Test Engine suites (fleet.py, analytics.py).
    agents: list[Agent] = field(default_factory=list)
    clusters: list[Cluster] = field(default_factory=list)
    suites: list[Suite] = field(default_factory=list)


@dataclass(frozen=True)
class ArtifactFile:
    """A file a step uploads when its job finishes; ``failure_content`` instead on failure."""

    path: str
    content: bytes
    mime_type: str
    failure_content: bytes | None = None


@dataclass
class Step:
    """A step definition: a command step, whose jobs' outcomes ``fails``/``flaky`` make
    deterministic; a block step (``block``), whose job waits to be unblocked; a wait step
    (``wait``); or a trigger step (``trigger``), whose job builds another pipeline."""

    key: str
    label: str
    command: str
    block: bool = False  # a block step: its job is type "manual" and waits for unblock
    wait: bool = False  # a wait step: its job is type "waiter"
    continue_on_failure: bool = False  # a wait step that lets later steps run after a failure
    trigger: str | None = None  # a trigger step: the slug of the pipeline it builds
    trigger_async: bool = False  # ... passing once that build is created, not when it passes
    group: str | None = None  # the key of the group step it belongs to
    fails: bool = False  # every attempt fails
    flaky: bool = False  # the first attempt fails, retries pass
    soft_fail: bool = False  # a failure does not fail the build
    exit_status: int = 1  # the exit status of a failing attempt
    duration: float = 30.0  # seconds, used to date the jobs of historic builds
    output: str | None = None  # what the command prints when it passes
    failure_output: str | None = None  # ... and when it fails
    env: dict[str, str] = field(default_factory=dict)
    artifacts: list[ArtifactFile] = field(default_factory=list)

    def fails_on(self, attempt: int) -> bool:
        return self.fails or (self.flaky and attempt == 0)

    @property
    def type(self) -> str:
        """The type of its jobs, as the API names it."""
        if self.block:
            return "manual"
        if self.wait:
            return "waiter"
        return "script" if self.trigger is None else "trigger"


@dataclass
class Pipeline:
    id: str
    organization: Organization
    slug: str
    name: str
    repository: str
    steps: list[Step]
    created_at: float
    created_by: User | None
    default_branch: str = "main"
    env: dict[str, str] = field(default_factory=dict)
    archived_at: float | None = None
    # Documented settings the emulator stores and echoes back but does not act on.
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass
class Job:
    id: str
    step: Step
    created_at: float
    attempt: int = 0  # 0 for the first run, n for the n-th retry
    state: str = "scheduled"
    exit_status: int | None = None
    soft_failed: bool = False
    signal: str | None = None
    signal_reason: str | None = None
    agent: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    log: str = ""
    big_log: SyntheticLog | None = None  # a data file's "log_bytes": made on the fly
    env: dict[str, str] = field(default_factory=dict)
    retried: bool = False
    retried_in_job_id: str | None = None
    retry_source_id: str | None = None  # the job this one retries
    priority: int = 0
    artifacts: list[Artifact] = field(default_factory=list)
    unblocked_by: User | None = None  # a block step's job, once unblocked
    unblocked_at: float | None = None
    # A trigger step's job, once it has built (not compared: builds and jobs link both ways).
    triggered_build: Build | None = field(default=None, compare=False, repr=False)

    @property
    def hard_failed(self) -> bool:
        return self.state in {"failed", "timed_out", "expired", "broken"} and not self.soft_failed


@dataclass
class Build:
    id: str
    seq: int  # creation order across the whole emulator, to break ties in listings
    number: int
    pipeline: Pipeline
    creator: User
    commit: str
    branch: str
    message: str
    created_at: float
    state: str = "scheduled"
    source: str = "api"
    author: dict[str, Any] = field(default_factory=dict)
    env: dict[str, Any] = field(default_factory=dict)
    meta_data: dict[str, Any] = field(default_factory=dict)
    pull_request: dict[str, Any] = field(default_factory=dict)
    jobs: list[Job] = field(default_factory=list)
    started_at: float | None = None
    failing_at: float | None = None
    finished_at: float | None = None
    rebuilt_from: Build | None = None
    # When the state machine moves this build on; None: finished, blocked or waiting for the
    # build a trigger step started.
    next_at: float | None = None
    blocked: bool = False  # waiting at a block step (its state stays passed or failed)
    # The build and trigger step's job that created this build, if one did.
    triggered_by: tuple[Build, Job] | None = field(default=None, compare=False, repr=False)
    annotations: list[Annotation] = field(default_factory=list)

    def latest_jobs(self) -> list[Job]:
        """The most recent attempt of each step (what the API shows by default)."""
        return [job for job in self.jobs if not job.retried]


@dataclass
class Artifact:
    """A file a job uploaded; a deleted one is gone from every listing and lookup."""

    id: str
    job_id: str
    file: ArtifactFile
    content: bytes
    created_at: float
    state: str = "finished"


@dataclass
class Annotation:
    """A note on a build, or on one of its jobs (``job_id``); ``body`` is its Markdown."""

    id: str
    context: str
    style: str
    priority: int
    body: str
    created_at: float
    updated_at: float
    job_id: str | None = None
