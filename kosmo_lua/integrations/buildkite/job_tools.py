"""Buildkite's jobs: list a build's jobs (cursor pages), get one, retry, unblock and
reprioritize it. Logs and environments are in tools.py."""

from __future__ import annotations

from ...tools import Param, Tool
from . import handlers
from .params import BUILD, JOB, JOB_ID, JOB_STATES, NUMBER, ORGANIZATION, PIPELINE

MAX_JOBS_PER_PAGE = 100

# The failed demo build of the api pipeline: the examples below find it so.
_FAILED_API_BUILD = (
    "local bk = app.integrations.buildkite\n"
    'local b = bk.list_builds{organization = "acme-inc", pipeline = "api",\n'
    '  state = "failed", per_page = 1}[1]\n'
)

JOB_TOOLS = (
    Tool(
        "list_jobs",
        "List a build's jobs, with filters, a page at a time.",
        "read",
        "GET",
        (BUILD + "/jobs",),
        params=(
            ORGANIZATION,
            PIPELINE,
            NUMBER,
            Param(
                "state",
                "string|array",
                "Only jobs in this state or any of these states (sent as `state[]`)."
                " `passed` and `failed` go by exit status.",
                location="query",
                enum=JOB_STATES,
            ),
            Param(
                "include_retried_jobs",
                "boolean",
                "Include retried attempts (the API's default: true); false keeps the latest"
                " attempt of each step.",
                location="query",
            ),
            Param(
                "step_key",
                "string",
                "Only the jobs of the step with this key (parallel jobs included).",
                location="query",
            ),
            Param(
                "group_key",
                "string",
                "Only the jobs of the group step with this key.",
                location="query",
            ),
            Param(
                "per_page",
                "integer",
                f"Jobs per page (default 30, at most {MAX_JOBS_PER_PAGE}).",
                location="query",
                minimum=1,
                maximum=MAX_JOBS_PER_PAGE,
            ),
            Param(
                "after",
                "string",
                "Cursor: the page after this one (the `after` of `links.next`). Not with `before`.",
                location="query",
            ),
            Param(
                "before",
                "string",
                "Cursor: the page before this one. Not with `after`.",
                location="query",
            ),
            Param(
                "all_pages",
                "boolean",
                "Follow `links.next` and return every job in one `items` (at most 100"
                " pages, or max_pages).",
                location="option",
                keyword_only=True,
            ),
            Param(
                "max_pages",
                "integer",
                "Follow `links.next` for at most this many pages.",
                location="option",
                minimum=1,
                keyword_only=True,
            ),
        ),
        handler=handlers.list_jobs,
        result="JobPage",
        returns=(
            "One page of jobs, oldest first, and the URL of the next page (absent on the "
            "last). With `all_pages` or `max_pages`, `items` holds every page's jobs and "
            "`links` is the last page's."
        ),
        example=_FAILED_API_BUILD
        + 'local page = bk.list_jobs{organization = "acme-inc", pipeline = "api",\n'
        '  number = b.number, state = {"failed", "timed_out"}, include_retried_jobs = false}\n'
        "for _, job in ipairs(page.items) do print(job.name, job.exit_status) end",
        notes="The API pages this list by cursor, not by page number, so it takes `after` or"
        " `before` (never both) instead of `page`; asking for both is refused before any"
        " request.",
    ),
    Tool(
        "get_job",
        "Get one job of a build.",
        "read",
        "GET",
        (JOB,),
        params=(ORGANIZATION, PIPELINE, NUMBER, JOB_ID),
        result="Job",
        returns="The job (`type`: `script`, `manual` for a block step, `waiter` or `trigger`).",
        example=_FAILED_API_BUILD
        + 'local job = bk.get_job("acme-inc", "api", b.number, b.jobs[#b.jobs].id)\n'
        "print(job.state, job.exit_status)",
    ),
    Tool(
        "retry_job",
        "Retry a failed, timed-out or canceled job.",
        "write",
        "PUT",
        (JOB + "/retry",),
        params=(ORGANIZATION, PIPELINE, NUMBER, JOB_ID),
        result="Job",
        returns="The **new** job (the old one gets `retried = true` and `retried_in_job_id`).",
        example=_FAILED_API_BUILD + "for _, job in ipairs(b.jobs) do\n"
        '  if job.state == "failed" and not job.retried then\n'
        '    local again = bk.retry_job("acme-inc", "api", b.number, job.id)\n'
        "    print(again.id, again.state)\n"
        "  end\n"
        "end",
        notes="A job id is retried once: to retry again, retry the new job. The API answers"
        " 400 for a job that is not failed, timed out or canceled, and 422 for a job of a"
        " canceled build.",
    ),
    Tool(
        "unblock_job",
        'Unblock a block step ("Block pipeline" job), so the build goes on.',
        "write",
        "PUT",
        (JOB + "/unblock",),
        params=(
            ORGANIZATION,
            PIPELINE,
            NUMBER,
            JOB_ID,
            Param(
                "fields",
                "object",
                "Values of the block step's fields, by field key.",
                location="body",
                example={"release-name": "2026.03.16"},
            ),
            Param(
                "unblocker",
                "string",
                "User id of the person unblocking (default: the token's user).",
                location="body",
            ),
        ),
        result="Job",
        returns="The job, `unblocked`, with `unblocked_by` and `unblocked_at`.",
        example="local bk = app.integrations.buildkite\n"
        'local b = bk.create_build{organization = "acme-inc", pipeline = "release",\n'
        '  branch = "main", message = "Release 2026.03.16"}\n'
        'local gate = bk.get_build("acme-inc", "release", b.number).jobs[1]\n'
        "print(gate.type, gate.state)  -- manual  blocked\n"
        'local job = bk.unblock_job{organization = "acme-inc", pipeline = "release",\n'
        '  number = b.number, job_id = gate.id, fields = {["release-name"] = "2026.03.16"}}\n'
        "print(job.state)",
        notes="Only a job with `unblockable = true` can be unblocked: the API answers 400"
        ' ("This job type cannot be unblocked") for others, and 422 for a canceled build or'
        " an unblocker who is not a user of the organization. The fields' values become the"
        " build's meta-data.",
    ),
    Tool(
        "reprioritize_job",
        "Change a job's priority: agents take higher priorities first.",
        "write",
        "PUT",
        (JOB + "/reprioritize",),
        params=(
            ORGANIZATION,
            PIPELINE,
            NUMBER,
            JOB_ID,
            Param(
                "priority",
                "integer",
                "The new priority; higher runs first (0 is the default).",
                required=True,
                location="body",
                example=5,
            ),
        ),
        result="Job",
        returns="The job, with `priority = {number = N}`.",
        example="local bk = app.integrations.buildkite\n"
        'local b = bk.create_build{organization = "acme-inc", pipeline = "web",\n'
        '  branch = "main", message = "Hotfix"}\n'
        'local job = bk.reprioritize_job{organization = "acme-inc", pipeline = "web",\n'
        "  number = b.number, job_id = b.jobs[1].id, priority = 5}\n"
        "print(job.priority.number)",
    ),
)
