"""Buildkite: CI/CD pipelines, builds, jobs and logs over the REST API v2."""

from __future__ import annotations

import os

from ...tools import CredentialField, EmulatorApp, Integration, Pagination
from .records import RECORDS
from .tools import TOOLS

_HERE = os.path.dirname(__file__)

DEFAULT_URL = "https://api.buildkite.com/v2"
# Under --emulate a build moves one state (scheduled, running, passed…) per this many seconds.
EMULATED_STEP_SECONDS = 1.0


def _emulator(data_file: str | None) -> EmulatorApp:
    from .emulator import Emulator

    if data_file:
        return Emulator.from_file(data_file, auto_advance=EMULATED_STEP_SECONDS)
    return Emulator(auto_advance=EMULATED_STEP_SECONDS)


def _overview() -> str:
    with open(os.path.join(_HERE, "overview.md"), encoding="utf-8") as handle:
        return handle.read()


INTEGRATION = Integration(
    name="buildkite",
    title="Buildkite",
    summary="CI/CD pipelines, builds, jobs and logs (REST API v2).",
    tools=TOOLS,
    credentials=(
        CredentialField(
            "access_token",
            "API access token (Personal Settings → API Access Tokens).",
            secret=True,
            required=True,
            env="BUILDKITE_API_TOKEN",
            role="token",
        ),
        CredentialField("url", "API base URL.", default=DEFAULT_URL, role="base_url"),
    ),
    overview=_overview(),
    error_label="Buildkite API",
    # Bearer auth and the RateLimit-* headers with 429 are the host's defaults already.
    pagination=Pagination(default_per_page=30, max_per_page=100),
    query_arrays="brackets",
    status_notes={
        401: "the token is missing, wrong or expired.",
        403: "the token lacks a scope, or the user lacks access.",
        404: "nothing at that path, or the token cannot see it.",
    },
    emulator=_emulator,
    records=RECORDS,
    featured=(
        "list_builds",
        "get_build",
        "get_build_failures",
        "get_job_log",
        "search_job_log",
        "wait_for_build",
    ),
)
