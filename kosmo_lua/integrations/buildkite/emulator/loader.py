"""Builds the emulator's world from the JSON data format (see the package docstring).

Finished builds are replayed through the same state machine as live ones, so their jobs,
timestamps and logs are consistent; only their outcomes come from the data.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from .model import Build, Job, Organization, Pipeline, User, parse_time, stable_id
from .state import World, step_from_dict

DEFAULT_NOW = "2026-03-16T12:00:00Z"
_QUEUE_SECONDS = 5.0  # between a historic build's creation and its first job


def load(data: Mapping[str, Any], step_seconds: float) -> tuple[World, float]:
    """The world described by ``data`` and its starting time (Unix seconds)."""
    now = parse_time(data.get("now") or DEFAULT_NOW)
    users = [_user(spec, now) for spec in data.get("users") or ()]
    world = World(
        users or [_user({"name": "Emulator User", "email": "user@example.com"}, now)], step_seconds
    )
    for org_spec in data.get("organizations") or ():
        slug = org_spec["slug"]
        org = Organization(
            id=org_spec.get("id") or stable_id("organization", slug),
            slug=slug,
            name=org_spec.get("name") or slug,
            created_at=_time(org_spec.get("created_at"), now),
        )
        world.organizations[slug] = org
        for pipeline_spec in org_spec.get("pipelines") or ():
            _pipeline(world, org, pipeline_spec, now)
    return world, now


def _user(spec: Mapping[str, Any], now: float) -> User:
    email = spec["email"]
    digest = hashlib.md5(email.strip().lower().encode(), usedforsecurity=False).hexdigest()
    return User(
        id=spec.get("id") or stable_id("user", email),
        name=spec.get("name") or email,
        email=email,
        created_at=_time(spec.get("created_at"), now),
        avatar_url=spec.get("avatar_url") or f"https://www.gravatar.com/avatar/{digest}",
    )


def _pipeline(world: World, org: Organization, spec: Mapping[str, Any], now: float) -> None:
    pipeline = world.create_pipeline(org, spec, _time(spec.get("created_at"), now))
    if spec.get("archived_at"):
        pipeline.archived_at = parse_time(spec["archived_at"])
    for build_spec in spec.get("builds") or ():
        _build(world, pipeline, build_spec, now)


def _build(world: World, pipeline: Pipeline, spec: Mapping[str, Any], now: float) -> None:
    number = spec.get("number")
    creator = world.user(spec["creator"]) if spec.get("creator") else world.owner
    build = world.add_build(
        pipeline,
        number,
        creator=creator,
        commit=spec.get("commit") or "",
        branch=spec.get("branch") or pipeline.default_branch,
        message=spec.get("message") or "",
        created_at=_time(spec.get("created_at"), now),
        source=spec.get("source") or "webhook",
        author=dict(spec.get("author") or {"name": creator.name, "email": creator.email}),
        env=dict(spec.get("env") or {}),
        meta_data=dict(spec.get("meta_data") or {}),
        pull_request=dict(spec.get("pull_request") or {}),
    )
    build.commit = build.commit or _sha(pipeline, build.number)
    state = spec.get("state") or "passed"
    if state in ("scheduled", "running"):
        # Live from the emulator's start: a running build starts its first job at once.
        world.launch(build, build.created_at)
        build.next_at = now if state == "running" else now + world.step_seconds
    elif state in ("passed", "failed", "canceled"):
        _replay(world, build, state, spec.get("jobs"))
    else:
        raise ValueError(f"build state {state!r} is not supported in data files")


def _replay(world: World, build: Build, state: str, job_specs: list[Mapping] | None) -> None:
    plan = (
        _explicit_jobs(world, build, job_specs) if job_specs else _derived_jobs(world, build, state)
    )
    moment = build.created_at + _QUEUE_SECONDS
    for job, outcome, spec in plan:
        world.start_job(build, job, moment)
        moment += job.step.duration
        if outcome == "canceled":
            world.cancel(build, moment)
            return
        world.finish_job(build, job, moment, failed=outcome == "failed")
        if "exit_status" in spec:
            job.exit_status = spec["exit_status"]
        if "log" in spec:
            job.log = spec["log"]
    world.finish_build(build, moment)


Plan = list[tuple[Job, str, Mapping[str, Any]]]


def _derived_jobs(world: World, build: Build, state: str) -> Plan:
    """One job per step: a failed build fails its ``fails``/``flaky`` steps (else the last)."""
    world.launch(build, build.created_at)
    jobs = build.jobs
    if state == "failed":
        failing = {job.id for job in jobs if job.step.fails or job.step.flaky}
        if not failing and jobs:
            failing = {jobs[-1].id}
        return [(job, "failed" if job.id in failing else "passed", {}) for job in jobs]
    last = jobs[-1] if state == "canceled" and jobs else None
    return [(job, "canceled" if job is last else "passed", {}) for job in jobs]


def _explicit_jobs(world: World, build: Build, specs: list[Mapping[str, Any]]) -> Plan:
    """Jobs as listed; ``retried: true`` makes the next job of the same step its retry."""
    steps = {step.key: step for step in build.pipeline.steps}
    plan: Plan = []
    for index, spec in enumerate(specs):
        step = steps[spec["step"]] if "step" in spec else step_from_dict(spec, index)
        job = world.add_job(build, step, build.created_at, env=dict(spec.get("env") or {}))
        plan.append((job, spec.get("state") or "passed", spec))
    for index, (job, _, spec) in enumerate(plan):
        if spec.get("retried"):
            retry = next(later for later, _, _ in plan[index + 1 :] if later.step is job.step)
            job.retried, job.retried_in_job_id = True, retry.id
            retry.attempt, retry.retry_source_id = job.attempt + 1, job.id
    return plan


def _sha(pipeline: Pipeline, number: int) -> str:
    return hashlib.sha1(f"{pipeline.id}/{number}".encode(), usedforsecurity=False).hexdigest()


def _time(text: str | None, default: float) -> float:
    return parse_time(text) if text else default
