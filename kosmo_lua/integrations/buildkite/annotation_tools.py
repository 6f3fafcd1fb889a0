"""Buildkite's annotations: the Markdown notes a build (or one of its jobs) carries."""

from __future__ import annotations

from ...tools import Param, Tool
from .params import BUILD, NUMBER, ORGANIZATION, PIPELINE

STYLES = ("success", "info", "warning", "error")

JOB_OF_ANNOTATION = Param(
    "job_id",
    "string",
    "Job UUID: the job's own annotations (`scope = job`); without it, the build's.",
    location="path",
    example="01890000-aaaa-4bbb-8ccc-000000000001",
)
ON_JOB = BUILD + "/jobs/{job_id}/annotations"
ON_BUILD = BUILD + "/annotations"

# The failed api build on main, which the demo annotates.
_FAILED_MAIN = (
    "local bk = app.integrations.buildkite\n"
    'local b = bk.list_builds{organization = "acme-inc", pipeline = "api",\n'
    '  branch = "main", per_page = 1}[1]\n'
)

ANNOTATION_TOOLS = (
    Tool(
        "list_annotations",
        "List the annotations of a build, or of one of its jobs.",
        "read",
        "GET",
        (ON_JOB, ON_BUILD),
        params=(
            ORGANIZATION,
            PIPELINE,
            NUMBER,
            JOB_OF_ANNOTATION,
            Param(
                "scope",
                "string",
                "Which of the build's annotations: `build` (the API's default), `job` (those"
                " of its jobs) or `all`.",
                location="query",
                enum=("build", "job", "all"),
            ),
            Param(
                "omit_body",
                "boolean",
                "Leave `body_html` out: the annotations' metadata only.",
                location="query",
            ),
        ),
        paginated=True,
        result="Annotation[]",
        returns="`body_html` is rendered HTML: the API returns no Markdown `body`.",
        example=_FAILED_MAIN
        + 'for _, note in ipairs(bk.list_annotations{organization = "acme-inc",\n'
        '    pipeline = "api", number = b.number, scope = "all"}) do\n'
        "  print(note.style, note.context, note.body_html)\n"
        "end",
    ),
    Tool(
        "create_annotation",
        "Annotate a build (or one of its jobs) with Markdown or HTML.",
        "write",
        "POST",
        (ON_JOB, ON_BUILD),
        params=(
            ORGANIZATION,
            PIPELINE,
            NUMBER,
            JOB_OF_ANNOTATION,
            Param(
                "body",
                "string",
                "The annotation, as Markdown or HTML.",
                required=True,
                location="body",
                example="**2 tests failed** in `test_refunds.py`",
            ),
            Param(
                "style",
                "string",
                "How it is shown (the API's default: info).",
                location="body",
                enum=STYLES,
            ),
            Param(
                "priority",
                "integer",
                "1 to 10; higher is shown first (the API's default: 3).",
                location="body",
                minimum=1,
                maximum=10,
            ),
            Param(
                "context",
                "string",
                "Names the annotation: one per context and build (or job); a new body with"
                " the same context replaces it (the API's default context: `default`).",
                location="body",
            ),
            Param(
                "append",
                "boolean",
                "Add the body to the annotation of the same context instead of replacing it.",
                location="body",
            ),
        ),
        result="Annotation",
        returns="The annotation (201), with `body_html`.",
        example=_FAILED_MAIN
        + 'local note = bk.create_annotation{organization = "acme-inc", pipeline = "api",\n'
        '  number = b.number, body = "Refund rounding is broken: see #209",\n'
        '  style = "error", context = "triage", priority = 8}\n'
        "print(note.id, note.body_html)",
        notes="Never sent twice: a failed create is not repeated. With `append = true` and"
        " no annotation of that context yet, the API creates one.",
    ),
    Tool(
        "delete_annotation",
        "Delete an annotation of a build (or of one of its jobs).",
        "write",
        "DELETE",
        (ON_JOB + "/{annotation_id}", ON_BUILD + "/{annotation_id}"),
        params=(
            ORGANIZATION,
            PIPELINE,
            NUMBER,
            Param(
                "annotation_id",
                "string",
                "Annotation UUID, from list_annotations.",
                required=True,
                location="path",
                example="de0d4ab5-6360-467a-a34b-e5ef5db5320d",
            ),
            JOB_OF_ANNOTATION,
        ),
        result="{}",
        returns="`{}` (the API answers 204).",
        example=_FAILED_MAIN + 'local notes = bk.list_annotations("acme-inc", "api", b.number)\n'
        'bk.delete_annotation("acme-inc", "api", b.number, notes[1].id)',
    ),
)
