"""The few Buildkite tools a path template cannot express."""

from __future__ import annotations

import urllib.parse
from typing import Any

from ...errors import ApiError
from ...request import Call


def retry_failed_jobs(call: Call) -> tuple[Any, dict[str, Any]]:
    """PUT …/retry_failed_jobs; on deployments without it, retry each matching job once."""
    try:
        response = call.send()
        return response.data, response.meta()
    except ApiError as exc:
        if exc.status not in (404, 405):
            raise
    build_path = call.path().removesuffix("/retry_failed_jobs")
    build = call.send("GET", build_path).data  # a missing build raises its own 404 here
    states = {s.strip() for s in call.args["states"].split(",") if s.strip()}
    retried = 0
    for job in build.get("jobs", []):
        if job.get("type") != "script" or job.get("retried"):
            continue
        if states and job.get("state") not in states:
            continue
        job_id = urllib.parse.quote(str(job["id"]), safe="")
        call.send("PUT", f"{build_path}/jobs/{job_id}/retry", body={})
        retried += 1
    response = call.send("GET", build_path)
    return {**response.data, "retried_jobs_count": retried}, response.meta()
