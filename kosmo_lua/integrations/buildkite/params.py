"""Parameters and path prefixes that several Buildkite tool modules share."""

from __future__ import annotations

from ...tools import Mistake, Param

# Path prefixes, as the API reference abbreviates them.
ORG = "/organizations/{organization}"
PIPE = ORG + "/pipelines/{pipeline}"
BUILD = PIPE + "/builds/{number}"
JOB = BUILD + "/jobs/{job_id}"

ORGANIZATION = Param(
    "organization",
    "string",
    "Organization slug, as in buildkite.com/<organization>.",
    required=True,
    location="path",
    example="acme-inc",
)
PIPELINE = Param(
    "pipeline",
    "string",
    "Pipeline slug, as in buildkite.com/<organization>/<pipeline>.",
    required=True,
    location="path",
    example="web",
)
NUMBER = Param(
    "number",
    "integer",
    "Build number (the number in the build's URL, not its UUID).",
    required=True,
    location="path",
    minimum=1,
    example=42,
    mistakes=(
        Mistake(
            r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
            "{value} is a build UUID: use the build number (the number in the build's URL)",
        ),
    ),
)
JOB_ID = Param(
    "job_id",
    "string",
    "Job UUID, from the build's `jobs` list.",
    required=True,
    location="path",
    example="01890000-aaaa-4bbb-8ccc-000000000001",
)

# Every state a job can be in, as the API names them (the jobs filter and its emulator).
JOB_STATES = (
    "pending",
    "waiting",
    "waiting_failed",
    "blocked",
    "blocked_failed",
    "unblocked",
    "unblocked_failed",
    "scheduled",
    "assigned",
    "accepted",
    "running",
    "passed",
    "failed",
    "timed_out",
    "timing_out",
    "canceled",
    "canceling",
    "skipped",
    "broken",
    "expired",
    "limited",
)
