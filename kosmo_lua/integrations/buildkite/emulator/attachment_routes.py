"""The endpoints of annotations (a build's or a job's) and artifacts (a job's, listed per
build or per job), and the download that redirects to the artifact storage."""

from __future__ import annotations

from . import attachments
from .registry import Context, build_of, job_of, ok, page, route
from .routes import BUILD, JOB
from .wsgi import Response

ARTIFACT = JOB + "/artifacts/{artifact}"

# Annotations.


@route("GET", BUILD + "/annotations", "read_builds")
def list_annotations(context: Context, params: dict[str, str]) -> Response:
    build = build_of(context, params)
    notes = attachments.annotations_of(build, context.request.arg("scope"))
    omit = context.request.flag("omit_body")
    return page(context, notes, lambda note: attachments.annotation_payload(note, omit))


@route("GET", JOB + "/annotations", "read_builds")
def list_job_annotations(context: Context, params: dict[str, str]) -> Response:
    build, job = job_of(context, params)
    notes = attachments.annotations_of(build, None, job)
    omit = context.request.flag("omit_body")
    return page(context, notes, lambda note: attachments.annotation_payload(note, omit))


@route("POST", BUILD + "/annotations", "write_builds")
def create_annotation(context: Context, params: dict[str, str]) -> Response:
    build = build_of(context, params)
    note = attachments.annotate(build, None, context.request.json(), context.now)
    return ok(attachments.annotation_payload(note), 201)


@route("POST", JOB + "/annotations", "write_builds")
def create_job_annotation(context: Context, params: dict[str, str]) -> Response:
    build, job = job_of(context, params)
    note = attachments.annotate(build, job, context.request.json(), context.now)
    return ok(attachments.annotation_payload(note), 201)


@route("DELETE", BUILD + "/annotations/{annotation}", "write_builds")
def delete_annotation(context: Context, params: dict[str, str]) -> Response:
    build = build_of(context, params)
    build.annotations.remove(attachments.annotation(build, params["annotation"], None))
    return Response(204)


@route("DELETE", JOB + "/annotations/{annotation}", "write_builds")
def delete_job_annotation(context: Context, params: dict[str, str]) -> Response:
    build, job = job_of(context, params)
    build.annotations.remove(attachments.annotation(build, params["annotation"], job))
    return Response(204)


# Artifacts.


@route("GET", BUILD + "/artifacts", "read_artifacts")
def list_artifacts(context: Context, params: dict[str, str]) -> Response:
    build = build_of(context, params)
    request = context.request
    items = attachments.artifacts_of(build, None, request.arg("state"), request.arg("path"))
    jobs = {job.id: job for job in build.jobs}
    return page(
        context,
        items,
        lambda item: attachments.artifact_payload(context.render, build, jobs[item.job_id], item),
    )


@route("GET", JOB + "/artifacts", "read_artifacts")
def list_job_artifacts(context: Context, params: dict[str, str]) -> Response:
    build, job = job_of(context, params)
    request = context.request
    items = attachments.artifacts_of(build, job, request.arg("state"), request.arg("path"))
    return page(
        context, items, lambda item: attachments.artifact_payload(context.render, build, job, item)
    )


@route("GET", ARTIFACT, "read_artifacts")
def get_artifact(context: Context, params: dict[str, str]) -> Response:
    build, job = job_of(context, params)
    item = attachments.artifact(job, params["artifact"])
    return ok(attachments.artifact_payload(context.render, build, job, item))


@route("GET", ARTIFACT + "/download", "read_artifacts")
def download_artifact(context: Context, params: dict[str, str]) -> Response:
    """302 to a presigned storage URL, also given as ``{url}``."""
    job = job_of(context, params)[1]
    item = attachments.artifact(job, params["artifact"])
    url = attachments.download_url(context.request.root, item, context.storage_secret, context.now)
    return Response.json(302, {"url": url}, [("Location", url)])


@route("DELETE", ARTIFACT, "write_artifacts")
def delete_artifact(context: Context, params: dict[str, str]) -> Response:
    job = job_of(context, params)[1]
    attachments.artifact(job, params["artifact"]).state = "deleted"
    return Response(204)
