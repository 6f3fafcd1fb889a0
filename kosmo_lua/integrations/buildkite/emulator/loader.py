"""Builds the emulator's world from the JSON data format (docs/emulator.md, "Data files").

The data is checked against the schema below before anything is built, so a flaw in a
hand-written file is reported where it is (``organizations[0].pipelines[1]: missing "name"``)
rather than as a Python error from deep in the loader, and a misspelt key is refused rather
than ignored. Finished builds are replayed through the same state machine as live ones, so
their jobs, timestamps and logs are consistent; only their outcomes come from the data.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from . import logs
from .faults import KINDS
from .model import Build, Job, Organization, Pipeline, Step, User, parse_time, stable_id
from .state import PIPELINE_SETTINGS, ApiError, World, step_from_dict

DEFAULT_NOW = "2026-03-16T12:00:00Z"
DEFAULT_USER = {"name": "Emulator User", "email": "user@example.com"}
FINISHED_STATES = ("passed", "failed", "canceled")
LIVE_STATES = ("scheduled", "running")
_QUEUE_SECONDS = 5.0  # between a historic build's creation and its first job


class DataError(ValueError):
    """A flaw in emulator data, on one line that names the record and field at fault."""


def _error(where: str, message: str) -> DataError:
    return DataError(f"{where or 'top level'}: {message}")


# The schema: what each record may hold. ``null`` is refused everywhere (leave a field out).


@dataclass(frozen=True)
class Kind:
    """What a field holds: ``name`` as messages say it, and the test of a value."""

    name: str
    accepts: Callable[[Any], bool]


@dataclass(frozen=True)
class Record:
    """A JSON object: its fields (each a kind or a list of records) and those it needs."""

    fields: Mapping[str, Kind | Records]
    required: tuple[str, ...] = ()


# Picks the record that a JSON object is (a job names a step or defines one), or refuses it.
Chooser = Callable[[Mapping[str, Any], str], Record]


@dataclass(frozen=True)
class Records:
    """A list of records; ``non_empty`` where an empty list would mean nothing."""

    shape: Record | Chooser
    non_empty: bool = False


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_time(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        parse_time(value)
    except ValueError:
        return False
    return True


def _one_of(*choices: str) -> Kind:
    return Kind(f"one of {', '.join(choices)}", lambda value: value in choices)


_STATUSES = frozenset(HTTPStatus)
STRING = Kind("a string", lambda value: isinstance(value, str))
TEXT = Kind("a non-empty string", lambda value: isinstance(value, str) and bool(value.strip()))
BOOLEAN = Kind("true or false", lambda value: isinstance(value, bool))
INTEGER = Kind("an integer", _is_int)
POSITIVE = Kind("a positive integer", lambda value: _is_int(value) and value > 0)
SECONDS = Kind(
    "a number of seconds (0 or more)",
    lambda value: _is_number(value) and math.isfinite(value) and value >= 0,
)
TIME = Kind('an ISO 8601 time such as "2026-03-16T12:00:00Z"', _is_time)
OBJECT = Kind("an object", lambda value: isinstance(value, Mapping))
STRING_MAP = Kind(
    "an object of strings",
    lambda value: isinstance(value, Mapping) and all(isinstance(v, str) for v in value.values()),
)
STRING_LIST = Kind(
    "a list of strings",
    lambda value: isinstance(value, list) and all(isinstance(v, str) for v in value),
)
UUID = Kind(
    'a UUID such as "b63254c0-3271-4a98-8270-7cfbd6c2f14e"',
    lambda value: (
        isinstance(value, str)
        and re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", value)
        is not None
    ),
)
STATUS = Kind(
    "an HTTP status code such as 503", lambda value: _is_int(value) and value in _STATUSES
)


def _by_key(missing: str, **variants: Record) -> Chooser:
    """A record that comes in variants, told apart by the first of their keys it has."""

    def choose(spec: Mapping[str, Any], where: str) -> Record:
        key = next((key for key in variants if key in spec), None)
        if key is None:
            raise _error(where, missing)
        return variants[key]

    return choose


def _setting_kind(default: Any) -> Kind:
    """A pipeline setting takes a value like its default (a string where that is None)."""
    if isinstance(default, bool):
        return BOOLEAN
    return STRING_LIST if isinstance(default, list) else STRING


STEP_FIELDS: dict[str, Kind | Records] = {
    "command": TEXT,
    "label": STRING,
    "key": STRING,
    "fails": BOOLEAN,
    "flaky": BOOLEAN,
    "soft_fail": BOOLEAN,
    "exit_status": INTEGER,
    "duration": SECONDS,
    "output": STRING,
    "failure_output": STRING,
    "env": STRING_MAP,
}
STEP = Record(STEP_FIELDS, required=("command",))
JOB_FIELDS: dict[str, Kind | Records] = {
    "id": UUID,
    "state": _one_of(*FINISHED_STATES),
    "retried": BOOLEAN,
    "exit_status": INTEGER,
    "env": STRING_MAP,
    "log": STRING,
    "log_bytes": INTEGER,
}
JOB_OF_STEP = Record({"step": TEXT, **JOB_FIELDS}, required=("step",))
INLINE_JOB = Record({**STEP_FIELDS, **JOB_FIELDS}, required=("command",))

# A job runs one of the pipeline's steps, or a step of its own.
JOBS = Records(
    _by_key(
        'missing "step" (a step key) or "command" (an inline step)',
        step=JOB_OF_STEP,
        command=INLINE_JOB,
    )
)


BUILD = Record(
    {
        "state": _one_of(*FINISHED_STATES, *LIVE_STATES),
        "number": POSITIVE,
        "branch": STRING,
        "commit": STRING,
        "message": STRING,
        "creator": TEXT,
        "created_at": TIME,
        "source": STRING,
        "author": OBJECT,
        "env": STRING_MAP,
        "meta_data": STRING_MAP,
        "pull_request": OBJECT,
        "jobs": JOBS,
    }
)
PIPELINE_FIELDS: dict[str, Kind | Records] = {
    "name": TEXT,
    "repository": TEXT,
    "slug": STRING,
    "default_branch": STRING,
    "env": STRING_MAP,
    "created_at": TIME,
    "archived_at": TIME,
    **{
        name: _setting_kind(default)
        for name, default in PIPELINE_SETTINGS.items()
        if name != "configuration"  # the YAML alternative to "steps", below
    },
    "builds": Records(BUILD),
}
PIPELINE_OF_STEPS = Record(
    {**PIPELINE_FIELDS, "steps": Records(STEP, non_empty=True)},
    required=("name", "repository", "steps"),
)
PIPELINE_OF_YAML = Record(
    {**PIPELINE_FIELDS, "configuration": TEXT}, required=("name", "repository", "configuration")
)

# A pipeline's steps come as a list, or as pipeline YAML.
PIPELINES = Records(
    _by_key(
        'missing "steps" (or "configuration", the steps as pipeline YAML)',
        configuration=PIPELINE_OF_YAML,
        steps=PIPELINE_OF_STEPS,
    )
)


USER = Record(
    {"name": STRING, "email": TEXT, "id": STRING, "created_at": TIME, "avatar_url": STRING},
    required=("email",),
)
ORGANIZATION = Record(
    {
        "slug": TEXT,
        "name": STRING,
        "id": STRING,
        "created_at": TIME,
        "pipelines": PIPELINES,
    },
    required=("slug",),
)
FAULT = Record(
    {
        "path": TEXT,
        "kind": _one_of(*KINDS),
        "count": POSITIVE,
        "status": STATUS,
        "seconds": SECONDS,
        "method": STRING,
    },
    required=("path", "kind"),
)
DATA = Record(
    {
        "now": TIME,
        "users": Records(USER),
        "organizations": Records(ORGANIZATION),
        "faults": Records(FAULT),
        "rate_limit": POSITIVE,
    }
)


def check(data: Any) -> None:
    """Raise :class:`DataError` at the first place where ``data`` breaks the format."""
    _check(data, DATA, "")


def _check(value: Any, shape: Record | Chooser, where: str) -> None:
    if not isinstance(value, Mapping):
        raise _error(where, f"must be an object; got {_shown(value)}")
    record = shape if isinstance(shape, Record) else shape(value, where)
    if unknown := [name for name in value if name not in record.fields]:
        allowed = ", ".join(record.fields)
        raise _error(where, f"unknown key {_shown(unknown[0])}; allowed: {allowed}")
    if missing := [name for name in record.required if name not in value]:
        raise _error(where, f'missing "{missing[0]}"')
    for name, item in value.items():
        kind = record.fields[name]
        if isinstance(kind, Records):
            _check_list(item, kind, where, name)
        elif not kind.accepts(item):
            raise _error(where, f'"{name}" must be {kind.name}; got {_shown(item)}')


def _check_list(items: Any, kind: Records, where: str, name: str) -> None:
    if not isinstance(items, list):
        raise _error(where, f'"{name}" must be a list; got {_shown(items)}')
    if kind.non_empty and not items:
        raise _error(where, f'"{name}" must not be empty')
    for index, item in enumerate(items):
        _check(item, kind.shape, f"{where}.{name}[{index}]".lstrip("."))


def _shown(value: Any) -> str:
    """A value as a message quotes it: short JSON on one line; containers by their kind."""
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list):
        return "a list"
    text = json.dumps(value, ensure_ascii=False, default=repr)
    return text if len(text) <= 40 else text[:39] + "…"


# Building the world from checked data.


def load(data: Mapping[str, Any], step_seconds: float) -> tuple[World, float]:
    """The world described by ``data`` and its starting time (Unix seconds)."""
    check(data)
    now = parse_time(data.get("now", DEFAULT_NOW))
    users = [_user(spec, now) for spec in data.get("users", ())]
    world = World(users or [_user(DEFAULT_USER, now)], step_seconds)
    for index, spec in enumerate(data.get("organizations", ())):
        _organization(world, spec, f"organizations[{index}]", now)
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


def _organization(world: World, spec: Mapping[str, Any], where: str, now: float) -> None:
    slug = spec["slug"]
    if slug in world.organizations:
        raise _error(where, f'"slug" {_shown(slug)} is taken by an earlier organization')
    org = Organization(
        id=spec.get("id") or stable_id("organization", slug),
        slug=slug,
        name=spec.get("name") or slug,
        created_at=_time(spec.get("created_at"), now),
    )
    world.organizations[slug] = org
    for index, pipeline_spec in enumerate(spec.get("pipelines", ())):
        _pipeline(world, org, pipeline_spec, f"{where}.pipelines[{index}]", now)


def _pipeline(
    world: World, org: Organization, spec: Mapping[str, Any], where: str, now: float
) -> None:
    try:
        pipeline = world.create_pipeline(org, spec, _time(spec.get("created_at"), now))
    except ApiError as error:  # what the checks above leave: a name or slug already taken
        problems = [f'"{e["field"]}" {e["code"]}' for e in error.errors or ()]
        raise _error(where, "; ".join(problems) or error.message) from None
    if "archived_at" in spec:
        pipeline.archived_at = parse_time(spec["archived_at"])
    for index, build_spec in enumerate(spec.get("builds", ())):
        _build(world, pipeline, build_spec, f"{where}.builds[{index}]", now)


def _build(
    world: World, pipeline: Pipeline, spec: Mapping[str, Any], where: str, now: float
) -> None:
    creator = _creator(world, spec, where)
    build = world.add_build(
        pipeline,
        _number(world, pipeline, spec, where),
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
    state = spec.get("state", "passed")
    if state in LIVE_STATES:
        if "jobs" in spec:
            problem = f'"jobs" are for finished builds; a {state} build runs the pipeline\'s steps'
            raise _error(where, problem)
        # Live from the emulator's start: a running build starts its first job at once.
        world.launch(build, build.created_at)
        build.next_at = now if state == "running" else now + world.step_seconds
    else:
        _replay(world, build, state, spec.get("jobs"), where)
        if build.state != state:
            raise _error(where, f'"state" is "{state}", but its jobs make it "{build.state}"')


def _number(world: World, pipeline: Pipeline, spec: Mapping[str, Any], where: str) -> int | None:
    """The number the data gives the build, if any: unique in its pipeline."""
    number = spec.get("number")
    if any(b.pipeline is pipeline and b.number == number for b in world.builds):
        raise _error(where, f'"number" {number} is taken by an earlier build')
    return number


def _creator(world: World, spec: Mapping[str, Any], where: str) -> User:
    if "creator" not in spec:
        return world.owner
    try:
        return world.user(spec["creator"])
    except ValueError:
        got = _shown(spec["creator"])
        raise _error(where, f'"creator" must be the id or email of a user; got {got}') from None


def _replay(
    world: World, build: Build, state: str, job_specs: list[Mapping[str, Any]] | None, where: str
) -> None:
    plan = (
        _explicit_jobs(world, build, job_specs, where)
        if job_specs
        else _derived_jobs(world, build, state)
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
        if "log_bytes" in spec:
            job.big_log = logs.SyntheticLog(spec["log_bytes"])
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


def _explicit_jobs(world: World, build: Build, specs: list[Mapping[str, Any]], where: str) -> Plan:
    """Jobs as listed; ``retried: true`` makes the next job of the same step its retry."""
    steps = {step.key: step for step in build.pipeline.steps}
    plan: Plan = []
    for index, spec in enumerate(specs):
        step = _job_step(steps, spec, index, f"{where}.jobs[{index}]")
        if "id" in spec and any(j.id == spec["id"] for b in world.builds for j in b.jobs):
            raise _error(f"{where}.jobs[{index}]", f'"id" {spec["id"]} is used by another job')
        job = world.add_job(
            build, step, build.created_at, env=dict(spec.get("env") or {}), job_id=spec.get("id")
        )
        plan.append((job, spec.get("state") or "passed", spec))
    for index, (job, _, spec) in enumerate(plan):
        if spec.get("retried"):
            retry = next(
                (later for later, _, _ in plan[index + 1 :] if later.step is job.step), None
            )
            if retry is None:
                raise _error(f"{where}.jobs[{index}]", '"retried" needs a later job of its "step"')
            job.retried, job.retried_in_job_id = True, retry.id
            retry.attempt, retry.retry_source_id = job.attempt + 1, job.id
    return plan


def _job_step(steps: Mapping[str, Step], spec: Mapping[str, Any], index: int, where: str) -> Step:
    """The pipeline step a job names, or the job's own inline step."""
    if "step" not in spec:
        return step_from_dict(spec, index)
    if spec["step"] not in steps:
        raise _error(where, f'"step" must be one of {", ".join(steps)}; got {_shown(spec["step"])}')
    return steps[spec["step"]]


def _sha(pipeline: Pipeline, number: int) -> str:
    return hashlib.sha1(f"{pipeline.id}/{number}".encode(), usedforsecurity=False).hexdigest()


def _time(text: str | None, default: float) -> float:
    return parse_time(text) if text else default
