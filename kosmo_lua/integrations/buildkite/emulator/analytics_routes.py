"""Test Engine's endpoints, under ``/v2/analytics/organizations/{org}``: suites, runs and
a run's failed executions."""

from __future__ import annotations

from . import analytics
from .registry import Context, ok, organization_of, page, route
from .wsgi import Response

SUITES = "/analytics/organizations/{org}/suites"
RUNS = SUITES + "/{suite}/runs"


@route("GET", SUITES, "read_suites")
def list_suites(context: Context, params: dict[str, str]) -> Response:
    org = organization_of(context, params)
    return page(
        context, org.suites, lambda found: analytics.suite_payload(context.render, org, found)
    )


@route("GET", RUNS, "read_suites")
def list_runs(context: Context, params: dict[str, str]) -> Response:
    org = organization_of(context, params)
    found = analytics.suite(org, params["suite"])
    runs = analytics.newest_first(found, context.request.arg("build_id"))
    return page(context, runs, lambda item: analytics.run_payload(context.render, org, found, item))


@route("GET", RUNS + "/{run}", "read_suites")
def get_run(context: Context, params: dict[str, str]) -> Response:
    org = organization_of(context, params)
    found = analytics.suite(org, params["suite"])
    item = analytics.run(found, params["run"])
    return ok(analytics.run_payload(context.render, org, found, item))


@route("GET", RUNS + "/{run}/failed_executions", "read_suites")
def list_failed_executions(context: Context, params: dict[str, str]) -> Response:
    org = organization_of(context, params)
    found = analytics.suite(org, params["suite"])
    item = analytics.run(found, params["run"])
    expanded = context.request.flag("include_failure_expanded")
    return page(
        context,
        item.failures,
        lambda failure: analytics.failure_payload(org, found, item, failure, expanded),
    )
