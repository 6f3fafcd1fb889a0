"""The shapes Buildkite functions return: the main fields of each, from the REST API v2
reference, shared by every tool that returns one (``Tool.result``). Strings unless typed;
``?`` marks what the API may send as null (absent in Lua) or leave out."""

from __future__ import annotations

from ...tools import Field, Record, record_table

STAMP = "ISO 8601 time."

USER = Record(
    "User",
    "A Buildkite user.",
    (
        Field("id", "string", "UUID."),
        Field("name", "string", "Full name."),
        Field("email", "string", "Email address."),
        Field("created_at", "string", STAMP),
    ),
)
ACCESS_TOKEN = Record(
    "AccessToken",
    "The API access token in use.",
    (
        Field("uuid", "string", "UUID of the token."),
        Field("scopes", "string[]", "Scopes it grants: read_builds, write_builds, …"),
    ),
)
ORGANIZATION = Record(
    "Organization",
    "An organization.",
    (
        Field("id", "string", "UUID."),
        Field("slug", "string", "What functions take as `organization`."),
        Field("name", "string", "Display name."),
        Field("web_url", "string", "Its page on buildkite.com."),
        Field("created_at", "string", STAMP),
    ),
)
PIPELINE = Record(
    "Pipeline",
    "A pipeline: its repository, steps and settings.",
    (
        Field("id", "string", "UUID."),
        Field("slug", "string", "What functions take as `pipeline`."),
        Field("name", "string", "Display name."),
        Field("repository", "string", "Repository URL."),
        Field("default_branch", "string?", "Branch built by default."),
        Field("description", "string?", "Description."),
        Field("cluster_id", "string?", "Cluster it runs in."),
        Field("visibility", "string", "`public` or `private`."),
        Field("web_url", "string", "Its page on buildkite.com."),
        Field("created_at", "string", STAMP),
        Field("archived_at", "string?", "When it was archived; absent if it is not."),
    ),
)
JOB = Record(
    "Job",
    "A job of a build: a command step (`script`), a block step (`manual`), a `waiter` or a"
    " `trigger`.",
    (
        Field("id", "string", "UUID: what functions take as `job_id`."),
        Field("type", "string", "`script`, `manual`, `waiter` or `trigger`."),
        Field("state", "string", "passed, failed, running, scheduled, blocked, …"),
        Field("name", "string?", "Label of a script job (a manual job has `label`)."),
        Field("step_key", "string?", "The step's `key`."),
        Field("exit_status", "integer?", "Exit status of its command, once finished."),
        Field("soft_failed", "boolean?", "Failed, but allowed to."),
        Field("retried", "boolean?", "A newer attempt replaced it (`retried_in_job_id`)."),
        Field("web_url", "string?", "Its place on the build's page."),
        Field("started_at", "string?", STAMP),
        Field("finished_at", "string?", STAMP),
    ),
)
BUILD = Record(
    "Build",
    "A build of a pipeline, with its jobs.",
    (
        Field("id", "string", "UUID (functions take the `number`)."),
        Field("number", "integer", "Number within its pipeline: what functions take."),
        Field("state", "string", "scheduled, running, passed, failed, blocked, canceled, …"),
        Field("blocked", "boolean", "Waiting at a block step."),
        Field("branch", "string", "Branch built."),
        Field("commit", "string", "Commit SHA (or HEAD before it is resolved)."),
        Field("message", "string?", "Message of the build."),
        Field("source", "string", "What created it: ui, api, webhook, schedule, …"),
        Field("web_url", "string", "Its page on buildkite.com."),
        Field("creator", "User?", "Who created it."),
        Field("env", "table<string, string>", "Environment variables given to it."),
        Field("meta_data", "table<string, string>", "Its meta-data."),
        Field("created_at", "string", STAMP),
        Field("started_at", "string?", STAMP),
        Field("finished_at", "string?", STAMP),
        Field("jobs", "Job[]?", "Its jobs (absent with `exclude_jobs`)."),
        Field("pipeline", "Pipeline?", "Its pipeline (absent with `exclude_pipeline`)."),
        Field("rebuilt_from", "{id: string, number: integer}?", "The build it rebuilds."),
        Field("retried_jobs_count", "integer?", "retry_failed_jobs only: jobs it retried."),
    ),
)
JOB_LOG = Record(
    "JobLog",
    "A job's log as the API returns it.",
    (
        Field("content", "string", "The log text."),
        Field("size", "integer", "Its size in bytes."),
        Field("url", "string", "The API URL of the log."),
        Field("header_times", "integer[]", "Times of its section headers (ns)."),
    ),
)
LOG_MATCH = Record(
    "LogMatch",
    "A log line that matched, with the lines around it.",
    (
        Field("line", "integer", "Line number, from 1."),
        Field("text", "string", "The line."),
        Field("before", "string[]", "Context lines before it."),
        Field("after", "string[]", "Context lines after it."),
    ),
)
FAILED_JOB = Record(
    "FailedJob",
    "A failed job with the end of its log and its first error line.",
    (
        Field("id", "string", "Job UUID."),
        Field("name", "string?", "Label."),
        Field("state", "string", "failed, timed_out, expired or broken."),
        Field("exit_status", "integer?", "Exit status."),
        Field("soft_failed", "boolean", "Failed, but allowed to."),
        Field("web_url", "string?", "Its place on the build's page."),
        Field("log_tail", "string", "The last `log_lines` lines, without colour codes."),
        Field("first_error", "{line: integer, text: string}?", "First line that matches."),
    ),
)
FAILURES = Record(
    "BuildFailures",
    "What failed in a build.",
    (
        Field(
            "build",
            "{number: integer, state: string, branch: string, commit: string,"
            " message: string?, web_url: string}",
            "The build, in brief.",
        ),
        Field("failed_jobs", "FailedJob[]", "Failed jobs not retried since."),
        Field(
            "annotations",
            "{style: string, context: string, text: string}[]",
            "Error and warning annotations, as plain text.",
        ),
    ),
)
JOB_PAGE = Record(
    "JobPage",
    "One page of a build's jobs, by cursor.",
    (
        Field("items", "Job[]", "The jobs, oldest first."),
        Field("links", "{self?: string, next?: string}", "Cursor URLs; no `next` on the last."),
    ),
)
ANNOTATION = Record(
    "Annotation",
    "A note a step attached to a build.",
    (
        Field("id", "string", "UUID: what functions take as `annotation_id`."),
        Field("context", "string", "Its key: one annotation per context."),
        Field("style", "string", "success, info, warning or error."),
        Field("scope", "string?", "`build` or `job`."),
        Field("job_id", "string?", "The job it belongs to, if any."),
        Field("body_html", "string?", "Rendered HTML (absent with `omit_body`)."),
        Field("created_at", "string", STAMP),
    ),
)
ARTIFACT = Record(
    "Artifact",
    "A file a job uploaded.",
    (
        Field("id", "string", "UUID: what functions take as `artifact_id`."),
        Field("job_id", "string", "The job that uploaded it."),
        Field("state", "string", "new, error, finished, deleted, expired."),
        Field("path", "string", "Path it was uploaded from."),
        Field("filename", "string", "Its file name."),
        Field("mime_type", "string", "MIME type."),
        Field("file_size", "integer", "Size in bytes."),
        Field("sha1sum", "string", "SHA-1 of its content."),
    ),
)
ARTIFACT_FILE = Record(
    "ArtifactFile",
    "An artifact's content: `text` when it is UTF-8, else `base64`.",
    (
        Field("filename", "string", "Its file name."),
        Field("mime_type", "string", "MIME type."),
        Field("bytes", "integer", "Bytes read."),
        Field("text", "string?", "The content, when UTF-8 text."),
        Field("base64", "string?", "The content, base64, otherwise."),
    ),
)
AGENT = Record(
    "Agent",
    "A connected (or lately connected) agent.",
    (
        Field("id", "string", "UUID: what functions take as `agent_id`."),
        Field("name", "string", "Name."),
        Field("connection_state", "string", "connected, disconnected, stopped, lost, …"),
        Field("hostname", "string?", "Host it runs on."),
        Field("version", "string?", "Agent version."),
        Field("meta_data", "string[]", "Tags as `key=value`."),
        Field("job", "Job?", "The job it runs, if any."),
        Field("paused", "boolean?", "Paused: takes no jobs."),
        Field("created_at", "string", STAMP),
    ),
)
CLUSTER = Record(
    "Cluster",
    "A cluster of queues and agents.",
    (
        Field("id", "string", "UUID: what functions take as `cluster_id`."),
        Field("name", "string", "Name."),
        Field("description", "string?", "Description."),
        Field("default_queue_id", "string?", "Its default queue."),
        Field("created_at", "string", STAMP),
    ),
)
QUEUE = Record(
    "Queue",
    "A cluster's queue.",
    (
        Field("id", "string", "UUID: what functions take as `queue_id`."),
        Field("key", "string", "What steps target as `queue`."),
        Field("description", "string?", "Description."),
        Field("dispatch_paused", "boolean", "No jobs are dispatched."),
        Field("created_at", "string", STAMP),
    ),
)
SUITE = Record(
    "TestSuite",
    "A Test Engine suite.",
    (
        Field("id", "string", "UUID."),
        Field("slug", "string", "What functions take as `suite`."),
        Field("name", "string", "Name."),
        Field("default_branch", "string?", "Default branch."),
        Field("web_url", "string", "Its page on buildkite.com."),
    ),
)
TEST_RUN = Record(
    "TestRun",
    "A Test Engine run: one build's tests in a suite.",
    (
        Field("id", "string", "UUID: what functions take as `run_id`."),
        Field("state", "string", "pending, processing, finished, …"),
        Field("result", "string?", "passed, failed, …"),
        Field("branch", "string?", "Branch tested."),
        Field("commit_sha", "string?", "Commit tested."),
        Field("build_id", "string?", "UUID of the build."),
        Field("created_at", "string", STAMP),
    ),
)
FAILED_EXECUTION = Record(
    "FailedExecution",
    "One failed test in a run.",
    (
        Field("test_name", "string", "Test name."),
        Field("location", "string?", "File and line."),
        Field("failure_reason", "string?", "Why it failed."),
        Field("duration", "number?", "Seconds it ran."),
        Field("test_url", "string", "The test's page."),
        Field(
            "failure_expanded",
            "{backtrace: string[], expanded: string[]}[]?",
            "Details (with `include_failure_expanded`).",
        ),
    ),
)

RECORDS = record_table(
    USER,
    ACCESS_TOKEN,
    ORGANIZATION,
    PIPELINE,
    BUILD,
    JOB,
    JOB_PAGE,
    JOB_LOG,
    LOG_MATCH,
    FAILURES,
    FAILED_JOB,
    ANNOTATION,
    ARTIFACT,
    ARTIFACT_FILE,
    AGENT,
    CLUSTER,
    QUEUE,
    SUITE,
    TEST_RUN,
    FAILED_EXECUTION,
)
