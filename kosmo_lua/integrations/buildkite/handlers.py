"""The few Buildkite tools a path template cannot express."""

from __future__ import annotations

import re
import urllib.parse
from typing import Any

from ...errors import ApiError
from ...request import Call

# Timestamp markers (`ESC _bk;t=<ms> BEL`, as the buildkite CLI strips them) and ANSI
# escape sequences (colours, erase-line, cursor moves).
_LOG_NOISE = re.compile(r"(?:\x1b_)?bk;t=\d+\x07|\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


def strip_log(text: str) -> str:
    """A job log as plain text: no colours, no timestamp markers."""
    return _LOG_NOISE.sub("", text)


def get_job_log(call: Call) -> tuple[Any, dict[str, Any]]:
    """The API's JSON by default; ``format = "text"`` asks for the raw log (text/plain)."""
    strip = call.args.get("strip_ansi", False)
    if call.args.get("format") == "text":
        response = call.send(headers={"Accept": "text/plain"}, text=True)
        return (strip_log(response.data) if strip else response.data), response.meta()
    response = call.send()
    data = response.data
    if strip and isinstance(data, dict) and isinstance(data.get("content"), str):
        data = {**data, "content": strip_log(data["content"])}
    return data, response.meta()


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
