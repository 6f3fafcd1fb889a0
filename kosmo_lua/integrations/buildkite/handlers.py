"""The few Buildkite tools a path template cannot express."""

from __future__ import annotations

import urllib.parse
from typing import Any

from ...errors import ApiError, ArgumentError, HostError
from ...request import Call
from ...rest import safe_path


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


def list_jobs(call: Call) -> tuple[Any, dict[str, Any]]:
    """GET …/jobs, whose pages are cursors: ``{items, links = {self, next}}``. With
    ``all_pages`` or ``max_pages`` it follows ``links.next`` (within the API only) and
    returns every item in one ``items``, with the last page's ``links``."""
    args = call.args
    tool = call.tool.full_name
    if args.get("after") and args.get("before"):
        raise ArgumentError(
            f"{tool}: give after or before, not both (they page in opposite directions)",
            tool=tool,
        )
    if isinstance(args.get("state"), str):  # the API reads state[] only
        args["state"] = [args["state"]]
    response = call.send()
    if not (args.get("all_pages") or args.get("max_pages")) or not isinstance(response.data, dict):
        return response.data, response.meta()
    pages = args.get("max_pages") or call.integration.pagination.max_pages
    items = list(response.data.get("items") or [])
    links = response.data.get("links") or {}
    fetched = 1
    while fetched < pages and isinstance(links.get("next"), str):
        response = call.send("GET", _within_api(call, links["next"]))
        page = response.data if isinstance(response.data, dict) else {}
        items.extend(page.get("items") or [])
        links = page.get("links") or {}
        fetched += 1
    meta = response.meta()
    meta["pages"] = fetched
    return {"items": items, "links": links}, meta


def _within_api(call: Call, url: str) -> str:
    """A next-page URL as a safe path under the account's base URL; others are refused."""
    base = call.client.base_url
    if not url.startswith(base + "/"):
        raise HostError(f"Refused to follow a pagination link outside the API: {url}")
    return safe_path(url[len(base) :])
