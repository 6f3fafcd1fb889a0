"""The emulator's world and the rules that move builds along.

A live build advances one state step at a time: the first step starts it and its first job;
each later step finishes the running job and starts the next, and the step after the last job
finishes the build (``passed``, or ``failed`` if a latest attempt hard-failed). Jobs run one at
a time, in step order. Whether a job fails comes from its step definition, so outcomes are
deterministic. Operations raise :class:`ApiError` with the status and message the API uses.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Mapping
from typing import Any

from . import logs
from .model import (
    BLOCKED_JOB_STATES,
    LIVE_BUILD_STATES,
    Artifact,
    Build,
    Job,
    Organization,
    Pipeline,
    Step,
    User,
    stable_id,
)

RETRYABLE_STATES = ("canceled", "expired", "failed", "soft_failed", "timed_out")
ARCHIVED_MESSAGE = "This pipeline is archived. Unarchive it before changing it or creating builds."

# Pipeline settings accepted on create/update and echoed back, with their defaults.
PIPELINE_SETTINGS: dict[str, Any] = {
    "description": None,
    "branch_configuration": None,
    "skip_queued_branch_builds": False,
    "skip_queued_branch_builds_filter": None,
    "cancel_running_branch_builds": False,
    "cancel_running_branch_builds_filter": None,
    "allow_rebuilds": True,
    "cluster_id": None,
    "visibility": "private",
    "tags": [],
    "configuration": "",
}


class ApiError(Exception):
    """A refusal the API reports as ``{"message": ..., "errors": [...]}`` with ``status``."""

    def __init__(self, status: int, message: str, errors: list[dict[str, str]] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors


def slugify(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def step_from_dict(spec: Mapping[str, Any], index: int) -> Step:
    """A step from the data file or a visual-steps pipeline body (``name`` or ``label``);
    ``block`` makes a block step, labelled by its value."""
    block = spec.get("block")
    label = str(
        (block if isinstance(block, str) else None)
        or spec.get("label")
        or spec.get("name")
        or spec.get("command")
        or f"Step {index}"
    )
    known = {
        name: spec[name]
        for name in ("fails", "flaky", "soft_fail", "exit_status", "duration", "output")
        if name in spec
    }
    return Step(
        key=str(spec.get("key") or slugify(label) or f"step-{index}"),
        label=label,
        command=str(spec.get("command") or ""),
        block=block is not None,
        failure_output=spec.get("failure_output"),
        env=dict(spec.get("env") or {}),
        **known,
    )


_YAML_ITEM = re.compile(r"^\s*-\s+(\w+):\s*(.*?)\s*$")
_YAML_KEY = re.compile(r"^\s+(\w+):\s*(.*?)\s*$")


def steps_from_configuration(text: str) -> list[Step]:
    """Command and block steps from simple pipeline YAML (scalar ``label``/``key``/``command``
    or ``block`` only).

    No YAML parser on purpose: the emulator stays stdlib-only and cheap to import. Anything
    richer (and ``buildkite-agent pipeline upload`` itself) becomes a single upload step.
    """
    found: list[dict[str, str]] = []
    for line in text.splitlines():
        if item := _YAML_ITEM.match(line):
            found.append({item[1]: item[2].strip("\"'")})
        elif found and (key := _YAML_KEY.match(line)):
            found[-1].setdefault(key[1], key[2].strip("\"'"))
    steps = [
        step_from_dict(spec, i)
        for i, spec in enumerate(found)
        if spec.get("command") or "block" in spec
    ]
    return steps or [Step("upload", ":pipeline:", "buildkite-agent pipeline upload")]


def _retry_category(job: Job) -> str | None:
    """How ``retry_failed_jobs`` names a job's failure (None: not retryable)."""
    if job.state == "failed":
        return "soft_failed" if job.soft_failed else "failed"
    return job.state if job.state in RETRYABLE_STATES else None


class World:
    """Organizations, pipelines and builds; ``users[0]`` owns the API token."""

    def __init__(self, users: list[User], step_seconds: float):
        self.users = users
        self.step_seconds = step_seconds
        self.organizations: dict[str, Organization] = {}
        self.pipelines: list[Pipeline] = []
        self.builds: list[Build] = []
        self._serial = itertools.count()

    @property
    def owner(self) -> User:
        return self.users[0]

    # Lookups: each miss is the API's 404.

    def organization(self, slug: str) -> Organization:
        if slug not in self.organizations:
            raise ApiError(404, "No organization found")
        return self.organizations[slug]

    def pipeline(self, org_slug: str, slug: str) -> Pipeline:
        org = self.organization(org_slug)
        for pipeline in self.pipelines:
            if pipeline.organization is org and pipeline.slug == slug:
                return pipeline
        raise ApiError(404, "No pipeline found")

    def build(self, pipeline: Pipeline, number: str) -> Build:
        for build in self.builds:
            if build.pipeline is pipeline and str(build.number) == number:
                return build
        raise ApiError(404, "No build found")

    @staticmethod
    def job(build: Build, job_id: str) -> Job:
        for job in build.jobs:
            if job.id == job_id:
                return job
        raise ApiError(404, "No job found")

    def user(self, ref: str) -> User:
        """A user by id or email (the data file may use either)."""
        for user in self.users:
            if ref in (user.id, user.email):
                return user
        raise ValueError(f"unknown user {ref!r}")

    def newest_first(self, keep: Callable[[Build], bool] = lambda _: True) -> list[Build]:
        chosen = [build for build in self.builds if keep(build)]
        return sorted(chosen, key=lambda b: (b.created_at, b.seq), reverse=True)

    # Pipelines.

    def create_pipeline(self, org: Organization, body: Mapping[str, Any], now: float) -> Pipeline:
        errors = [
            {"field": name, "code": "can't be blank"}
            for name in ("name", "repository")
            if not _text(body.get(name))
        ]
        if not body.get("steps") and not _text(body.get("configuration")):
            errors.append(
                {
                    "field": "configuration",
                    "code": 'Step configuration is missing, expected `steps: { yaml: "..." }`',
                }
            )
        slug = _text(body.get("slug")) or slugify(_text(body.get("name")))
        if any(p.organization is org and slug in (p.slug, slugify(p.name)) for p in self.pipelines):
            errors.append({"field": "name", "code": "has already been taken"})
        if errors:
            raise ApiError(422, "Validation Failed", errors)
        pipeline = Pipeline(
            id=stable_id(org.slug, slug),
            organization=org,
            slug=slug,
            name=_text(body["name"]),
            repository=_text(body["repository"]),
            steps=[],
            created_at=now,
            created_by=self.owner,
            settings=dict(PIPELINE_SETTINGS),
        )
        self._apply(pipeline, body)
        self.pipelines.append(pipeline)
        return pipeline

    def update_pipeline(self, pipeline: Pipeline, body: Mapping[str, Any]) -> None:
        self._check_writable(pipeline)
        self._apply(pipeline, body)

    def _apply(self, pipeline: Pipeline, body: Mapping[str, Any]) -> None:
        for name in ("name", "repository", "default_branch"):
            if _text(body.get(name)):
                setattr(pipeline, name, _text(body[name]))
        if isinstance(body.get("env"), dict):
            pipeline.env = {str(k): str(v) for k, v in body["env"].items()}
        pipeline.settings.update({k: body[k] for k in PIPELINE_SETTINGS if k in body})
        if _text(body.get("configuration")):
            pipeline.steps = steps_from_configuration(body["configuration"])
        elif isinstance(body.get("steps"), list):
            pipeline.steps = [step_from_dict(spec, i) for i, spec in enumerate(body["steps"])]

    @staticmethod
    def set_archived(pipeline: Pipeline, archived: bool, now: float) -> None:
        """Idempotent, so a client may safely repeat it after a lost reply."""
        if archived and pipeline.archived_at is None:
            pipeline.archived_at = now
        elif not archived:
            pipeline.archived_at = None

    def delete_pipeline(self, pipeline: Pipeline) -> None:
        self.pipelines.remove(pipeline)
        self.builds = [build for build in self.builds if build.pipeline is not pipeline]

    @staticmethod
    def _check_writable(pipeline: Pipeline) -> None:
        if pipeline.archived_at is not None:
            raise ApiError(422, ARCHIVED_MESSAGE)

    # Builds.

    def add_build(self, pipeline: Pipeline, number: int | None = None, **fields: Any) -> Build:
        """A scheduled build without jobs; ``fields`` are :class:`Build` attributes."""
        if number is None:
            number = 1 + max((b.number for b in self.builds if b.pipeline is pipeline), default=0)
        build = Build(
            id=stable_id(pipeline.id, "build", number),
            seq=next(self._serial),
            number=number,
            pipeline=pipeline,
            **fields,
        )
        self.builds.append(build)
        return build

    @staticmethod
    def add_job(
        build: Build,
        step: Step,
        moment: float,
        after: Job | None = None,
        job_id: str | None = None,
        **fields: Any,
    ) -> Job:
        """A scheduled job, placed last or right ``after`` the job it retries; its id is
        derived from the build unless the data gives one."""
        job_id = job_id or stable_id(build.id, "job", len(build.jobs))
        job = Job(id=job_id, step=step, created_at=moment, **fields)
        build.jobs.insert(build.jobs.index(after) + 1 if after else len(build.jobs), job)
        return job

    def launch(self, build: Build, moment: float) -> None:
        """Give a new build one job per pipeline step and put it on the clock; a block step
        first in line blocks it at once, as the service does."""
        for step in build.pipeline.steps:
            self.add_job(build, step, moment)
        if build.jobs and build.jobs[0].step.block:
            self.block(build, build.jobs[0], moment)
        else:
            build.next_at = moment + self.step_seconds

    def create_build(self, pipeline: Pipeline, body: Mapping[str, Any], now: float) -> Build:
        self._check_writable(pipeline)
        errors = [
            {"field": name, "code": "can't be blank"}
            for name in ("commit", "branch")
            if not _text(body.get(name))
        ]
        if errors:
            raise ApiError(422, "Validation Failed", errors)
        pull_request = {}
        if body.get("pull_request_id") is not None:
            pull_request = {
                "id": str(body["pull_request_id"]),
                "base": body.get("pull_request_base_branch"),
                "repository": body.get("pull_request_repository"),
                "labels": list(body.get("pull_request_labels") or []),
            }
        owner = self.owner
        build = self.add_build(
            pipeline,
            creator=owner,
            commit=_text(body["commit"]),
            branch=_text(body["branch"]),
            message=_text(body.get("message")),
            created_at=now,
            author=dict(body.get("author") or {"name": owner.name, "email": owner.email}),
            env=dict(body.get("env") or {}),
            meta_data=dict(body.get("meta_data") or {}),
            pull_request=pull_request,
        )
        self.launch(build, now)
        return build

    def rebuild(self, original: Build, now: float) -> Build:
        """A new build replaying the original's commit, branch, message, env and PR data."""
        self._check_writable(original.pipeline)
        build = self.add_build(
            original.pipeline,
            creator=self.owner,
            commit=original.commit,
            branch=original.branch,
            message=original.message,
            created_at=now,
            author=dict(original.author),
            env=dict(original.env),
            meta_data=dict(original.meta_data),
            pull_request=dict(original.pull_request),
            rebuilt_from=original,
        )
        self.launch(build, now)
        return build

    def cancel(self, build: Build, now: float) -> None:
        if build.state not in LIVE_BUILD_STATES:
            raise ApiError(422, "Build can't be canceled because it's already finished")
        for job in build.jobs:
            if job.state == "running":
                job.exit_status, job.signal, job.signal_reason = -1, "SIGTERM", "cancel"
                job.log += logs.stamp(["# Received cancellation signal, interrupting"], now)
            if job.state in ("running", "scheduled"):
                job.state, job.finished_at = "canceled", now
        build.state, build.finished_at, build.next_at = "canceled", now, None

    def retry_job(self, build: Build, job: Job, now: float) -> Job:
        if build.state == "canceled":
            raise ApiError(422, "Jobs from canceled builds cannot be retried")
        if job.retried:
            raise ApiError(422, "Jobs can only be retried once")
        if job.state not in ("failed", "timed_out", "canceled"):
            raise ApiError(400, "Only failed, timed out or canceled jobs can be retried")
        return self._retry(build, job, now)

    def retry_failed_jobs(self, build: Build, states: Any, now: float) -> int:
        """Retry every latest attempt whose failure is one of ``states`` (empty: all)."""
        items = states if isinstance(states, list) else str(states or "").split(",")
        wanted = [str(item).strip() for item in items if str(item).strip()]
        invalid = [state for state in wanted if state not in RETRYABLE_STATES]
        if invalid:
            raise ApiError(
                400,
                f"Invalid states: {', '.join(invalid)}. "
                f"Valid states are {', '.join(RETRYABLE_STATES)}.",
            )
        if build.state == "canceled":
            raise ApiError(422, "Jobs from canceled builds cannot be retried")
        chosen = set(wanted or RETRYABLE_STATES)
        failed = [job for job in build.latest_jobs() if _retry_category(job) in chosen]
        for job in failed:
            self._retry(build, job, now)
        return len(failed)

    def _retry(self, build: Build, job: Job, now: float) -> Job:
        """A new attempt right after the old one, which keeps its state; the build revives."""
        retry = self.add_job(
            build,
            job.step,
            now,
            after=job,
            attempt=job.attempt + 1,
            env=dict(job.env),
            retry_source_id=job.id,
        )
        job.retried, job.retried_in_job_id = True, retry.id
        failing = any(other.hard_failed for other in build.latest_jobs())
        build.state = "failing" if failing else "running"
        build.finished_at, build.blocked = None, False
        if build.next_at is None:
            build.next_at = now + self.step_seconds
        return retry

    # The clock.

    def next_event(self) -> float | None:
        """When the earliest live build moves next (None: every build has finished)."""
        return min((b.next_at for b in self.builds if b.next_at is not None), default=None)

    def sync(self, now: float) -> None:
        """Apply every state step due by ``now``, in time order."""
        while (due := self.next_event()) is not None and due <= now:
            build = next(b for b in self.builds if b.next_at == due)
            self._step(build, due)

    def _step(self, build: Build, moment: float) -> None:
        running = next((job for job in build.jobs if job.state == "running"), None)
        if running is not None:
            self.finish_job(build, running, moment, failed=running.step.fails_on(running.attempt))
        waiting = next(
            (job for job in build.jobs if job.state in ("scheduled", *BLOCKED_JOB_STATES)), None
        )
        if waiting is None:
            self.finish_build(build, moment)
            return
        if waiting.step.block:
            self.block(build, waiting, moment)
            return
        self.start_job(build, waiting, moment)
        build.next_at = moment + self.step_seconds

    # Block steps.

    @staticmethod
    def block(build: Build, job: Job, moment: float) -> None:
        """The build waits at a block step: it keeps the state it would finish with now
        (``passed``, or ``failed`` after a failure) and is ``blocked`` until unblocked."""
        failed = any(other.hard_failed for other in build.latest_jobs())
        job.state = "blocked_failed" if failed else "blocked"
        build.state = "failed" if failed else "passed"
        build.started_at = build.started_at or moment
        build.blocked, build.finished_at, build.next_at = True, moment, None

    def unblock(self, build: Build, job: Job, body: Mapping[str, Any], now: float) -> Job:
        """Let the build go on past a block step; the fields become build meta-data."""
        if build.state == "canceled":
            raise ApiError(422, "Jobs from canceled builds cannot be unblocked")
        if not job.step.block:
            raise ApiError(400, "This job type cannot be unblocked")
        if job.state not in BLOCKED_JOB_STATES:
            raise ApiError(400, f"This job can't be unblocked: it is {job.state}")
        fields = body.get("fields") or {}
        if not isinstance(fields, Mapping):
            raise ApiError(400, "fields must be an object of field keys and values")
        unblocker = body.get("unblocker")
        user = self.owner
        if unblocker is not None:
            found = next((u for u in self.users if u.id == unblocker), None)
            if found is None:
                raise ApiError(422, "Unblocker is not a valid user id for this organization")
            user = found
        failed = job.state == "blocked_failed"
        job.state = "unblocked_failed" if failed else "unblocked"
        job.unblocked_by, job.unblocked_at = user, now
        build.meta_data.update({str(key): str(value) for key, value in fields.items()})
        build.state = "failing" if failed else "running"
        build.blocked, build.finished_at = False, None
        build.next_at = now + self.step_seconds
        return job

    @staticmethod
    def reprioritize(job: Job, body: Mapping[str, Any]) -> Job:
        priority = body.get("priority")
        if isinstance(priority, bool) or not isinstance(priority, int):
            raise ApiError(400, "Priority must be an integer")
        if job.step.block:
            raise ApiError(400, "Only command jobs have a priority")
        job.priority = priority
        return job

    @staticmethod
    def start_job(build: Build, job: Job, moment: float) -> None:
        if build.state == "scheduled":
            build.state, build.started_at = "running", moment
        job.state, job.started_at = "running", moment
        job.agent = f"{build.pipeline.organization.slug}-agent-{build.number % 3 + 1}"
        job.log = logs.preamble(build, job, moment)

    @staticmethod
    def finish_job(build: Build, job: Job, moment: float, *, failed: bool) -> None:
        job.state = "failed" if failed else "passed"
        job.exit_status = job.step.exit_status if failed else 0
        job.soft_failed = failed and job.step.soft_fail
        job.finished_at = moment
        job.log += logs.conclusion(job, moment, started=job.started_at or moment)
        job.artifacts = [
            Artifact(
                id=stable_id(job.id, "artifact", file.path),
                job_id=job.id,
                file=file,
                content=file.failure_content
                if failed and file.failure_content is not None
                else file.content,
                created_at=moment,
            )
            for file in job.step.artifacts
        ]
        if job.hard_failed and build.state == "running":
            build.state = "failing"
            build.failing_at = build.failing_at or moment

    @staticmethod
    def finish_build(build: Build, moment: float) -> None:
        failed = any(job.hard_failed for job in build.latest_jobs())
        build.state = "failed" if failed else "passed"
        build.finished_at, build.next_at, build.blocked = moment, None, False


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""
