"""The demo world: Acme Inc's CI during the week before Monday 16 March 2026, 12:00 UTC.

Organization ``acme-inc``; pipelines ``web``, ``api``, ``deploy``, ``release`` and the archived
``legacy``; 40 builds (so listing all builds takes two pages of 30). The story:

- ``web``: dark mode landed after a failing unit test was fixed; a webpack upgrade broke
  ``main`` once; the latest ``main`` build passed and a checkout redesign build is running.
- ``api``: partial refunds round wrongly. The integration tests fail on the feature branch and
  again on ``main`` after the merge, so the latest ``main`` build failed. The step still fails,
  so new ``api`` builds fail too (retrying will not help; it is a real bug).
- ``deploy`` (builds 35 to 42): the smoke tests are flaky: a first attempt fails, a retry
  passes. The last deploy (42, the build the original's Buildkite page uses in its examples)
  failed on them and waits for that retry.
- ``legacy``: archived in February 2026; creating builds on it is refused.
- ``release``: no builds yet; its first step is a block step ("Release?"), so a new build
  waits there until unblocked, then publishes.

Around them: the integration tests upload a JUnit report (an artifact; the failing one when
they fail) and the web build a tarball; the latest ``main`` build of ``api`` carries
annotations; the "API integration tests" Test Engine suite has runs for ``api`` builds 12
(passed) and 14 (the two refund tests failed); five agents in the "Default" cluster's
queues (four connected, one lost).

Everything is fixed (no randomness): ids, commits and times derive from the data.
"""

# ruff: noqa: E501 (the logs below keep the long lines real tools print)

from __future__ import annotations

import base64
import copy
import gzip
from typing import Any

NOW = "2026-03-16T12:00:00Z"
_RED, _GREEN, _BOLD, _RESET = "\x1b[31m", "\x1b[32m", "\x1b[1m", "\x1b[0m"

_JEST_FAILURE = f"""\
> acme-web@4.12.0 test
> jest --ci

{_GREEN} PASS {_RESET} src/components/Header.test.tsx
{_GREEN} PASS {_RESET} src/pricing/PriceTable.test.tsx
{_RED}{_BOLD} FAIL {_RESET} src/components/ThemeToggle.test.tsx
  {_BOLD}● ThemeToggle \u203a remembers the chosen theme{_RESET}

    expect(received).toBe(expected) // Object.is equality

    Expected: {_GREEN}"dark"{_RESET}
    Received: {_RED}"light"{_RESET}

      21 |     fireEvent.click(screen.getByRole("button", {{ name: /dark mode/i }}));
      22 |     rerender(<ThemeToggle />);
    > 23 |     expect(localStorage.getItem("theme")).toBe("dark");
         |                                           ^
      24 |   }});

      at Object.<anonymous> (src/components/ThemeToggle.test.tsx:23:43)

Tests:       {_RED}1 failed{_RESET}, {_GREEN}57 passed{_RESET}, 58 total
Time:        14.211 s"""

_WEBPACK_FAILURE = f"""\
> acme-web@4.12.0 build
> webpack --mode production

{_RED}ERROR in ./src/checkout/signature.ts 3:0-33{_RESET}
Module not found: Error: Can't resolve 'crypto' in '/workdir/src/checkout'

BREAKING CHANGE: webpack < 5 used to include polyfills for node.js core modules by default.
This is no longer the case. Verify if you need this module and configure a polyfill for it.

webpack 5.94.0 compiled with {_RED}1 error{_RESET} in 38211 ms"""

_RUFF_FAILURE = f"""\
acme_api/middleware/ratelimit.py:14:5: {_RED}F841{_RESET} Local variable `reset` is assigned to but never used
acme_api/middleware/ratelimit.py:31:1: {_RED}E302{_RESET} Expected 2 blank lines, found 1
Found 2 errors."""

_PYTEST_PASS = f"""\
{_BOLD}============================= test session starts =============================={_RESET}
collected 48 items

tests/integration/test_orders.py {_GREEN}....................{_RESET}                   [ 41%]
tests/integration/test_refunds.py {_GREEN}............................{_RESET}         [100%]

{_GREEN}============================== 48 passed in 12.31s =============================={_RESET}"""

_PYTEST_FAILURE = f"""\
{_BOLD}============================= test session starts =============================={_RESET}
platform linux -- Python 3.12.2, pytest-8.1.1, pluggy-1.4.0
rootdir: /workdir
collected 48 items

tests/integration/test_orders.py {_GREEN}....................{_RESET}                   [ 41%]
tests/integration/test_refunds.py {_GREEN}.......{_RESET}{_RED}F{_RESET}{_GREEN}...................{_RESET}{_RED}F{_RESET}     [100%]

=================================== FAILURES ===================================
{_RED}{_BOLD}______________________ test_partial_refund_rounds_to_cent ______________________{_RESET}

client = <ApiClient base_url='http://localhost:8000'>, paid_order = <Order ord_881 total=31.00>

    def test_partial_refund_rounds_to_cent(client, paid_order):
        refund = client.refund(paid_order, ratio=Decimal(1) / 3)
>       assert refund.amount == Decimal("10.33")
{_RED}{_BOLD}E       AssertionError: assert Decimal('10.333333') == Decimal('10.33'){_RESET}
{_RED}{_BOLD}E        +  where Decimal('10.333333') = <Refund rf_204 order=ord_881>.amount{_RESET}

tests/integration/test_refunds.py:42: AssertionError
{_RED}{_BOLD}_________________________ test_refund_total_matches __________________________{_RESET}

    def test_refund_total_matches(client, paid_order):
>       refunds = [client.refund(paid_order, ratio=Decimal(1) / 3) for _ in range(3)]

tests/integration/test_refunds.py:57:
_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _
acme_api/client.py:88: in refund
    return self._post(f"/orders/{{order.id}}/refunds", json={{"ratio": str(ratio)}})
acme_api/client.py:41: in _post
    response.raise_for_status()
_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _

{_RED}{_BOLD}E   httpx.HTTPStatusError: Server error '500 Internal Server Error' for url 'http://localhost:8000/orders/ord_881/refunds'{_RESET}
----------------------------- Captured log call ------------------------------
ERROR    acme_api.refunds:refunds.py:63 refund exceeds the order's remaining balance
Traceback (most recent call last):
  File "/workdir/acme_api/refunds.py", line 61, in create_refund
    order.charge(-amount)
  File "/workdir/acme_api/orders.py", line 112, in charge
    raise BalanceError(f"refund {{amount}} exceeds remaining {{self.remaining}}")
acme_api.errors.BalanceError: refund 10.333333 exceeds remaining 10.333332
=========================== short test summary info ============================
FAILED tests/integration/test_refunds.py::test_partial_refund_rounds_to_cent - AssertionError: assert Decimal('10.333333') == Decimal('10.33')
FAILED tests/integration/test_refunds.py::test_refund_total_matches - httpx.HTTPStatusError: Server error '500 Internal Server Error'
{_RED}========================= 2 failed, 46 passed in 13.02s ========================={_RESET}"""

_SMOKE_FAILURE = f"""\
Checking https://acme-inc.example/healthz ... {_GREEN}200 OK{_RESET}
Checking https://acme-inc.example/api/v2/status ... {_RED}timeout after 10s{_RESET}
curl: (28) Operation timed out after 10001 milliseconds with 0 bytes received
{_RED}FAIL: 1 of 2 smoke checks failed{_RESET}"""

_RAKE_FAILURE = f"""\
{_RED}Failure:{_RESET}
InvoiceTest#test_totals_include_tax [test/models/invoice_test.rb:27]:
Expected: 119.0
  Actual: 100.0

1843 runs, 5126 assertions, {_RED}1 failures{_RESET}, 0 errors"""

_JUNIT_PASS = """\
<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="48" failures="0" time="12.31"/></testsuites>
"""

_JUNIT_FAILURE = """\
<?xml version="1.0" encoding="utf-8"?>
<testsuites>
  <testsuite name="pytest" tests="48" failures="2" time="13.02">
    <testcase classname="tests.integration.test_refunds" name="test_partial_refund_rounds_to_cent">
      <failure message="AssertionError: assert Decimal('10.333333') == Decimal('10.33')"/>
    </testcase>
    <testcase classname="tests.integration.test_refunds" name="test_refund_total_matches">
      <failure message="httpx.HTTPStatusError: Server error '500 Internal Server Error'"/>
    </testcase>
  </testsuite>
</testsuites>
"""

# A small gzip file (fixed mtime, so the same bytes every time) standing in for a build.
_TARBALL = base64.b64encode(gzip.compress(b"acme-web 2026.03.16\n" * 64, mtime=0)).decode("ascii")

_STEPS: dict[str, list[dict[str, Any]]] = {
    "web": [
        {
            "key": "lint",
            "label": ":eslint: Lint",
            "command": "npm run lint",
            "duration": 41,
            "output": "✔ No problems found (214 files)",
        },
        {
            "key": "test",
            "label": ":jest: Unit tests",
            "command": "npm test -- --ci",
            "duration": 96,
            "output": "Tests:       58 passed, 58 total",
            "failure_output": _JEST_FAILURE,
        },
        {
            "key": "build",
            "label": ":webpack: Build",
            "command": "npm run build",
            "duration": 133,
            "output": "webpack 5.94.0 compiled successfully in 41213 ms",
            "failure_output": _WEBPACK_FAILURE,
            "artifacts": [
                {
                    "path": "dist/web.tar.gz",
                    "content_base64": _TARBALL,
                    "mime_type": "application/gzip",
                }
            ],
        },
    ],
    "api": [
        {
            "key": "lint",
            "label": ":python: Lint",
            "command": "ruff check .",
            "duration": 12,
            "output": "All checks passed!",
            "failure_output": _RUFF_FAILURE,
        },
        {
            "key": "unit",
            "label": ":pytest: Unit tests",
            "command": "pytest tests/unit -q",
            "duration": 54,
            "output": "312 passed in 21.70s",
        },
        {
            "key": "integration",
            "label": ":pytest: Integration tests",
            "command": "pytest tests/integration",
            "duration": 118,
            "fails": True,
            "output": _PYTEST_PASS,
            "failure_output": _PYTEST_FAILURE,
            "artifacts": [
                {
                    "path": "junit/integration.xml",
                    "content": _JUNIT_PASS,
                    "failure_content": _JUNIT_FAILURE,
                    "mime_type": "application/xml",
                }
            ],
        },
        {
            "key": "docker",
            "label": ":docker: Build image",
            "command": "docker build -t acme/api:$BUILDKITE_COMMIT .",
            "duration": 187,
            "output": "Successfully tagged acme/api:latest",
        },
    ],
    "deploy": [
        {
            "key": "plan",
            "label": ":terraform: Plan",
            "command": "terraform plan -out=tfplan",
            "duration": 64,
            "output": "Plan: 0 to add, 2 to change, 0 to destroy.",
        },
        {
            "key": "deploy",
            "label": ":rocket: Deploy",
            "command": "scripts/deploy.sh production",
            "duration": 212,
            "output": "Rolled out 6/6 tasks",
            "env": {"DEPLOY_ENV": "production"},
        },
        {
            "key": "smoke",
            "label": ":fire: Smoke tests",
            "command": "scripts/smoke.sh https://acme-inc.example",
            "duration": 35,
            "flaky": True,
            "output": "2 of 2 smoke checks passed",
            "failure_output": _SMOKE_FAILURE,
        },
    ],
    "release": [
        {"block": ":rocket: Release?", "key": "approve"},
        {
            "key": "publish",
            "label": ":package: Publish",
            "command": "scripts/publish.sh",
            "duration": 48,
            "output": "Published acme-web and acme-api to the registry",
        },
    ],
    "legacy": [
        {
            "key": "test",
            "label": ":ruby: Tests",
            "command": "bundle exec rake test",
            "duration": 420,
            "output": "1843 runs, 5127 assertions, 0 failures, 0 errors",
            "failure_output": _RAKE_FAILURE,
        },
    ],
}


def _jobs(pipeline: str, failing: str) -> list[dict[str, Any]]:
    """One job per step of ``pipeline``, where only ``failing`` fails."""
    return [
        {"step": step["key"], "state": "failed" if step["key"] == failing else "passed"}
        for step in _STEPS[pipeline]
    ]


_SMOKE_RETRIED = [
    {"step": "plan"},
    {"step": "deploy"},
    {"step": "smoke", "state": "failed", "retried": True},
    {"step": "smoke"},
]

# Build 42 of deploy and its job b63254c0-…: the ones the original's Buildkite page uses in
# its examples, so each of them runs unchanged against the emulator.
_DEPLOY_42 = [
    {"step": "plan"},
    {"step": "deploy", "id": "b63254c0-3271-4a98-8270-7cfbd6c2f14e"},
    {"step": "smoke", "state": "failed"},
]

# What the latest api build on main was annotated with: the test failures and coverage for
# the build, and the JUnit summary on the integration tests' job.
_API_MAIN_NOTES = [
    {
        "context": "test-failures",
        "style": "error",
        "priority": 8,
        "body": "### 2 failed tests\n\n- `test_partial_refund_rounds_to_cent`\n"
        "- `test_refund_total_matches`",
    },
    {"context": "coverage", "style": "info", "body": "Coverage: **87.2%** (down 0.4%)"},
    {
        "context": "junit",
        "style": "warning",
        "step": "integration",
        "body": "2 of 48 tests failed in `tests/integration/test_refunds.py`",
    },
]

# (pipeline, day in March 2026 and time, branch, state, creator, message, extra fields)
_BUILDS: list[tuple[str, str, str, str, str, str, dict[str, Any]]] = [
    ("web", "09 09:12", "main", "passed", "ada", "Bump React to 18.3.1", {}),
    ("web", "09 11:40", "feature/dark-mode", "passed", "grace", "Add theme toggle", {"pr": 311}),
    ("web", "09 15:05", "main", "passed", "alan", "Fix footer links on mobile", {}),
    (
        "web",
        "10 10:22",
        "feature/dark-mode",
        "failed",
        "grace",
        "Persist the theme in localStorage",
        {"pr": 311, "jobs": _jobs("web", "test")},
    ),
    ("web", "10 13:48", "main", "passed", "margaret", "Update copy on the pricing page", {}),
    (
        "web",
        "11 09:30",
        "feature/dark-mode",
        "passed",
        "grace",
        "Fix theme persistence",
        {"pr": 311},
    ),
    (
        "web",
        "11 16:02",
        "main",
        "passed",
        "grace",
        "Merge pull request #311 from acme-inc/feature/dark-mode",
        {},
    ),
    (
        "web",
        "12 10:15",
        "feature/checkout-redesign",
        "failed",
        "alan",
        "WIP: new checkout flow",
        {"jobs": _jobs("web", "lint")},
    ),
    (
        "web",
        "12 10:40",
        "feature/checkout-redesign",
        "canceled",
        "alan",
        "WIP: new checkout flow (take 2)",
        {},
    ),
    (
        "web",
        "13 14:20",
        "main",
        "failed",
        "margaret",
        "Upgrade webpack to 5.94",
        {"jobs": _jobs("web", "build")},
    ),
    ("web", "13 17:45", "main", "passed", "margaret", "Add a crypto-browserify fallback", {}),
    (
        "web",
        "14 11:05",
        "feature/checkout-redesign",
        "passed",
        "alan",
        "New checkout flow behind a flag",
        {"pr": 318},
    ),
    (
        "web",
        "16 09:50",
        "main",
        "passed",
        "ada",
        "Release 2026.03.16",
        {"meta_data": {"release": "2026.03.16"}},
    ),
    (
        "web",
        "16 11:58",
        "feature/checkout-redesign",
        "running",
        "alan",
        "Address review comments",
        {"pr": 318},
    ),
    ("api", "09 08:55", "main", "passed", "ada", "Add the refunds endpoint", {}),
    ("api", "09 14:30", "main", "passed", "alan", "Paginate GET /orders", {}),
    (
        "api",
        "10 09:10",
        "fix/rate-limit-headers",
        "failed",
        "margaret",
        "Send RateLimit-* headers",
        {"pr": 204, "jobs": _jobs("api", "lint")},
    ),
    ("api", "10 11:25", "fix/rate-limit-headers", "passed", "margaret", "Fix lint", {"pr": 204}),
    (
        "api",
        "10 16:40",
        "main",
        "passed",
        "margaret",
        "Merge pull request #204 from acme-inc/fix/rate-limit-headers",
        {},
    ),
    ("api", "11 10:05", "main", "passed", "ada", "Bump SQLAlchemy to 2.0.36", {}),
    (
        "api",
        "11 15:50",
        "feature/partial-refunds",
        "passed",
        "grace",
        "Support partial refunds",
        {"pr": 209},
    ),
    (
        "api",
        "12 09:35",
        "feature/partial-refunds",
        "failed",
        "grace",
        "Round partial refunds",
        {"pr": 209},
    ),
    ("api", "12 12:00", "main", "passed", "alan", "Log slow queries", {}),
    (
        "api",
        "13 10:45",
        "feature/partial-refunds",
        "failed",
        "grace",
        "Round partial refunds, again",
        {"pr": 209},
    ),
    ("api", "13 13:30", "main", "canceled", "ada", 'Revert "Log slow queries"', {}),
    ("api", "14 09:20", "main", "passed", "ada", 'Revert "Log slow queries"', {}),
    (
        "api",
        "16 08:40",
        "feature/refund-webhooks",
        "passed",
        "alan",
        "Add refund webhooks",
        {"pr": 212},
    ),
    (
        "api",
        "16 10:30",
        "main",
        "failed",
        "grace",
        "Merge pull request #209 from acme-inc/feature/partial-refunds",
        {"annotations": _API_MAIN_NOTES},
    ),
    (
        "deploy",
        "09 10:00",
        "main",
        "passed",
        "ada",
        "Deploy web 2026.03.09",
        {"meta_data": {"service": "web"}, "number": 35},
    ),
    (
        "deploy",
        "10 17:00",
        "main",
        "passed",
        "margaret",
        "Deploy api 2026.03.10",
        {"meta_data": {"service": "api"}},
    ),
    (
        "deploy",
        "11 17:30",
        "main",
        "passed",
        "grace",
        "Deploy web 2026.03.11",
        {"meta_data": {"service": "web"}},
    ),
    (
        "deploy",
        "12 12:30",
        "main",
        "passed",
        "alan",
        "Deploy api 2026.03.12",
        {"meta_data": {"service": "api"}, "jobs": _SMOKE_RETRIED},
    ),
    (
        "deploy",
        "13 18:00",
        "main",
        "failed",
        "margaret",
        "Deploy web 2026.03.13",
        {"meta_data": {"service": "web"}},
    ),
    (
        "deploy",
        "14 09:00",
        "main",
        "passed",
        "margaret",
        "Deploy web 2026.03.13",
        {"meta_data": {"service": "web"}},
    ),
    (
        "deploy",
        "16 10:05",
        "main",
        "passed",
        "ada",
        "Deploy web 2026.03.16",
        {"meta_data": {"service": "web"}},
    ),
    (
        "deploy",
        "16 10:45",
        "main",
        "failed",
        "ada",
        "Deploy api 2026.03.16",
        {"meta_data": {"service": "api"}, "jobs": _DEPLOY_42},
    ),
]

_LEGACY_BUILDS = [
    ("2026-01-12T10:00:00Z", "passed", "Upgrade Rails to 7.1"),
    ("2026-01-19T10:00:00Z", "failed", "Remove the old billing code"),
    ("2026-01-20T10:00:00Z", "passed", "Remove the old billing code, take 2"),
    ("2026-01-26T10:00:00Z", "passed", "Freeze the monolith"),
]


_CLUSTER = {
    "name": "Default",
    "description": "Acme's CI agents",
    "emoji": ":buildkite:",
    "color": "#14CC80",
    "created_at": "2025-01-06T09:00:00Z",
    "queues": [
        {"key": "default", "description": "Linux agents for tests and builds"},
        {"key": "deploy", "description": "Agents with production credentials"},
        {"key": "macos", "description": "Mac minis for the iOS app"},
    ],
}

# Jobs name agents acme-inc-agent-1 to 3 (by build number): these are they.
_AGENTS = [
    *(
        {
            "name": f"acme-inc-agent-{n}",
            "hostname": f"ci-linux-0{n}",
            "ip_address": f"10.0.1.{10 + n}",
            "meta_data": ["os=linux", "docker=true"],
            "created_at": "2026-03-02T08:00:00Z",
        }
        for n in (1, 2, 3)
    ),
    {
        "name": "acme-inc-deploy-1",
        "hostname": "ci-deploy-01",
        "queue": "deploy",
        "ip_address": "10.0.2.10",
        "meta_data": ["os=linux", "aws=true"],
        "created_at": "2026-03-02T08:00:00Z",
    },
    {
        "name": "acme-inc-mac-1",
        "hostname": "mac-mini-01",
        "queue": "macos",
        "os_id": "darwin",
        "arch": "arm64",
        "connection_state": "lost",
        "ip_address": "10.0.3.10",
        "created_at": "2026-02-16T08:00:00Z",
    },
]

_SUITE = {
    "name": "API integration tests",
    "slug": "api-integration",
    "runs": [
        {"pipeline": "api", "build": 12},
        {
            "pipeline": "api",
            "build": 14,
            "failures": [
                {
                    "name": "test_partial_refund_rounds_to_cent",
                    "location": "tests/integration/test_refunds.py:42",
                    "reason": "AssertionError: assert Decimal('10.333333') == Decimal('10.33')",
                    "duration": 0.412,
                    "backtrace": ["tests/integration/test_refunds.py:42: AssertionError"],
                    "expanded": [
                        "where Decimal('10.333333') = <Refund rf_204 order=ord_881>.amount"
                    ],
                },
                {
                    "name": "test_refund_total_matches",
                    "location": "tests/integration/test_refunds.py:57",
                    "reason": "httpx.HTTPStatusError: Server error '500 Internal Server Error'",
                    "duration": 0.688,
                    "backtrace": [
                        "acme_api/client.py:88: in refund",
                        "acme_api/client.py:41: in _post",
                    ],
                    "expanded": [
                        "acme_api.errors.BalanceError: refund 10.333333 exceeds remaining 10.333332"
                    ],
                },
            ],
        },
    ],
}


def _build(row: tuple[str, str, str, str, str, str, dict[str, Any]]) -> dict[str, Any]:
    pipeline, when, branch, state, creator, message, extra = row
    build: dict[str, Any] = {
        "created_at": f"2026-03-{when.replace(' ', 'T')}:00Z",
        "branch": branch,
        "state": state,
        "creator": f"{creator}@acme-inc.example",
        "message": message,
    }
    if "pr" in extra:
        build["pull_request"] = {
            "id": str(extra["pr"]),
            "base": "main",
            "repository": f"git@github.com:acme-inc/{pipeline}.git",
        }
    for name in ("jobs", "meta_data", "number", "annotations"):
        if name in extra:
            build[name] = extra[name]
    return build


def _pipeline(slug: str, name: str, description: str, **fields: Any) -> dict[str, Any]:
    return {
        "slug": slug,
        "name": name,
        "description": description,
        "repository": f"git@github.com:acme-inc/{fields.pop('repo', slug)}.git",
        "default_branch": "main",
        "created_at": "2025-02-03T09:00:00Z",
        "steps": _STEPS[slug],
        "builds": [_build(row) for row in _BUILDS if row[0] == slug],
        **fields,
    }


def demo_data() -> dict[str, Any]:
    """The demo world in the data-file format (a fresh copy each call)."""
    people = [
        ("ada", "Ada Lovelace"),
        ("grace", "Grace Hopper"),
        ("alan", "Alan Turing"),
        ("margaret", "Margaret Hamilton"),
    ]
    data = {
        "now": NOW,
        "users": [
            {
                "name": name,
                "email": f"{handle}@acme-inc.example",
                "created_at": "2025-01-06T09:00:00Z",
            }
            for handle, name in people
        ],
        "organizations": [
            {
                "slug": "acme-inc",
                "name": "Acme Inc",
                "created_at": "2025-01-06T09:00:00Z",
                "pipelines": [
                    _pipeline(
                        "web",
                        "Web",
                        "The customer-facing web app",
                        env={"NODE_ENV": "test"},
                        tags=[":react:"],
                    ),
                    _pipeline(
                        "api",
                        "API",
                        "Orders, payments and refunds",
                        env={"DATABASE_URL": "postgres://ci@localhost/api_test"},
                        tags=[":python:"],
                    ),
                    _pipeline(
                        "deploy",
                        "Deploy",
                        "Production deploys of web and api",
                        env={"AWS_REGION": "eu-west-1"},
                    ),
                    _pipeline(
                        "release",
                        "Release",
                        "Publishes the packages, once someone says so",
                    ),
                    _pipeline(
                        "legacy",
                        "Legacy monolith",
                        "The old Rails app, retired",
                        repo="monolith",
                        default_branch="master",
                        archived_at="2026-02-01T10:00:00Z",
                        created_at="2019-05-14T09:00:00Z",
                        builds=[
                            {
                                "created_at": when,
                                "state": state,
                                "branch": "master",
                                "creator": "ada@acme-inc.example",
                                "message": message,
                            }
                            for when, state, message in _LEGACY_BUILDS
                        ],
                    ),
                ],
                "clusters": [_CLUSTER],
                "agents": _AGENTS,
                "suites": [_SUITE],
            }
        ],
    }
    return copy.deepcopy(data)
