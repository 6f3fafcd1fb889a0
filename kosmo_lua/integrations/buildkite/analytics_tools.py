"""Buildkite Test Engine: test suites, their runs and the failed test executions of a run.

These endpoints live under /analytics/organizations/{organization} and need the
read_suites scope.
"""

from __future__ import annotations

from ...tools import Param, Tool
from .params import ORGANIZATION

SUITES = "/analytics/organizations/{organization}/suites"
RUNS = SUITES + "/{suite}/runs"

SUITE = Param(
    "suite",
    "string",
    "Test suite slug, from list_test_suites.",
    required=True,
    location="path",
    example="api-integration",
)
RUN_ID = Param(
    "run_id",
    "string",
    "Test run UUID, from list_test_runs.",
    required=True,
    location="path",
    example="3c90a8ad-8e86-4e78-87b4-acae5e808de4",
)

_LATEST_RUN = (
    "local bk = app.integrations.buildkite\n"
    'local run = bk.list_test_runs{organization = "acme-inc", suite = "api-integration",\n'
    "  per_page = 1}[1]\n"
)

TEST_ENGINE_TOOLS = (
    Tool(
        "list_test_suites",
        "List an organization's Test Engine suites.",
        "read",
        "GET",
        (SUITES,),
        params=(ORGANIZATION,),
        paginated=True,
        result="TestSuite[]",
        returns="The organization's test suites.",
        example="for _, suite in ipairs(app.integrations.buildkite.list_test_suites(\n"
        '    "acme-inc")) do\n'
        "  print(suite.slug, suite.name)\n"
        "end",
    ),
    Tool(
        "list_test_runs",
        "List a test suite's runs, newest first.",
        "read",
        "GET",
        (RUNS,),
        params=(
            ORGANIZATION,
            SUITE,
            Param(
                "build_id",
                "string",
                "Only the runs of this build (the build's UUID, its `id`).",
                location="query",
            ),
        ),
        paginated=True,
        result="TestRun[]",
        returns="The suite's runs (`result`: `passed`, `failed`, …).",
        example=_LATEST_RUN + "print(run.result, run.branch, run.commit_sha)",
    ),
    Tool(
        "get_test_run",
        "Get one run of a test suite.",
        "read",
        "GET",
        (RUNS + "/{run_id}",),
        params=(ORGANIZATION, SUITE, RUN_ID),
        result="TestRun",
        returns="The run.",
        example=_LATEST_RUN
        + 'local same = bk.get_test_run("acme-inc", "api-integration", run.id)\n'
        "print(same.state, same.result, same.build_id)",
    ),
    Tool(
        "list_failed_executions",
        "List the failed test executions of a run: which tests failed, where and why.",
        "read",
        "GET",
        (RUNS + "/{run_id}/failed_executions",),
        params=(
            ORGANIZATION,
            SUITE,
            RUN_ID,
            Param(
                "include_failure_expanded",
                "boolean",
                "Add `failure_expanded`: each failure's backtrace and expanded message.",
                location="query",
            ),
        ),
        paginated=True,
        result="FailedExecution[]",
        returns="The run's failed executions (`failure_expanded` when asked for).",
        example=_LATEST_RUN
        + 'for _, failure in ipairs(bk.list_failed_executions{organization = "acme-inc",\n'
        '    suite = "api-integration", run_id = run.id, include_failure_expanded = true}) do\n'
        '  print(failure.test_name .. " at " .. failure.location .. ": " ..\n'
        "    failure.failure_reason)\n"
        "end",
    ),
)
