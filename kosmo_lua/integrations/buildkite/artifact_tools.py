"""Buildkite's artifacts: the files jobs upload; listing, reading and deleting them."""

from __future__ import annotations

from ...tools import Param, Tool
from . import artifacts
from .params import BUILD, JOB, JOB_ID, NUMBER, ORGANIZATION, PIPELINE

ARTIFACT_STATES = ("new", "error", "finished", "deleted", "expired")
ARTIFACT = JOB + "/artifacts/{artifact_id}"
ARTIFACT_ID = Param(
    "artifact_id",
    "string",
    "Artifact UUID, from list_artifacts.",
    required=True,
    location="path",
    example="76365070-34d5-4104-8b91-952780f8029f",
)

# The api pipeline's latest failed build; its integration tests upload a JUnit report.
_FIRST_ARTIFACT = (
    "local bk = app.integrations.buildkite\n"
    'local b = bk.list_builds{organization = "acme-inc", pipeline = "api",\n'
    '  state = "failed", per_page = 1}[1]\n'
    'local a = bk.list_artifacts("acme-inc", "api", b.number)[1]\n'
)

ARTIFACT_TOOLS = (
    Tool(
        "list_artifacts",
        "List the artifacts of a build, or of one of its jobs.",
        "read",
        "GET",
        (JOB + "/artifacts", BUILD + "/artifacts"),
        params=(
            ORGANIZATION,
            PIPELINE,
            NUMBER,
            Param(
                "job_id",
                "string",
                "Job UUID: that job's artifacts only; without it, every job's.",
                location="path",
                example="01890000-aaaa-4bbb-8ccc-000000000001",
            ),
            Param(
                "state",
                "string",
                "Only artifacts in this state.",
                location="query",
                enum=ARTIFACT_STATES,
            ),
            Param(
                "path",
                "string",
                "Only artifacts at this path; `*` is a wildcard (`logs/*`).",
                location="query",
                example="junit/*.xml",
            ),
        ),
        paginated=True,
        result="Artifact[]",
        returns="The build's (or the job's) artifacts.",
        example="local bk = app.integrations.buildkite\n"
        'local b = bk.list_builds{organization = "acme-inc", pipeline = "api",\n'
        '  state = "failed", per_page = 1}[1]\n'
        'for _, a in ipairs(bk.list_artifacts{organization = "acme-inc", pipeline = "api",\n'
        '    number = b.number, path = "junit/*"}) do\n'
        "  print(a.path, a.file_size)\n"
        "end",
        notes="`download_url` is an API address that needs the token and answers with a"
        " redirect: read an artifact with download_artifact, which follows it safely.",
    ),
    Tool(
        "get_artifact",
        "Get one artifact's record (not its content: see download_artifact).",
        "read",
        "GET",
        (ARTIFACT,),
        params=(ORGANIZATION, PIPELINE, NUMBER, JOB_ID, ARTIFACT_ID),
        result="Artifact",
        returns="The artifact's record.",
        example=_FIRST_ARTIFACT
        + 'local record = bk.get_artifact("acme-inc", "api", b.number, a.job_id, a.id)\n'
        "print(record.filename, record.mime_type, record.sha1sum)",
    ),
    Tool(
        "download_artifact",
        "Read an artifact's content, up to max_bytes.",
        "read",
        "GET",
        (ARTIFACT + "/download",),
        params=(
            ORGANIZATION,
            PIPELINE,
            NUMBER,
            JOB_ID,
            ARTIFACT_ID,
            Param(
                "max_bytes",
                "integer",
                "The most bytes to read: a larger artifact is refused, unread. Default and"
                " maximum: the run's --memory-limit.",
                location="option",
                minimum=1,
            ),
        ),
        handler=artifacts.download_artifact,
        result="ArtifactFile",
        returns="`text` for UTF-8 text, else `base64`; `bytes` counts the bytes read.",
        example=_FIRST_ARTIFACT
        + 'local file = bk.download_artifact{organization = "acme-inc", pipeline = "api",\n'
        "  number = b.number, job_id = a.job_id, artifact_id = a.id, max_bytes = 65536}\n"
        "print(file.filename, file.bytes)\n"
        "print(file.text or file.base64)",
        notes="The API answers with a redirect to a short-lived storage URL (S3 and the"
        " like, valid for about 60 s); the artifact is read from there by a request without"
        " the Buildkite token, which goes only to the account's base URL. The storage URL"
        " must be http(s), carry no credentials, aim at no link-local address and not at"
        " this machine unless the API is on it too (an emulator); a further redirect is not"
        " followed. A larger artifact than `max_bytes` fails with kind `limit` (by its"
        " declared size, before any of it is read, or once the bytes read pass it); a"
        " storage refusal is `Artifact storage error (403): …`.",
    ),
    Tool(
        "delete_artifact",
        "Delete an artifact: removed from Buildkite's storage and from every listing.",
        "write",
        "DELETE",
        (ARTIFACT,),
        params=(ORGANIZATION, PIPELINE, NUMBER, JOB_ID, ARTIFACT_ID),
        result="{}",
        returns="`{}` (the API answers 204).",
        example=_FIRST_ARTIFACT
        + 'bk.delete_artifact("acme-inc", "api", b.number, a.job_id, a.id)\n'
        'print(#bk.list_artifacts("acme-inc", "api", b.number))',
        notes="Cannot be undone. Files in your own bucket (S3, GCS, Artifactory) are not"
        " deleted there.",
    ),
)
