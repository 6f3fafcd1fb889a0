"""Test Engine: suites, their runs (one per build that reported to them) and the failed
test executions of a run. Records and payloads, with the API's field names."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .model import Build, Organization, graphql_id, iso, stable_id
from .state import ApiError

if TYPE_CHECKING:
    from .payloads import Renderer

WEB = "https://buildkite.com"


@dataclass
class Failure:
    """One failed execution of a test in a run."""

    name: str
    location: str
    reason: str
    duration: float = 0.5
    backtrace: list[str] = field(default_factory=list)
    expanded: list[str] = field(default_factory=list)


@dataclass
class TestRun:
    id: str
    build: Build
    failures: list[Failure] = field(default_factory=list)

    @property
    def result(self) -> str:
        return "failed" if self.failures else "passed"


@dataclass
class Suite:
    id: str
    slug: str
    name: str
    default_branch: str
    runs: list[TestRun] = field(default_factory=list)


def suite(org: Organization, slug: str) -> Suite:
    for candidate in org.suites:
        if candidate.slug == slug:
            return candidate
    raise ApiError(404, "No suite found")


def run(found: Suite, run_id: str) -> TestRun:
    for candidate in found.runs:
        if candidate.id == run_id:
            return candidate
    raise ApiError(404, "No test run found")


def newest_first(found: Suite, build_id: str | None) -> list[TestRun]:
    runs = [r for r in found.runs if not build_id or r.build.id == build_id]
    return sorted(runs, key=lambda r: (r.build.created_at, r.build.seq), reverse=True)


def _api(render: Renderer, org: Organization, found: Suite) -> str:
    return f"{render.base}/analytics/organizations/{org.slug}/suites/{found.slug}"


def _web(org: Organization, found: Suite) -> str:
    return f"{WEB}/organizations/{org.slug}/analytics/suites/{found.slug}"


def suite_payload(render: Renderer, org: Organization, found: Suite) -> dict[str, Any]:
    return {
        "id": found.id,
        "graphql_id": graphql_id("Suite", found.id),
        "slug": found.slug,
        "name": found.name,
        "url": _api(render, org, found),
        "web_url": _web(org, found),
        "default_branch": found.default_branch,
    }


def run_payload(render: Renderer, org: Organization, found: Suite, item: TestRun) -> dict[str, Any]:
    build = item.build
    return {
        "id": item.id,
        "url": f"{_api(render, org, found)}/runs/{item.id}",
        "web_url": f"{_web(org, found)}/runs/{item.id}",
        "branch": build.branch,
        "commit_sha": build.commit,
        "created_at": iso(build.created_at),
        "state": "finished",
        "result": item.result,
        "build_id": build.id,
    }


def failure_payload(
    org: Organization, found: Suite, item: TestRun, failure: Failure, expanded: bool
) -> dict[str, Any]:
    build = item.build
    test_id = stable_id(found.id, "test", failure.location, failure.name)
    execution_id = stable_id(item.id, "execution", test_id)
    web = _web(org, found)
    payload: dict[str, Any] = {
        "execution_id": execution_id,
        "run_id": item.id,
        "test_id": test_id,
        "run_name": item.id,
        "commit_sha": build.commit,
        "created_at": iso(build.finished_at or build.created_at),
        "branch": build.branch,
        "failure_reason": failure.reason,
        "duration": failure.duration,
        "location": failure.location,
        "test_name": failure.name,
        "run_url": f"{web}/runs/{item.id}",
        "test_url": f"{web}/tests/{test_id}",
        "test_execution_url": f"{web}/tests/{test_id}?execution_id={execution_id}",
    }
    if expanded:
        payload["failure_expanded"] = [
            {"backtrace": failure.backtrace, "expanded": failure.expanded}
        ]
    return payload
