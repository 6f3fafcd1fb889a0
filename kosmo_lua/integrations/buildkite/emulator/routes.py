"""The REST endpoints of organizations, pipelines, builds and job logs under ``/v2``: one
handler per documented operation, with its scope. The other groups' endpoints are in
``*_routes.py``; all register in ``registry.py``."""

from __future__ import annotations

import fnmatch
import re
from collections import Counter
from collections.abc import Callable
from typing import Any

from .logs import as_html, header_times
from .model import Build, Job, parse_time
from .registry import Context, build_of, job_of, ok, page, pipeline_of, route
from .state import ApiError
from .wsgi import Request, Response

# ``state=finished`` is the docs' shortcut for these.
FINISHED_FILTER = ("passed", "failed", "blocked", "canceled")


# Token, user and organizations.


@route("GET", "/access-token", None)
def access_token(context: Context, _: dict[str, str]) -> Response:
    return ok(context.render.access_token(context.token, context.scopes))


@route("GET", "/user", "read_user")
def current_user(context: Context, _: dict[str, str]) -> Response:
    return ok(context.render.user(context.world.owner))


@route("GET", "/organizations", "read_organizations")
def list_organizations(context: Context, _: dict[str, str]) -> Response:
    organizations = list(context.world.organizations.values())
    return page(context, organizations, context.render.organization)


@route("GET", "/organizations/{org}", "read_organizations")
def get_organization(context: Context, params: dict[str, str]) -> Response:
    return ok(context.render.organization(context.world.organization(params["org"])))


# Pipelines.

PIPELINE = "/organizations/{org}/pipelines/{pipeline}"


@route("GET", "/organizations/{org}/pipelines", "read_pipelines")
def list_pipelines(context: Context, params: dict[str, str]) -> Response:
    org = context.world.organization(params["org"])
    name = (context.request.arg("name") or "").lower()
    repository = (context.request.arg("repository") or "").lower()
    pipelines = [
        pipeline
        for pipeline in context.world.pipelines
        if pipeline.organization is org
        and name in pipeline.name.lower()
        and repository in pipeline.repository.lower()
    ]
    return page(context, pipelines, context.render.pipeline)


@route("POST", "/organizations/{org}/pipelines", "write_pipelines")
def create_pipeline(context: Context, params: dict[str, str]) -> Response:
    org = context.world.organization(params["org"])
    pipeline = context.world.create_pipeline(org, context.request.json(), context.now)
    return ok(context.render.pipeline(pipeline), 201)


@route("GET", PIPELINE, "read_pipelines")
def get_pipeline(context: Context, params: dict[str, str]) -> Response:
    return ok(context.render.pipeline(pipeline_of(context, params)))


@route("PATCH", PIPELINE, "write_pipelines")
def update_pipeline(context: Context, params: dict[str, str]) -> Response:
    pipeline = pipeline_of(context, params)
    context.world.update_pipeline(pipeline, context.request.json())
    return ok(context.render.pipeline(pipeline))


@route("DELETE", PIPELINE, "write_pipelines")
def delete_pipeline(context: Context, params: dict[str, str]) -> Response:
    context.world.delete_pipeline(pipeline_of(context, params))
    return Response(204)


@route("POST", PIPELINE + "/archive", "write_pipelines")
def archive_pipeline(context: Context, params: dict[str, str]) -> Response:
    pipeline = pipeline_of(context, params)
    context.world.set_archived(pipeline, True, context.now)
    return ok(context.render.pipeline(pipeline))


@route("POST", PIPELINE + "/unarchive", "write_pipelines")
def unarchive_pipeline(context: Context, params: dict[str, str]) -> Response:
    pipeline = pipeline_of(context, params)
    context.world.set_archived(pipeline, False, context.now)
    return ok(context.render.pipeline(pipeline))


# Builds.

BUILD = PIPELINE + "/builds/{number}"


@route("GET", "/builds", "read_builds")
def list_all_builds(context: Context, _: dict[str, str]) -> Response:
    return _list_builds(context, lambda build: True)


@route("GET", "/organizations/{org}/builds", "read_builds")
def list_organization_builds(context: Context, params: dict[str, str]) -> Response:
    org = context.world.organization(params["org"])
    return _list_builds(context, lambda build: build.pipeline.organization is org)


@route("GET", PIPELINE + "/builds", "read_builds")
def list_pipeline_builds(context: Context, params: dict[str, str]) -> Response:
    pipeline = pipeline_of(context, params)
    return _list_builds(context, lambda build: build.pipeline is pipeline)


@route("POST", PIPELINE + "/builds", "write_builds")
def create_build(context: Context, params: dict[str, str]) -> Response:
    pipeline = pipeline_of(context, params)
    build = context.world.create_build(pipeline, context.request.json(), context.now)
    return ok(_build_payload(context, build), 201)


@route("GET", BUILD, "read_builds")
def get_build(context: Context, params: dict[str, str]) -> Response:
    build = build_of(context, params)
    counted = build.jobs if context.request.flag("include_retried_jobs") else build.latest_jobs()
    counts = {"total": len(counted), "states": dict(Counter(job.state for job in counted))}
    return ok(_build_payload(context, build, counts))


@route("PUT", BUILD + "/cancel", "write_builds")
def cancel_build(context: Context, params: dict[str, str]) -> Response:
    build = build_of(context, params)
    context.world.cancel(build, context.now)
    return ok(_build_payload(context, build))


@route("PUT", BUILD + "/rebuild", "write_builds")
def rebuild_build(context: Context, params: dict[str, str]) -> Response:
    build = context.world.rebuild(build_of(context, params), context.now)
    return ok(_build_payload(context, build))


@route("PUT", BUILD + "/retry_failed_jobs", "write_builds")
def retry_failed_jobs(context: Context, params: dict[str, str]) -> Response:
    build = build_of(context, params)
    states = context.request.json().get("states")
    count = context.world.retry_failed_jobs(build, states, context.now)
    return ok({**_build_payload(context, build), "retried_jobs_count": count}, 202)


def _list_builds(context: Context, scope: Callable[[Build], bool]) -> Response:
    keep = _build_filter(context.request)
    builds = context.world.newest_first(lambda build: scope(build) and keep(build))
    return page(context, builds, lambda build: _build_payload(context, build))


def _build_payload(
    context: Context, build: Build, job_state_counts: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A build as the request asked for it (``exclude_jobs``, ``include_retried_jobs``, ...)."""
    request = context.request
    jobs: list[Job] | None = None
    if not request.flag("exclude_jobs"):
        jobs = build.jobs if request.flag("include_retried_jobs") else build.latest_jobs()
        if wanted := request.args("job_states"):
            jobs = [job for job in jobs if job.state in wanted]
    return context.render.build(
        build,
        jobs,
        job_state_counts=job_state_counts,
        with_pipeline=not request.flag("exclude_pipeline"),
    )


def _build_filter(request: Request) -> Callable[[Build], bool]:
    """The documented list filters, all of which must hold."""
    branches = request.args("branch")
    commits = request.args("commit")
    states = {
        expanded
        for state in request.args("state")
        for expanded in (FINISHED_FILTER if state == "finished" else (state,))
    }
    created_from = _time_arg(request, "created_from")
    created_to = _time_arg(request, "created_to")
    finished_from = _time_arg(request, "finished_from")
    creator = request.arg("creator")
    meta_data = {
        key[len("meta_data[") : -1]: value
        for key, value in request.query
        if key.startswith("meta_data[") and key.endswith("]")
    }

    def keep(build: Build) -> bool:
        finished = build.finished_at
        return (
            (not branches or any(fnmatch.fnmatchcase(build.branch, b) for b in branches))
            and (not commits or build.commit in commits)
            and (not states or build.state in states or (build.blocked and "blocked" in states))
            and (created_from is None or build.created_at >= created_from)
            and (created_to is None or build.created_at < created_to)
            and (finished_from is None or (finished is not None and finished >= finished_from))
            and (not creator or build.creator.id == creator)
            and all(str(build.meta_data.get(k)) == v for k, v in meta_data.items())
        )

    return keep


def _time_arg(request: Request, name: str) -> float | None:
    text = request.arg(name)
    if not text:
        return None
    try:
        return parse_time(text)
    except ValueError:
        raise ApiError(400, f"{name} must be an ISO 8601 time") from None


# Jobs.

JOB = BUILD + "/jobs/{job}"


@route("PUT", JOB + "/retry", "write_builds")
def retry_job(context: Context, params: dict[str, str]) -> Response:
    build, job = job_of(context, params)
    return ok(context.render.job(build, context.world.retry_job(build, job, context.now)))


@route("GET", JOB + "/log", "read_build_logs")
def job_log(context: Context, params: dict[str, str]) -> Response:
    build, job = job_of(context, params)
    request = context.request
    accept = request.headers.get("accept", "")
    if "text/plain" in accept:
        return _raw_log(request, job)
    if request.headers.get("range"):
        raise ApiError(400, "Range requests are only supported with Accept: text/plain")
    log = _log_text(job)
    if "text/html" in accept:
        return _html_log(log)
    return ok(
        {
            "url": context.render.job_url(build, job) + "/log",
            "content": log,
            "size": len(log.encode()),
            "header_times": header_times(log),
        }
    )


@route("HEAD", JOB + "/log", "read_build_logs")
def job_log_size(context: Context, params: dict[str, str]) -> Response:
    """The size of the raw log, without it (Content-Length)."""
    job = job_of(context, params)[1]
    size = job.big_log.size if job.big_log else len(job.log.encode())
    return Response(200, headers=[*_TEXT_HEADERS], stream=(size, []))


@route("GET", JOB + "/log.txt", "read_build_logs")
def job_raw_log(context: Context, params: dict[str, str]) -> Response:
    return _raw_log(context.request, job_of(context, params)[1])


@route("GET", JOB + "/log.html", "read_build_logs")
def job_html_log(context: Context, params: dict[str, str]) -> Response:
    return _html_log(_log_text(job_of(context, params)[1]))


@route("GET", JOB + "/env", "read_job_env")
def job_env(context: Context, params: dict[str, str]) -> Response:
    build, job = job_of(context, params)
    return ok({"env": context.render.job_env(build, job)})


_SUFFIX_RANGE = re.compile(r"bytes=-(\d+)")
_TEXT_HEADERS = (("Content-Type", "text/plain; charset=utf-8"), ("Accept-Ranges", "bytes"))


def _log_text(job: Job) -> str:
    return job.big_log.text() if job.big_log else job.log


def _html_log(log: str) -> Response:
    return Response(200, as_html(log).encode(), [("Content-Type", "text/html; charset=utf-8")])


def _raw_log(request: Request, job: Job) -> Response:
    """The raw bytes; ``Range: bytes=-N`` gives the last N of them (206). A big log streams
    from its generator."""
    big = job.big_log
    data = b"" if big else job.log.encode()
    size = big.size if big else len(data)
    headers = [*_TEXT_HEADERS]
    wanted = request.headers.get("range")
    start = 0
    if wanted:
        suffix = _SUFFIX_RANGE.fullmatch(wanted.strip())
        if not suffix or int(suffix[1]) == 0:
            raise ApiError(400, "Only suffix byte ranges (bytes=-N, N > 0) are supported")
        if not size:
            raise ApiError(416, "The job log is empty")
        start = max(size - int(suffix[1]), 0)
        headers.append(("Content-Range", f"bytes {start}-{size - 1}/{size}"))
    status = 206 if wanted else 200
    if big:
        return Response(status, headers=headers, stream=(size - start, big.read(start)))
    return Response(status, data[start:], headers)
