"""Pipeline functions beyond tools.py's: deleting one, for good."""

from __future__ import annotations

from ...tools import Tool
from .params import ORGANIZATION, PIPE, PIPELINE

PIPELINE_TOOLS = (
    Tool(
        "delete_pipeline",
        "Delete a pipeline and its builds, irreversibly (archive_pipeline is the reversible"
        " choice).",
        "write",
        "DELETE",
        (PIPE,),
        params=(ORGANIZATION, PIPELINE),
        result="{}",
        returns="`{}` (the API answers 204).",
        example="local bk = app.integrations.buildkite\n"
        'bk.create_pipeline{organization = "acme-inc", name = "Scratch",\n'
        '  repository = "git@github.com:acme-inc/scratch.git",\n'
        '  configuration = "steps:\\n  - command: make"}\n'
        'bk.delete_pipeline("acme-inc", "scratch")',
        notes="Cannot be undone: the pipeline, its builds, logs and artifacts are gone."
        " To retire a pipeline and keep its history, use archive_pipeline (undone by"
        " unarchive_pipeline).",
    ),
)
