"""Builds the emulator's world from the JSON data format (docs/emulator.md, "Data files").

The data is checked against the schema below (made of ``schema.py``'s blocks; agents,
clusters and suites are ``org_loader.py``'s) before anything is built, so a flaw in a
hand-written file is reported where it is (``organizations[0].pipelines[1]: missing "name"``)
rather than as a Python error from deep in the loader, and a misspelt key is refused rather
than ignored. Finished builds are replayed through the same state machine as live ones, so
their jobs, timestamps and logs are consistent; only their outcomes come from the data.
"""

from __future__ import annotations

import base64
import hashlib
import mimetypes
from collections.abc import Mapping
from typing import Any

from . import attachments, logs, org_loader
from .faults import KINDS
from .model import (
    ArtifactFile,
    Build,
    Job,
    Organization,
    Pipeline,
    Step,
    User,
    parse_time,
    stable_id,
)
from .schema import (
    BASE64,
    BOOLEAN,
    INTEGER,
    OBJECT,
    POSITIVE,
    SECONDS,
    STATUS,
    STRING,
    STRING_LIST,
    STRING_MAP,
    TEXT,
    TIME,
    UUID,
    Kind,
    Record,
    Records,
    by_key,
    check_record,
    error,
    one_of,
    shown,
)
from .state import PIPELINE_SETTINGS, ApiError, World, step_from_dict

DEFAULT_NOW = "2026-03-16T12:00:00Z"
DEFAULT_USER = {"name": "Emulator User", "email": "user@example.com"}
FINISHED_STATES = ("passed", "failed", "canceled")
LIVE_STATES = ("scheduled", "running")
_QUEUE_SECONDS = 5.0  # between a historic build's creation and its first job


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
# A file a step's jobs upload when they finish: text (``content``, and ``failure_content``
# when the job fails) or bytes (``content_base64``).
ARTIFACT_FILE = Record(
    {
        "path": TEXT,
        "content": STRING,
        "failure_content": STRING,
        "content_base64": BASE64,
        "mime_type": STRING,
    },
    required=("path",),
)
STEP = Record({**STEP_FIELDS, "artifacts": Records(ARTIFACT_FILE)}, required=("command",))
BLOCK_STEP = Record({"block": TEXT, "key": STRING}, required=("block",))
# ``wait`` is the step's label ("" will do); later steps start only if no earlier job failed.
WAIT_STEP = Record(
    {"wait": STRING, "key": STRING, "continue_on_failure": BOOLEAN}, required=("wait",)
)
# ``trigger`` is the slug of a pipeline of the same organization.
TRIGGER_STEP = Record(
    {"trigger": TEXT, "label": STRING, "key": STRING, "async": BOOLEAN, "duration": SECONDS},
    required=("trigger",),
)
_STEP_KINDS = {"command": STEP, "block": BLOCK_STEP, "wait": WAIT_STEP, "trigger": TRIGGER_STEP}
# A group step holds steps of the other kinds (not groups): they run as if listed in its place.
GROUP_STEP = Record(
    {
        "group": TEXT,
        "key": STRING,
        "steps": Records(
            by_key(
                'missing "command" (or "block", "wait" or "trigger"; a group holds no groups)',
                **_STEP_KINDS,
            ),
            non_empty=True,
        ),
    },
    required=("group", "steps"),
)
# A step runs a command, or is a block, wait, trigger or group step.
STEPS = Records(
    by_key(
        'missing "command" (or "block", "wait", "trigger" or "group": the kind of step)',
        **_STEP_KINDS,
        group=GROUP_STEP,
    ),
    non_empty=True,
)
JOB_FIELDS: dict[str, Kind | Records] = {
    "id": UUID,
    "state": one_of(*FINISHED_STATES),
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
    by_key(
        'missing "step" (a step key) or "command" (an inline step)',
        step=JOB_OF_STEP,
        command=INLINE_JOB,
    )
)


# A note on a finished build, or (``step``) on the latest job of one of its steps.
ANNOTATION = Record(
    {
        "body": TEXT,
        "style": one_of(*attachments.STYLES),
        "context": TEXT,
        "priority": Kind("an integer from 1 to 10", lambda value: value in range(1, 11)),
        "step": TEXT,
    },
    required=("body",),
)
BUILD = Record(
    {
        "state": one_of(*FINISHED_STATES, *LIVE_STATES),
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
        "annotations": Records(ANNOTATION),
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
    {**PIPELINE_FIELDS, "steps": STEPS},
    required=("name", "repository", "steps"),
)
PIPELINE_OF_YAML = Record(
    {**PIPELINE_FIELDS, "configuration": TEXT}, required=("name", "repository", "configuration")
)

# A pipeline's steps come as a list, or as pipeline YAML.
PIPELINES = Records(
    by_key(
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
        **org_loader.FIELDS,
    },
    required=("slug",),
)
FAULT = Record(
    {
        "path": TEXT,
        "kind": one_of(*KINDS),
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
    check_record(data, DATA, "")


# Building the world from checked data.


def load(data: Mapping[str, Any], step_seconds: float) -> tuple[World, float]:
    """The world described by ``data`` and its starting time (Unix seconds)."""
    check(data)
    now = parse_time(data.get("now", DEFAULT_NOW))
    users = [_user(spec, now) for spec in data.get("users", ())]
    world = World(users or [_user(DEFAULT_USER, now)], step_seconds)
    for index, spec in enumerate(data.get("organizations", ())):
        _organization(world, spec, f"organizations[{index}]", now)
    _replay_triggered_builds(world)
    return world, now


def _replay_triggered_builds(world: World) -> None:
    """The builds that finished trigger steps' jobs made, once every pipeline exists: each
    on the triggered pipeline, made when its job started, with the job's outcome (``passed``
    for an async step); they may trigger more (trigger steps form no cycle, so this ends)."""
    while pending := [
        (build, job)
        for build in world.builds
        for job in build.jobs
        if job.step.trigger is not None
        and job.state in ("passed", "failed")
        and job.triggered_build is None
    ]:
        for parent, job in pending:
            target = world.find_pipeline(parent.pipeline.organization, job.step.trigger)
            assert target is not None  # trigger_problem found every target when loading
            child = world.add_build(
                target,
                creator=parent.creator,
                commit="",
                branch=target.default_branch,
                message=job.step.label,
                created_at=job.started_at or parent.created_at,
                author=dict(parent.author),
            )
            world.link_trigger(parent, job, child)
            child.commit = _sha(target, child.number)
            _replay(world, child, "passed" if job.step.trigger_async else job.state, None, "")


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
        raise error(where, f'"slug" {shown(slug)} is taken by an earlier organization')
    org = Organization(
        id=spec.get("id") or stable_id("organization", slug),
        slug=slug,
        name=spec.get("name") or slug,
        created_at=_time(spec.get("created_at"), now),
    )
    world.organizations[slug] = org
    # Every pipeline first, so that trigger steps may name pipelines listed after theirs.
    specs = list(enumerate(spec.get("pipelines", ())))
    pipelines = [
        _pipeline(world, org, pipeline_spec, f"{where}.pipelines[{index}]", now)
        for index, pipeline_spec in specs
    ]
    for (index, _), pipeline in zip(specs, pipelines, strict=True):
        if problem := world.trigger_problem(pipeline, pipeline.steps):
            raise error(f"{where}.pipelines[{index}]", problem)
    for (index, pipeline_spec), pipeline in zip(specs, pipelines, strict=True):
        for number, build_spec in enumerate(pipeline_spec.get("builds", ())):
            _build(world, pipeline, build_spec, f"{where}.pipelines[{index}].builds[{number}]", now)
    org_loader.load(world, org, spec, where, now)


def _pipeline(
    world: World, org: Organization, spec: Mapping[str, Any], where: str, now: float
) -> Pipeline:
    created = _time(spec.get("created_at"), now)
    try:
        pipeline = world.create_pipeline(org, spec, created, check_triggers=False)
    except ApiError as refusal:  # what the checks above leave: a name or slug taken
        problems = [f'"{e["field"]}" {e["code"]}' for e in refusal.errors or ()]
        raise error(where, "; ".join(problems) or refusal.message) from None
    if "archived_at" in spec:
        pipeline.archived_at = parse_time(spec["archived_at"])
    for step, step_spec in zip(pipeline.steps, _flat_steps(spec), strict=False):
        step.artifacts = [_artifact_file(file) for file in step_spec.get("artifacts", ())]
    return pipeline


def _flat_steps(spec: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """A pipeline's step objects in the order of its steps: a group's steps in its place."""
    flat: list[Mapping[str, Any]] = []
    for step in spec.get("steps", ()):
        flat.extend(step["steps"] if "group" in step else [step])
    return flat


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
            raise error(where, problem)
        # Live from the emulator's start: a running build starts its first job at once.
        world.launch(build, build.created_at)
        build.next_at = now if state == "running" else now + world.step_seconds
    else:
        _replay(world, build, state, spec.get("jobs"), where)
        if build.state != state:
            raise error(where, f'"state" is "{state}", but its jobs make it "{build.state}"')
    for index, note in enumerate(spec.get("annotations", ())):
        _annotate(build, note, f"{where}.annotations[{index}]")


def _number(world: World, pipeline: Pipeline, spec: Mapping[str, Any], where: str) -> int | None:
    """The number the data gives the build, if any: unique in its pipeline."""
    number = spec.get("number")
    if any(b.pipeline is pipeline and b.number == number for b in world.builds):
        raise error(where, f'"number" {number} is taken by an earlier build')
    return number


def _creator(world: World, spec: Mapping[str, Any], where: str) -> User:
    if "creator" not in spec:
        return world.owner
    try:
        return world.user(spec["creator"])
    except ValueError:
        got = shown(spec["creator"])
        raise error(where, f'"creator" must be the id or email of a user; got {got}') from None


def _replay(
    world: World, build: Build, state: str, job_specs: list[Mapping[str, Any]] | None, where: str
) -> None:
    plan = (
        _explicit_jobs(world, build, job_specs, where)
        if job_specs
        else _derived_jobs(world, build, state)
    )
    moment = build.created_at + _QUEUE_SECONDS
    for index, (job, outcome, spec) in enumerate(plan):
        if job.step.wait and not world.pass_wait(build, job, moment):
            if job_specs and index + 1 < len(plan):
                problem = "a failure before it stops the build at this wait step"
                raise error(f"{where}.jobs[{index + 1}]", f"{problem}; leave the later jobs out")
            break
        if job.step.wait:
            continue
        if job.step.block and outcome != "canceled":  # the creator unblocked it
            failed = any(other.hard_failed for other in build.latest_jobs())
            job.state = "unblocked_failed" if failed else "unblocked"
            job.unblocked_by, job.unblocked_at = build.creator, moment
            continue
        if job.step.trigger is None:
            world.start_job(build, job, moment)
        else:  # its triggered build comes later (_replay_triggered_builds)
            build.state, build.started_at = "running", build.started_at or moment
            job.state, job.started_at = "running", moment
        moment += job.step.duration
        if outcome == "canceled":
            world.cancel(build, moment)
            if build.state == "canceling":
                world.finish_canceling(build, moment)
            return
        if job.step.trigger is not None:
            world.end_trigger(build, job, moment, passed=outcome == "passed")
            continue
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
    build.state, build.blocked, build.finished_at = "scheduled", False, None  # replayed below
    jobs = build.jobs
    commands = [job for job in jobs if job.step.type in ("script", "trigger")]
    if state == "failed":
        failing = {job.id for job in jobs if job.step.fails or job.step.flaky}
        if not failing and commands:
            failing = {commands[-1].id}
        return [(job, "failed" if job.id in failing else "passed", {}) for job in jobs]
    last = commands[-1] if state == "canceled" and commands else None
    return [(job, "canceled" if job is last else "passed", {}) for job in jobs]


def _explicit_jobs(world: World, build: Build, specs: list[Mapping[str, Any]], where: str) -> Plan:
    """Jobs as listed; ``retried: true`` makes the next job of the same step its retry."""
    steps = {step.key: step for step in build.pipeline.steps}
    plan: Plan = []
    for index, spec in enumerate(specs):
        step = _job_step(steps, spec, index, f"{where}.jobs[{index}]")
        if step.wait and spec.get("state", "passed") != "passed":
            raise error(
                f"{where}.jobs[{index}]", 'a wait step\'s job is never "failed" or "canceled"'
            )
        if "id" in spec and any(j.id == spec["id"] for b in world.builds for j in b.jobs):
            raise error(f"{where}.jobs[{index}]", f'"id" {spec["id"]} is used by another job')
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
                raise error(f"{where}.jobs[{index}]", '"retried" needs a later job of its "step"')
            job.retried, job.retried_in_job_id = True, retry.id
            retry.attempt, retry.retry_source_id = job.attempt + 1, job.id
    return plan


def _job_step(steps: Mapping[str, Step], spec: Mapping[str, Any], index: int, where: str) -> Step:
    """The pipeline step a job names, or the job's own inline step."""
    if "step" not in spec:
        return step_from_dict(spec, index)
    if spec["step"] not in steps:
        raise error(where, f'"step" must be one of {", ".join(steps)}; got {shown(spec["step"])}')
    return steps[spec["step"]]


def _artifact_file(spec: Mapping[str, Any]) -> ArtifactFile:
    path = spec["path"]
    if "content_base64" in spec:
        content = base64.b64decode(spec["content_base64"])
    else:
        content = spec.get("content", "").encode()
    failure = spec.get("failure_content")
    guessed = mimetypes.guess_type(path)[0] or (
        "application/octet-stream" if "content_base64" in spec else "text/plain"
    )
    return ArtifactFile(
        path=path,
        content=content,
        mime_type=spec.get("mime_type") or guessed,
        failure_content=failure.encode() if failure is not None else None,
    )


def _annotate(build: Build, spec: Mapping[str, Any], where: str) -> None:
    """A data file's annotation, made as the API makes one, when the build finished."""
    job = None
    if "step" in spec:
        jobs = [j for j in build.latest_jobs() if j.step.key == spec["step"]]
        if not jobs:
            raise error(where, f'"step" names no job of the build; got {shown(spec["step"])}')
        job = jobs[-1]
    body = {key: spec[key] for key in ("body", "style", "context", "priority") if key in spec}
    attachments.annotate(build, job, body, build.finished_at or build.created_at)


def _sha(pipeline: Pipeline, number: int) -> str:
    return hashlib.sha1(f"{pipeline.id}/{number}".encode(), usedforsecurity=False).hexdigest()


def _time(text: str | None, default: float) -> float:
    return parse_time(text) if text else default
