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
    PENDING_JOB_STATES,
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
# The most builds that one build may make through trigger steps, directly or not: a bound
# on what a data file or pipeline makes the emulator do.
MAX_TRIGGERED_BUILDS = 100
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


def step_from_dict(spec: Mapping[str, Any], index: int, group: str | None = None) -> Step:
    """A step from the data file or a pipeline body (``name`` or ``label``): ``block``,
    ``wait`` and ``trigger`` (or the API's ``type``: ``manual``, ``waiter``, ``trigger``) make
    the other kinds of step; ``group`` is the key of the group step it is in."""
    kind = spec.get("type")
    block = spec.get("block")
    wait = "wait" in spec or kind == "waiter"
    trigger = spec.get("trigger") if "trigger" in spec else spec.get("trigger_project_slug")
    if kind == "trigger" or trigger is not None:
        trigger = _text(trigger)
    label = str(
        (block if isinstance(block, str) else None)
        or spec.get("label")
        or spec.get("name")
        or spec.get("command")
        or ("wait" if wait else None)
        or (f"Trigger {trigger}" if trigger is not None else None)
        or f"Step {index}"
    )
    known = {
        name: spec[name]
        for name in ("fails", "flaky", "soft_fail", "exit_status", "duration", "output")
        if name in spec
    }
    default_key = f"wait-{index}" if wait else slugify(label) or f"step-{index}"
    return Step(
        key=str(spec.get("key") or default_key),
        label=label,
        command=str(spec.get("command") or ""),
        block=block is not None or kind == "manual",
        wait=wait,
        continue_on_failure=spec.get("continue_on_failure") in (True, "true"),
        trigger=trigger,
        trigger_async=spec.get("async", spec.get("trigger_async")) in (True, "true"),
        group=group,
        failure_output=spec.get("failure_output"),
        env=dict(spec.get("env") or {}),
        **known,
    )


def steps_from_list(specs: list[Any]) -> list[Step]:
    """Steps from a list of step objects: a group step's own ``steps`` take its place, each
    keyed to the group (group steps make no jobs; the API shows them only as ``group_key``)."""
    steps: list[Step] = []
    for spec in specs:
        if not isinstance(spec, Mapping):
            raise ApiError(
                422, "Validation Failed", [{"field": "steps", "code": "must be objects"}]
            )
        if "group" not in spec:
            steps.append(step_from_dict(spec, len(steps)))
            continue
        group = _text(spec.get("key")) or slugify(str(spec["group"])) or f"group-{len(steps)}"
        for inner in spec.get("steps") or ():
            if not isinstance(inner, Mapping) or "group" in inner:
                problem = "a group's steps must be objects and not groups"
                raise ApiError(422, "Validation Failed", [{"field": "steps", "code": problem}])
            steps.append(step_from_dict(inner, len(steps), group))
    return steps


def trigger_cycle(graph: Mapping[str, list[str]], start: str) -> list[str] | None:
    """A path of trigger steps from pipeline ``start`` back to it (``graph``: each slug's
    trigger targets), or None. Iterative, so a long chain cannot exhaust the stack."""
    parents: dict[str, str] = {}
    seen, stack = {start}, [start]
    while stack:
        slug = stack.pop()
        for target in graph.get(slug, ()):
            if target == start:
                chain = [slug]
                while chain[-1] != start:
                    chain.append(parents[chain[-1]])
                return [*reversed(chain), start]
            if target not in seen:
                seen.add(target)
                parents[target] = slug
                stack.append(target)
    return None


def triggered_counts(graph: Mapping[str, list[str]], cap: int) -> dict[str, int]:
    """How many builds one build of each pipeline of ``graph`` makes through its trigger
    steps, directly or not, counted up to ``cap + 1`` (which a cycle reaches at once)."""
    counts: dict[str, int] = {}
    for start in graph:
        if start in counts:
            continue
        stack, on_path = [(start, iter(graph[start]))], {start}
        while stack:
            slug, targets = stack[-1]
            target = next(targets, None)
            if target is None:
                stack.pop()
                on_path.discard(slug)
                total = sum(
                    cap + 1 if target in on_path else 1 + counts.get(target, 0)
                    for target in graph[slug]
                )
                counts[slug] = min(total, cap + 1)
            elif target in graph and target not in counts and target not in on_path:
                on_path.add(target)
                stack.append((target, iter(graph[target])))
    return counts


_YAML_ITEM = re.compile(r"^\s*-\s+(\w+):\s*(.*?)\s*$")
_YAML_KEY = re.compile(r"^\s+(\w+):\s*(.*?)\s*$")
_YAML_WAIT = re.compile(r"^\s*-\s+[\"']?wait[\"']?\s*$")


def steps_from_configuration(text: str) -> list[Step]:
    """Command, block, wait and trigger steps from simple pipeline YAML (scalar
    ``label``/``key``/``command``, ``block``, ``trigger`` or a bare ``- wait`` only).

    No YAML parser on purpose: the emulator stays stdlib-only and cheap to import. Anything
    richer (and ``buildkite-agent pipeline upload`` itself) becomes a single upload step.
    """
    found: list[dict[str, str]] = []
    for line in text.splitlines():
        if _YAML_WAIT.match(line):
            found.append({"wait": ""})
        elif item := _YAML_ITEM.match(line):
            found.append({item[1]: item[2].strip("\"'")})
        elif found and (key := _YAML_KEY.match(line)):
            found[-1].setdefault(key[1], key[2].strip("\"'"))
    steps = [
        step_from_dict(spec, i)
        for i, spec in enumerate(found)
        if spec.get("command") or {"block", "wait", "trigger"} & set(spec)
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
        found = self.find_pipeline(self.organization(org_slug), slug)
        if found is None:
            raise ApiError(404, "No pipeline found")
        return found

    def find_pipeline(self, org: Organization, slug: str | None) -> Pipeline | None:
        """The organization's pipeline of that slug, if there is one."""
        return next((p for p in self.pipelines if p.organization is org and p.slug == slug), None)

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

    def create_pipeline(
        self, org: Organization, body: Mapping[str, Any], now: float, *, check_triggers: bool = True
    ) -> Pipeline:
        """``check_triggers=False`` defers the check of trigger steps (see
        :meth:`trigger_problem`) to a caller that makes several pipelines at once."""
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
        self._apply(pipeline, body, check_triggers)
        self.pipelines.append(pipeline)
        return pipeline

    def update_pipeline(self, pipeline: Pipeline, body: Mapping[str, Any]) -> None:
        self._check_writable(pipeline)
        self._apply(pipeline, body, check_triggers=True)

    def _apply(self, pipeline: Pipeline, body: Mapping[str, Any], check_triggers: bool) -> None:
        for name in ("name", "repository", "default_branch"):
            if _text(body.get(name)):
                setattr(pipeline, name, _text(body[name]))
        if isinstance(body.get("env"), dict):
            pipeline.env = {str(k): str(v) for k, v in body["env"].items()}
        pipeline.settings.update({k: body[k] for k in PIPELINE_SETTINGS if k in body})
        steps = pipeline.steps
        if _text(body.get("configuration")):
            steps = steps_from_configuration(body["configuration"])
        elif isinstance(body.get("steps"), list):
            steps = steps_from_list(body["steps"])
        if check_triggers and (problem := self.trigger_problem(pipeline, steps)):
            raise ApiError(422, "Validation Failed", [{"field": "steps", "code": problem}])
        pipeline.steps = steps

    def trigger_problem(self, pipeline: Pipeline, steps: list[Step]) -> str | None:
        """Why ``pipeline`` may not have ``steps``: a trigger step names no pipeline of its
        organization, or trigger steps would build each other's pipelines forever."""
        if all(step.trigger is None for step in steps):
            return None  # it makes no cycle, and no pipeline triggers more builds than before
        org = pipeline.organization
        graph = {
            other.slug: [step.trigger for step in other.steps if step.trigger is not None]
            for other in self.pipelines
            if other.organization is org
        }
        graph[pipeline.slug] = [step.trigger for step in steps if step.trigger is not None]
        if unknown := [slug for slug in graph[pipeline.slug] if slug not in graph]:
            return (
                f"a trigger step names {unknown[0]!r}, which is no pipeline of"
                f" {org.slug!r}; create that pipeline first or fix the slug"
            )
        if cycle := trigger_cycle(graph, pipeline.slug):
            return (
                f"trigger steps form a cycle ({' -> '.join(cycle)}), so each build would"
                " trigger another forever; remove one of those trigger steps"
            )
        counts = triggered_counts(graph, MAX_TRIGGERED_BUILDS)
        # Only this pipeline and those that trigger it, directly or not, count more now.
        triggered_by: dict[str, set[str]] = {}
        for slug, targets in graph.items():
            for target in targets:
                triggered_by.setdefault(target, set()).add(slug)
        reaching = [pipeline.slug]
        for slug in reaching:
            reaching.extend(sorted(triggered_by.get(slug, set()) - set(reaching)))
        if over := [slug for slug in reaching if counts[slug] > MAX_TRIGGERED_BUILDS]:
            return (
                f"one build of {over[0]!r} would trigger more than {MAX_TRIGGERED_BUILDS}"
                " builds through trigger steps; trigger fewer pipelines, or each fewer times"
            )
        return None

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
        """Give a new build one job per pipeline step (``waiting`` from the first wait step
        on) and put it on the clock; a block step first in line blocks it at once, as the
        service does."""
        behind_wait = False
        for step in build.pipeline.steps:
            behind_wait = behind_wait or step.wait
            self.add_job(build, step, moment, state="waiting" if behind_wait else "scheduled")
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
        """Jobs not yet started are ``canceled`` at once; a running command job is
        ``canceling`` (and so is the build) until the next state step ends it."""
        if build.state not in LIVE_BUILD_STATES:
            already = "canceling" if build.state == "canceling" else "finished"
            raise ApiError(422, f"Build can't be canceled because it's already {already}")
        for job in build.jobs:
            if job.state == "running" and job.step.type == "script":
                job.state = "canceling"
                job.log += logs.stamp(["# Received cancellation signal, interrupting"], now)
            elif job.state == "running" or job.state in PENDING_JOB_STATES:
                job.state, job.finished_at = "canceled", now
        if any(job.state == "canceling" for job in build.jobs):
            build.state, build.next_at = "canceling", now + self.step_seconds
        else:
            self.finish_canceling(build, now)

    def finish_canceling(self, build: Build, moment: float) -> None:
        """The canceling jobs stop (SIGTERM) and the build is ``canceled``."""
        for job in build.jobs:
            if job.state == "canceling":
                job.exit_status, job.signal, job.signal_reason = -1, "SIGTERM", "cancel"
                job.state, job.finished_at = "canceled", moment
        build.state, build.finished_at, build.next_at = "canceled", moment, None
        self._resume_trigger(build, moment)

    def retry_job(self, build: Build, job: Job, now: float) -> Job:
        if build.state in ("canceled", "canceling"):
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
        if build.state in ("canceled", "canceling"):
            raise ApiError(422, "Jobs from canceled builds cannot be retried")
        chosen = set(wanted or RETRYABLE_STATES)
        failed = [job for job in build.latest_jobs() if _retry_category(job) in chosen]
        for job in failed:
            self._retry(build, job, now)
        return len(failed)

    def _retry(self, build: Build, job: Job, now: float) -> Job:
        """A new attempt right after the old one, which keeps its state; the build revives,
        and so do the jobs a failure held back at a wait step."""
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
        for other in build.jobs:
            if other.state == "waiting_failed":
                other.state = "waiting"
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
        if build.state == "canceling":
            self.finish_canceling(build, moment)
            return
        running = next((job for job in build.jobs if job.state == "running"), None)
        if running is not None and running.step.trigger is not None:
            build.next_at = None  # its triggered build moves it on when it finishes
            return
        if running is not None:
            self.finish_job(build, running, moment, failed=running.step.fails_on(running.attempt))
        while (
            job := next((j for j in build.jobs if j.state in PENDING_JOB_STATES), None)
        ) is not None:
            if job.step.wait and self.pass_wait(build, job, moment):
                continue
            if job.step.wait:
                break  # a failure stops the build here
            if job.step.block:
                self.block(build, job, moment)
            elif job.step.trigger is not None:
                self.start_trigger(build, job, moment)
            else:
                self.start_job(build, job, moment)
                build.next_at = moment + self.step_seconds
            return
        self.finish_build(build, moment)

    # Wait and trigger steps.

    @staticmethod
    def pass_wait(build: Build, waiter: Job, moment: float) -> bool:
        """A wait step lets the steps up to the next one start when no earlier job hard-failed
        (or it has ``continue_on_failure``); else it and all later jobs are
        ``waiting_failed``."""
        later = build.jobs[build.jobs.index(waiter) + 1 :]
        if (
            any(job.hard_failed for job in build.latest_jobs())
            and not waiter.step.continue_on_failure
        ):
            waiter.state = "waiting_failed"
            for job in later:
                if job.state == "waiting":
                    job.state = "waiting_failed"
            return False
        waiter.state, waiter.started_at, waiter.finished_at = "passed", moment, moment
        for job in later:
            if job.step.wait:
                break
            if job.state == "waiting":
                job.state = "scheduled"
        return True

    def start_trigger(self, build: Build, job: Job, moment: float) -> None:
        """A trigger step's job builds its pipeline (on the default branch, at ``HEAD``, the
        step's label as message) and waits for that build, unless it is ``async``. A pipeline
        deleted or archived since fails the job."""
        if build.state == "scheduled":
            build.state, build.started_at = "running", moment
        job.state, job.started_at = "running", moment
        build.next_at = moment + self.step_seconds
        target = self.find_pipeline(build.pipeline.organization, job.step.trigger)
        if target is None or target.archived_at is not None:
            self.end_trigger(build, job, moment, passed=False)
            return
        body = {"commit": "HEAD", "branch": target.default_branch, "message": job.step.label}
        self.link_trigger(build, job, self.create_build(target, body, moment))
        if job.step.trigger_async:
            self.end_trigger(build, job, moment, passed=True)
        else:
            build.next_at = None  # until the triggered build finishes

    @staticmethod
    def link_trigger(parent: Build, job: Job, child: Build) -> None:
        """``child`` is the build that ``job``, a trigger step's job of ``parent``, made: it
        is made by the trigger, for the parent's creator, and each knows the other."""
        child.source, child.creator, child.triggered_by = (
            "trigger_job",
            parent.creator,
            (parent, job),
        )
        job.triggered_build = child

    def _resume_trigger(self, build: Build, moment: float) -> None:
        """A finished build that a trigger step is waiting for passes or fails that step's
        job, and its build moves on."""
        if build.triggered_by is None:
            return
        parent, job = build.triggered_by
        if job.state != "running" or job.step.trigger_async:
            return  # canceled meanwhile, or never waiting
        self.end_trigger(parent, job, moment, passed=build.state == "passed")
        parent.next_at = moment

    @staticmethod
    def end_trigger(build: Build, job: Job, moment: float, *, passed: bool) -> None:
        job.state, job.finished_at = ("passed" if passed else "failed"), moment
        _note_failure(build, job, moment)

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
        if job.step.type != "script":
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
        _note_failure(build, job, moment)

    def finish_build(self, build: Build, moment: float) -> None:
        failed = any(job.hard_failed for job in build.latest_jobs())
        build.state = "failed" if failed else "passed"
        build.finished_at, build.next_at, build.blocked = moment, None, False
        self._resume_trigger(build, moment)


def _note_failure(build: Build, job: Job, moment: float) -> None:
    """A job that hard-failed makes a running build ``failing``."""
    if job.hard_failed and build.state == "running":
        build.state = "failing"
        build.failing_at = build.failing_at or moment


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""
