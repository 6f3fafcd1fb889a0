"""The endpoints of a build's jobs: list them (cursor pages), get, unblock, reprioritize one.
(Retry, logs and environment are in routes.py.)"""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import urlencode

from ..params import JOB_STATES
from .model import Build, Job
from .registry import Context, build_of, job_of, ok, route
from .routes import BUILD, JOB
from .state import ApiError
from .wsgi import DEFAULT_PER_PAGE, MAX_PER_PAGE, Request, Response


@route("GET", BUILD + "/jobs", "read_builds")
def list_jobs(context: Context, params: dict[str, str]) -> Response:
    """``{items, links}``: a page of the build's jobs in order, after or before a cursor."""
    build = build_of(context, params)
    request = context.request
    states = request.args("state")
    if invalid := [state for state in states if state not in JOB_STATES]:
        raise ApiError(400, f"Invalid state: {invalid[0]}")
    per_page = _per_page(request.arg("per_page"))
    after, before = request.arg("after"), request.arg("before")
    if after and before:
        raise ApiError(400, "after and before are mutually exclusive")
    retried = (request.arg("include_retried_jobs") or "true").lower() not in ("false", "0")
    jobs = build.jobs if retried else build.latest_jobs()
    step_key, group_key = request.arg("step_key"), request.arg("group_key")
    jobs = [
        job
        for job in jobs
        if (not states or job.state in states)
        and (not step_key or job.step.key == step_key)
        and (not group_key or job.step.group == group_key)
    ]
    order = {job.id: index for index, job in enumerate(build.jobs)}
    if after:
        mark = order[_job_of_cursor(build, after)]
        chosen = [job for job in jobs if order[job.id] > mark][:per_page]
    elif before:
        mark = order[_job_of_cursor(build, before)]
        chosen = [job for job in jobs if order[job.id] < mark][-per_page:]
    else:
        chosen = jobs[:per_page]
    links = {"self": _url(request, list(request.query))}
    if chosen and any(order[job.id] > order[chosen[-1].id] for job in jobs):
        kept = [(k, v) for k, v in request.query if k not in ("after", "before")]
        links["next"] = _url(request, [*kept, ("after", cursor(chosen[-1]))])
    items = [context.render.job(build, job) for job in chosen]
    return ok({"items": items, "links": links})


def cursor(job: Job) -> str:
    """An opaque cursor naming a job (URL-safe base64, unpadded)."""
    return base64.urlsafe_b64encode(f"job:{job.id}".encode()).decode().rstrip("=")


def _job_of_cursor(build: Build, text: str) -> str:
    try:
        decoded = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError):
        decoded = ""
    job_id = decoded.removeprefix("job:")
    if not decoded.startswith("job:") or all(job.id != job_id for job in build.jobs):
        raise ApiError(400, "Invalid cursor")
    return job_id


def _per_page(text: str | None) -> int:
    if text is None:
        return DEFAULT_PER_PAGE
    if not text.isdigit() or not 1 <= int(text) <= MAX_PER_PAGE:
        raise ApiError(400, f"per_page must be an integer from 1 to {MAX_PER_PAGE}")
    return int(text)


def _url(request: Request, query: list[tuple[str, Any]]) -> str:
    return f"{request.root}{request.raw_path}" + (f"?{urlencode(query)}" if query else "")


@route("GET", JOB, "read_builds")
def get_job(context: Context, params: dict[str, str]) -> Response:
    return ok(context.render.job(*job_of(context, params)))


@route("PUT", JOB + "/unblock", "write_builds")
def unblock_job(context: Context, params: dict[str, str]) -> Response:
    build, job = job_of(context, params)
    context.world.unblock(build, job, context.request.json(), context.now)
    return ok(context.render.job(build, job))


@route("PUT", JOB + "/reprioritize", "write_builds")
def reprioritize_job(context: Context, params: dict[str, str]) -> Response:
    build, job = job_of(context, params)
    context.world.reprioritize(job, context.request.json())
    return ok(context.render.job(build, job))
