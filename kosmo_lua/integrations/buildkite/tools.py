"""The Buildkite tool table: the single source of truth for every Buildkite function.

Methods, paths and fields follow Buildkite's REST API v2 documentation. Shared parameters
are declared once (``params.py``) and reused; ``payload`` and ``with_meta`` come from the
host (``kosmo_lua.tools.host_params``). Groups of functions beyond builds and logs (jobs,
annotations, artifacts, agents and clusters, Test Engine) live in modules of their own,
``*_tools.py``, and join the table below.
"""

from __future__ import annotations

from ...tools import Param, Tool
from . import builds, handlers, joblogs
from .agent_tools import AGENT_TOOLS, CLUSTER_TOOLS
from .analytics_tools import TEST_ENGINE_TOOLS
from .annotation_tools import ANNOTATION_TOOLS
from .artifact_tools import ARTIFACT_TOOLS
from .job_tools import JOB_TOOLS
from .params import BUILD, JOB, JOB_ID, NUMBER, ORG, ORGANIZATION, PIPE, PIPELINE
from .pipeline_tools import PIPELINE_TOOLS

PATH = Param(
    "path",
    "string",
    "API path relative to the account's base URL, e.g. /organizations/acme-inc/agents."
    " Absolute URLs and `..` are refused.",
    required=True,
    location="path",
    example="/organizations/acme-inc/pipelines",
)
QUERY = Param("query", "object", "Query string parameters, sent as given.", location="query")
STRIP_ANSI = Param(
    "strip_ansi",
    "boolean",
    "Remove ANSI colour codes and `bk;t=` timestamp markers from the log.",
    location="option",
)
MAX_LOG_LINES = 10_000  # the most lines tail, head and search return
MAX_LOG_CONTEXT = 100  # the most lines of context around a search match

BUILD_DETAIL = (
    Param(
        "include_retried_jobs",
        "boolean",
        "Include every retried job execution in `jobs`, not only the latest.",
        location="query",
    ),
    Param("exclude_jobs", "boolean", "Leave the jobs out of the build.", location="query"),
    Param("exclude_pipeline", "boolean", "Leave the pipeline out of the build.", location="query"),
)

PIPELINE_FIELDS = (
    Param(
        "configuration",
        "string",
        "The pipeline's YAML steps.",
        location="body",
        example="steps:\n  - command: make test",
    ),
    Param(
        "cluster_id",
        "string",
        "Cluster the pipeline runs in (required on cluster orgs).",
        location="body",
    ),
    Param(
        "branch_configuration",
        "string",
        "Branch filter: only build branches that match, e.g. `main release/*`.",
        location="body",
    ),
    Param("default_branch", "string", "Branch built by default.", location="body"),
    Param("description", "string", "Description of the pipeline.", location="body"),
    Param("env", "object", "Environment variables for every build.", location="body"),
    Param("tags", "array", "Tags of the pipeline.", location="body"),
    Param("teams", "array", "Team UUIDs that get access (create only).", location="body"),
    Param(
        "visibility",
        "string",
        "`public` or `private`.",
        location="body",
        enum=("public", "private"),
    ),
    Param(
        "provider_settings",
        "object",
        "Source provider settings (e.g. GitHub triggers).",
        location="body",
    ),
    Param(
        "skip_queued_branch_builds",
        "boolean",
        "Skip intermediate builds when new builds are created on the same branch.",
        location="body",
    ),
    Param(
        "cancel_running_branch_builds",
        "boolean",
        "Cancel running builds when new builds are created on the same branch.",
        location="body",
    ),
)

LIST_BUILDS_FILTERS = (
    Param(
        "branch",
        "string|array",
        "Only builds of this branch (or any of a list); wildcards like `*dev*` work.",
        location="query",
    ),
    Param("commit", "string", "Only builds of this full commit SHA.", location="query"),
    Param(
        "state",
        "string|array",
        "Only builds in this state or states: creating, scheduled, running, passed, failing,"
        " failed, blocked, canceling, canceled, skipped, not_run, or `finished`.",
        location="query",
    ),
    Param(
        "created_from",
        "string",
        "Only builds created at or after this ISO 8601 time.",
        location="query",
    ),
    Param(
        "created_to", "string", "Only builds created before this ISO 8601 time.", location="query"
    ),
    Param(
        "finished_from",
        "string",
        "Only builds finished at or after this ISO 8601 time.",
        location="query",
    ),
    Param("creator", "string", "Only builds created by this user ID.", location="query"),
    Param(
        "meta_data", "object", "Only builds with these meta-data key/value pairs.", location="query"
    ),
    *BUILD_DETAIL,
)

TOOLS = (
    Tool(
        "get_current_user",
        "Get the user who owns the access token.",
        "read",
        "GET",
        ("/user",),
        result="User",
        returns="The user the token belongs to.",
        example="local me = app.integrations.buildkite.get_current_user()\nprint(me.name)",
        notes="Needs the read_user scope; get_access_token needs none.",
    ),
    Tool(
        "get_access_token",
        "Get the access token's UUID and scopes.",
        "read",
        "GET",
        ("/access-token",),
        result="AccessToken",
        returns="The token itself: the scopes it grants.",
        example="local token = app.integrations.buildkite.get_access_token()\n"
        "print(table.concat(token.scopes, ', '))",
    ),
    Tool(
        "list_organizations",
        "List the organizations the token can access.",
        "read",
        "GET",
        ("/organizations",),
        paginated=True,
        result="Organization[]",
        returns="A list of organizations.",
        example="for _, org in ipairs(app.integrations.buildkite.list_organizations()) do\n"
        "  print(org.slug)\nend",
    ),
    Tool(
        "get_organization",
        "Get one organization.",
        "read",
        "GET",
        (ORG,),
        params=(ORGANIZATION,),
        result="Organization",
        returns="The organization.",
        example='local org = app.integrations.buildkite.get_organization("acme-inc")',
    ),
    Tool(
        "list_pipelines",
        "List an organization's pipelines.",
        "read",
        "GET",
        (ORG + "/pipelines",),
        params=(
            ORGANIZATION,
            Param(
                "name",
                "string",
                "Only pipelines whose name contains this (any case).",
                location="query",
            ),
            Param(
                "repository",
                "string",
                "Only pipelines whose repository URL contains this (any case).",
                location="query",
            ),
        ),
        paginated=True,
        result="Pipeline[]",
        returns="A list of pipelines.",
        example="local pipelines = app.integrations.buildkite.list_pipelines{\n"
        '  organization = "acme-inc", all_pages = true}\nprint(#pipelines)',
    ),
    Tool(
        "get_pipeline",
        "Get one pipeline.",
        "read",
        "GET",
        (PIPE,),
        params=(ORGANIZATION, PIPELINE),
        result="Pipeline",
        returns="The pipeline.",
        example='local p = app.integrations.buildkite.get_pipeline("acme-inc", "web")\n'
        "print(p.default_branch)",
    ),
    Tool(
        "create_pipeline",
        "Create a pipeline from YAML steps.",
        "write",
        "POST",
        (ORG + "/pipelines",),
        params=(
            ORGANIZATION,
            Param(
                "name",
                "string",
                "Name of the pipeline.",
                required=True,
                location="body",
                example="Web",
            ),
            Param(
                "repository",
                "string",
                "Repository URL.",
                required=True,
                location="body",
                example="git@github.com:acme-inc/web.git",
            ),
            *PIPELINE_FIELDS,
        ),
        result="Pipeline",
        returns="The new pipeline (201).",
        example="local p = app.integrations.buildkite.create_pipeline{\n"
        '  organization = "acme-inc", name = "Docs",\n'
        '  repository = "git@github.com:acme-inc/docs.git",\n'
        '  configuration = "steps:\\n  - command: make docs"}',
    ),
    Tool(
        "update_pipeline",
        "Change a pipeline's settings.",
        "write",
        "PATCH",
        (PIPE,),
        params=(
            ORGANIZATION,
            PIPELINE,
            Param("name", "string", "New name of the pipeline.", location="body"),
            Param("repository", "string", "New repository URL.", location="body"),
            *(p for p in PIPELINE_FIELDS if p.name != "teams"),
        ),
        result="Pipeline",
        returns="The updated pipeline.",
        example="app.integrations.buildkite.update_pipeline{\n"
        '  organization = "acme-inc", pipeline = "web", description = "The website"}',
    ),
    Tool(
        "archive_pipeline",
        "Archive a pipeline: read-only, kept, restorable.",
        "write",
        "POST",
        (PIPE + "/archive",),
        params=(ORGANIZATION, PIPELINE),
        result="Pipeline",
        returns="The pipeline with `archived_at` set.",
        example='app.integrations.buildkite.archive_pipeline("acme-inc", "legacy")',
        notes="Sends POST …/archive. The original product sent DELETE, which deletes the"
        " pipeline; this never does.",
    ),
    Tool(
        "unarchive_pipeline",
        "Restore an archived pipeline.",
        "write",
        "POST",
        (PIPE + "/unarchive",),
        params=(ORGANIZATION, PIPELINE),
        result="Pipeline",
        returns="The pipeline.",
        example='app.integrations.buildkite.unarchive_pipeline("acme-inc", "legacy")',
    ),
    *PIPELINE_TOOLS,
    Tool(
        "list_builds",
        "List builds of a pipeline, an organization, or everything visible.",
        "read",
        "GET",
        (PIPE + "/builds", ORG + "/builds", "/builds"),
        aliases=("list",),
        params=(
            Param(
                "organization",
                "string",
                "Organization slug; without it, builds of every organization.",
                location="path",
                example="acme-inc",
            ),
            Param(
                "pipeline",
                "string",
                "Pipeline slug; without it, builds of the whole organization.",
                location="path",
                example="web",
            ),
            *LIST_BUILDS_FILTERS,
        ),
        paginated=True,
        result="Build[]",
        returns="A list of builds, newest first.",
        example="local builds = app.integrations.buildkite.list_builds{\n"
        '  organization = "acme-inc", pipeline = "web", branch = "main", state = "failed"}\n'
        "for _, b in ipairs(builds) do print(b.number, b.message) end",
    ),
    Tool(
        "get_build",
        "Get one build with its jobs.",
        "read",
        "GET",
        (BUILD,),
        aliases=("get",),
        params=(
            ORGANIZATION,
            PIPELINE,
            NUMBER,
            *BUILD_DETAIL,
            Param("job_states", "string|array", "Only jobs in these states.", location="query"),
        ),
        result="Build",
        returns="The build, with `jobs`.",
        example="local bk = app.integrations.buildkite\n"
        'local latest = bk.list_builds{organization = "acme-inc", pipeline = "web",\n'
        "  per_page = 1}[1]\n"
        'local b = bk.get_build("acme-inc", "web", latest.number)\n'
        "print(b.state, #b.jobs)",
    ),
    Tool(
        "create_build",
        "Trigger a new build.",
        "write",
        "POST",
        (PIPE + "/builds",),
        aliases=("create",),
        params=(
            ORGANIZATION,
            PIPELINE,
            Param(
                "commit",
                "string",
                "Ref, SHA or tag to build.",
                location="body",
                default="HEAD",
                example="HEAD",
            ),
            Param(
                "branch",
                "string",
                "Branch the commit belongs to.",
                required=True,
                location="body",
                example="main",
            ),
            Param(
                "message",
                "string",
                "Message of the build.",
                location="body",
                example="Deploy from kosmo",
            ),
            Param("author", "object", "`{name, email}` of the author.", location="body"),
            Param(
                "env",
                "object",
                "Environment variables for the build.",
                location="body",
                example={"DEPLOY_ENV": "staging"},
            ),
            Param("meta_data", "object", "Meta-data for the build.", location="body"),
            Param("clean_checkout", "boolean", "Force a fresh checkout.", location="body"),
            Param(
                "ignore_pipeline_branch_filters",
                "boolean",
                "Build even if the pipeline's branch filter excludes the branch.",
                location="body",
            ),
            Param(
                "pull_request_base_branch",
                "string",
                "Base branch of a pull request build.",
                location="body",
            ),
            Param("pull_request_id", "integer", "Pull request number.", location="body"),
            Param(
                "pull_request_repository",
                "string",
                "Repository of the pull request.",
                location="body",
            ),
        ),
        result="Build",
        returns="The new build (201), `scheduled`, with its `web_url`.",
        example="local b = app.integrations.buildkite.create_build{\n"
        '  organization = "acme-inc", pipeline = "deploy", branch = "main",\n'
        '  message = "Deploy", env = {DEPLOY_ENV = "staging"}}\nprint(b.web_url)',
        notes="Never sent twice: a failed create is not repeated, so no duplicate builds.",
    ),
    Tool(
        "cancel_build",
        "Cancel a scheduled, running or failing build.",
        "write",
        "PUT",
        (BUILD + "/cancel",),
        aliases=("cancel",),
        params=(ORGANIZATION, PIPELINE, NUMBER),
        result="Build",
        returns="The build, `canceling` or `canceled`.",
        example="local bk = app.integrations.buildkite\n"
        'local b = bk.create_build{organization = "acme-inc", pipeline = "web", branch = "main"}\n'
        'print(bk.cancel_build("acme-inc", "web", b.number).state)',
    ),
    Tool(
        "rebuild_build",
        "Start a new build with the same commit and settings.",
        "write",
        "PUT",
        (BUILD + "/rebuild",),
        aliases=("rebuild",),
        params=(ORGANIZATION, PIPELINE, NUMBER),
        result="Build",
        returns="The **new** build, with `rebuilt_from`.",
        example="local bk = app.integrations.buildkite\n"
        'local latest = bk.list_builds{organization = "acme-inc", pipeline = "web",\n'
        "  per_page = 1}[1]\n"
        'local nb = bk.rebuild_build("acme-inc", "web", latest.number)\n'
        "print(nb.number, nb.rebuilt_from.number)",
    ),
    Tool(
        "retry_failed_jobs",
        "Retry the failed jobs of a build.",
        "write",
        "PUT",
        (BUILD + "/retry_failed_jobs",),
        params=(
            ORGANIZATION,
            PIPELINE,
            NUMBER,
            Param(
                "states",
                "string",
                "Comma-separated job states to retry: canceled, expired, failed,"
                " soft_failed, timed_out.",
                location="body",
                default="failed,soft_failed",
            ),
        ),
        handler=handlers.retry_failed_jobs,
        result="Build",
        returns="The build plus `retried_jobs_count` (the API answers 202: retries start"
        " asynchronously).",
        example=(
            "local bk = app.integrations.buildkite\n"
            'local b = bk.list_builds{organization = "acme-inc", pipeline = "api",\n'
            '  state = "failed", per_page = 1}[1]\n'
            'print(bk.retry_failed_jobs("acme-inc", "api", b.number).retried_jobs_count)'
        ),
        notes="On deployments without this endpoint (404 or 405) it retries each failed job"
        " with PUT …/jobs/{id}/retry; a job is retried once only.",
    ),
    Tool(
        "get_job_log",
        "Get a job's log.",
        "read",
        "GET",
        (JOB + "/log",),
        params=(
            ORGANIZATION,
            PIPELINE,
            NUMBER,
            JOB_ID,
            Param(
                "format",
                "string",
                "`json` (the API's `{url, content, size, header_times}`) or `text` (the raw"
                " log as a string).",
                location="option",
                default="json",
                enum=("json", "text"),
            ),
            STRIP_ANSI,
            Param(
                "tail",
                "integer",
                "Only the last N lines, as text: asks for the end of the log alone (HTTP"
                " suffix ranges), so a log of any size costs about the lines returned.",
                location="option",
                minimum=1,
                maximum=MAX_LOG_LINES,
                keyword_only=True,
            ),
            Param(
                "head",
                "integer",
                "Only the first N lines, as text: stops reading the log once they are there.",
                location="option",
                minimum=1,
                maximum=MAX_LOG_LINES,
                keyword_only=True,
            ),
        ),
        handler=joblogs.get_job_log,
        result="JobLog|string",
        returns='A string instead with format = "text", tail or head.',
        example=(
            "local bk = app.integrations.buildkite\n"
            'local b = bk.list_builds{organization = "acme-inc", pipeline = "api",\n'
            '  state = "failed", per_page = 1}[1]\n'
            "local job = b.jobs[#b.jobs]\n"
            'local last = bk.get_job_log{organization = "acme-inc", pipeline = "api",\n'
            "  number = b.number, job_id = job.id, tail = 5, strip_ansi = true}\n"
            "print(last)"
        ),
    ),
    Tool(
        "search_job_log",
        "Find the lines of a job's log that match a pattern, with lines around them.",
        "read",
        "GET",
        (JOB + "/log",),
        params=(
            ORGANIZATION,
            PIPELINE,
            NUMBER,
            JOB_ID,
            Param(
                "pattern",
                "string",
                "A pattern in the regex.* syntax, delimited: `/error|FAIL/`. It is matched"
                " against each line as stored, as grep would; `^` matches at a line's start and"
                " also after the timestamp marker and colour codes it starts with, `$` at its"
                " end.",
                required=True,
                location="option",
                example="/error|FAIL/",
            ),
            Param(
                "context",
                "integer",
                "Lines to return before and after each match.",
                location="option",
                default=0,
                minimum=0,
                maximum=MAX_LOG_CONTEXT,
            ),
            Param(
                "limit",
                "integer",
                "Stop after this many matching lines.",
                location="option",
                default=50,
                minimum=1,
                maximum=MAX_LOG_LINES,
            ),
            Param(
                "ignore_case",
                "boolean",
                "Match letters in either case.",
                location="option",
                default=False,
            ),
            Param(
                "strip_ansi",
                "boolean",
                "Return the lines without ANSI colour codes and `bk;t=` timestamp markers.",
                location="option",
                default=True,
            ),
        ),
        handler=joblogs.search_job_log,
        result="LogMatch[]",
        returns=(
            "The matching lines, first to last (numbered from 1), each with the context lines "
            "asked for. `with_meta` adds `lines_read` and `truncated` (the limit was reached "
            "before the end)."
        ),
        example=(
            "local bk = app.integrations.buildkite\n"
            'local b = bk.list_builds{organization = "acme-inc", pipeline = "api",\n'
            '  state = "failed", per_page = 1}[1]\n'
            "local job = b.jobs[#b.jobs]\n"
            'local hits = bk.search_job_log{organization = "acme-inc", pipeline = "api",\n'
            '  number = b.number, job_id = job.id, pattern = "/error|fail/", ignore_case = true,\n'
            "  context = 1}\n"
            "for _, hit in ipairs(hits) do print(hit.line, hit.text) end"
        ),
    ),
    Tool(
        "get_job_log_info",
        "Get the size of a job's log without downloading it.",
        "read",
        "HEAD",
        (JOB + "/log",),
        params=(ORGANIZATION, PIPELINE, NUMBER, JOB_ID),
        handler=joblogs.get_job_log_info,
        result="{bytes: integer}",
        returns="The log's size in bytes.",
        example=(
            "local bk = app.integrations.buildkite\n"
            'local b = bk.list_builds{organization = "acme-inc", pipeline = "api",\n'
            '  state = "failed", per_page = 1}[1]\n'
            'local info = bk.get_job_log_info("acme-inc", "api", b.number, b.jobs[1].id)\n'
            'print(info.bytes .. " bytes")'
        ),
    ),
    Tool(
        "wait_for_build",
        "Wait until a build finishes, then get it.",
        "read",
        "GET",
        (BUILD,),
        params=(
            ORGANIZATION,
            PIPELINE,
            NUMBER,
            Param(
                "timeout",
                "integer",
                "Seconds to wait at most; past them the call raises an error of kind"
                " `timeout` (its `state` is the build's last).",
                location="option",
                default=900,
                minimum=1,
                maximum=86400,
            ),
            Param(
                "interval",
                "integer",
                "Seconds between polls.",
                location="option",
                default=10,
                minimum=1,
                maximum=300,
            ),
        ),
        handler=builds.wait_for_build,
        result="Build",
        returns="The build, as get_build gives it, once its state is passed, failed,"
        " canceled, skipped, not_run or blocked (which waits for a person).",
        notes="Progress goes to stderr (one line per state change when stderr is not a"
        " terminal), never to the script's output. The run's --timeout still applies; in"
        " app.parallel branches the other branches run while it waits.",
        example=(
            "local bk = app.integrations.buildkite\n"
            'local build = bk.wait_for_build{organization = "acme-inc", pipeline = "deploy",\n'
            "  number = 42, timeout = 60, interval = 5}\n"
            "print(build.state)"
        ),
    ),
    Tool(
        "get_build_failures",
        "Get what failed in a build: its failed jobs with their log tails, first error"
        " lines and annotations.",
        "read",
        "GET",
        (BUILD,),
        params=(
            ORGANIZATION,
            PIPELINE,
            NUMBER,
            Param(
                "log_lines",
                "integer",
                "Lines of the end of each failed job's log.",
                location="option",
                default=30,
                minimum=1,
                maximum=MAX_LOG_LINES,
            ),
            Param(
                "error_pattern",
                "string",
                "What a failed job's first error line matches, in the regex.* syntax.",
                location="option",
                default="/error|fail/i",
            ),
        ),
        handler=builds.get_build_failures,
        result="BuildFailures",
        returns=(
            "Failed jobs are those failed, timed out, expired or broken and not retried "
            "since; soft-failed ones are included and say so. Logs are read concurrently, "
            "each in bounded memory."
        ),
        example=(
            "local bk = app.integrations.buildkite\n"
            'local f = bk.get_build_failures{organization = "acme-inc", pipeline = "deploy",\n'
            "  number = 42, log_lines = 5}\n"
            "for _, job in ipairs(f.failed_jobs) do\n"
            "  print(job.name, job.first_error and job.first_error.text)\n"
            "end"
        ),
    ),
    Tool(
        "get_job_environment",
        "Get a job's environment variables.",
        "read",
        "GET",
        (JOB + "/env",),
        params=(ORGANIZATION, PIPELINE, NUMBER, JOB_ID),
        result="{env: table<string, string>}",
        returns="The job's environment variables.",
        example=(
            "local bk = app.integrations.buildkite\n"
            'local b = bk.list_builds{organization = "acme-inc", pipeline = "api",\n'
            '  state = "failed", per_page = 1}[1]\n'
            "local job = b.jobs[#b.jobs]\n"
            'local env = bk.get_job_environment("acme-inc", "api", b.number, job.id).env\n'
            "print(env.BUILDKITE_BUILD_NUMBER)"
        ),
    ),
    *JOB_TOOLS,
    *ANNOTATION_TOOLS,
    *ARTIFACT_TOOLS,
    *AGENT_TOOLS,
    *CLUSTER_TOOLS,
    *TEST_ENGINE_TOOLS,
    Tool(
        "api_get",
        "GET any API path (raw helper).",
        "read",
        "GET",
        ("{path}",),
        params=(PATH, QUERY),
        result="any",
        returns="The decoded JSON of the reply.",
        example="local pipelines = app.integrations.buildkite.api_get(\n"
        '  "/organizations/acme-inc/pipelines", {per_page = 100})\nprint(#pipelines)',
    ),
    Tool(
        "api_post",
        "POST to any API path (raw helper).",
        "write",
        "POST",
        ("{path}",),
        params=(PATH,),
        result="any",
        returns="The decoded JSON of the reply.",
        example="local build = app.integrations.buildkite.api_post(\n"
        '  "/organizations/acme-inc/pipelines/web/builds",\n'
        '  {commit = "HEAD", branch = "main", message = "From api_post"})\nprint(build.number)',
    ),
    Tool(
        "api_put",
        "PUT to any API path (raw helper).",
        "write",
        "PUT",
        ("{path}",),
        params=(PATH,),
        result="any",
        returns="The decoded JSON of the reply.",
        example="local bk = app.integrations.buildkite\n"
        'local b = bk.list_builds{organization = "acme-inc", pipeline = "web", per_page = 1}[1]\n'
        'bk.api_put("/organizations/acme-inc/pipelines/web/builds/" .. b.number .. "/rebuild")',
    ),
    Tool(
        "api_patch",
        "PATCH any API path (raw helper).",
        "write",
        "PATCH",
        ("{path}",),
        params=(PATH,),
        result="any",
        returns="The decoded JSON of the reply.",
        example="app.integrations.buildkite.api_patch(\n"
        '  "/organizations/acme-inc/pipelines/web", {description = "Web"})',
    ),
    Tool(
        "api_delete",
        "DELETE any API path (raw helper).",
        "write",
        "DELETE",
        ("{path}",),
        params=(PATH, QUERY),
        result="any",
        returns="`{}` (most deletes answer 204).",
        example="app.integrations.buildkite.api_delete(\n"
        '  "/organizations/acme-inc/pipelines/legacy")',
    ),
)
