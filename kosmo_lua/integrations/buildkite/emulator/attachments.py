"""What builds and jobs carry besides their state: annotations and artifacts. Their rules,
their payloads, and the artifact storage that download URLs point to.

The storage stands in for S3: it lives beside the API (``/_storage/...``, not under
``/v2``) under another host name (:func:`storage_root`), takes no API token, and answers a
presigned URL: one that names the artifact, an expiry 60 s on the builds' clock and a
signature. Like S3 it refuses a request that also carries an ``Authorization`` header ("Only
one auth mechanism allowed"), and it records every request it gets
(``Emulator.storage_requests``), so a test can tell what a client sent.
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
import html
import ipaddress
import posixpath
import re
import urllib.parse
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .model import Annotation, Artifact, Build, Job, iso, stable_id
from .state import ApiError
from .wsgi import Request, Response

if TYPE_CHECKING:
    from .payloads import Renderer

STYLES = ("success", "info", "warning", "error")
SCOPES = ("build", "job", "all")
ARTIFACT_STATES = ("new", "error", "finished", "deleted", "expired")
STORAGE_PREFIX = "/_storage"
URL_SECONDS = 60  # how long a download URL is valid, on the builds' clock

# Annotations.


def annotations_of(build: Build, scope: str | None, job: Job | None = None) -> list[Annotation]:
    """A build's annotations in ``scope`` (``build`` by default), or one job's; highest
    priority first, then oldest first."""
    scope = scope or "build"
    if scope not in SCOPES:
        raise ApiError(400, f"scope must be one of {', '.join(SCOPES)}")
    chosen = [
        note
        for note in build.annotations
        if (note.job_id == job.id if job else _in_scope(note, scope))
    ]
    return sorted(chosen, key=lambda note: (-note.priority, note.created_at))


def _in_scope(note: Annotation, scope: str) -> bool:
    return scope == "all" or (scope == "job") == (note.job_id is not None)


def annotate(build: Build, job: Job | None, body: Mapping[str, Any], now: float) -> Annotation:
    """Create an annotation, or replace (``append``: extend) the one of the same context."""
    text = body.get("body")
    style = body.get("style", "info")
    priority = body.get("priority", 3)
    errors = []
    if not isinstance(text, str) or not text.strip():
        errors.append({"field": "body", "code": "can't be blank"})
    if style not in STYLES:
        errors.append({"field": "style", "code": "is not included in the list"})
    if isinstance(priority, bool) or not isinstance(priority, int) or not 1 <= priority <= 10:
        errors.append({"field": "priority", "code": "must be an integer from 1 to 10"})
    if errors:
        raise ApiError(422, "Validation Failed", errors)
    assert isinstance(text, str)
    context = str(body.get("context") or "default")
    job_id = job.id if job else None
    for note in build.annotations:
        if note.context == context and note.job_id == job_id:
            note.body = note.body + text if body.get("append") else text
            note.style = str(body.get("style", note.style))
            note.priority = body.get("priority", note.priority)
            note.updated_at = now
            return note
    note = Annotation(
        id=stable_id(build.id, "annotation", job_id or "", context),
        context=context,
        style=str(style),
        priority=priority,
        body=text,
        created_at=now,
        updated_at=now,
        job_id=job_id,
    )
    build.annotations.append(note)
    return note


def annotation(build: Build, annotation_id: str, job: Job | None) -> Annotation:
    for note in build.annotations:
        if note.id == annotation_id and (job is None or note.job_id == job.id):
            return note
    raise ApiError(404, "No annotation found")


def annotation_payload(note: Annotation, omit_body: bool = False) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "id": note.id,
        "context": note.context,
        "style": note.style,
        "scope": "job" if note.job_id else "build",
        "job_id": note.job_id,
        "priority": note.priority,
        "body_html": markdown_html(note.body),
        "created_at": iso(note.created_at),
        "updated_at": iso(note.updated_at),
    }
    if omit_body:
        del payload["body_html"]
    return payload


_HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
_LIST_ITEM = re.compile(r"^[-*]\s+(.*)$")


def markdown_html(text: str) -> str:
    """Enough Markdown for annotations: headings, lists, fenced code, paragraphs, **bold**
    and `code`; HTML passes through, as Buildkite allows it."""
    blocks: list[str] = []
    for block in re.split(r"\n\s*\n", text.strip()):
        lines = block.splitlines()
        if block.startswith("```"):
            code = "\n".join(line for line in lines[1:] if not line.startswith("```"))
            blocks.append(f"<pre><code>{html.escape(code)}</code></pre>")
        elif block.startswith("<"):
            blocks.append(block)
        elif heading := _HEADING.match(block):
            level = len(heading[1])
            blocks.append(f"<h{level}>{_inline(heading[2])}</h{level}>")
        elif items := _list_items(lines):
            blocks.append("<ul>" + "".join(f"<li>{_inline(item)}</li>" for item in items) + "</ul>")
        else:
            blocks.append(f"<p>{_inline(block)}</p>")
    return "\n".join(blocks) + "\n"


def _list_items(lines: list[str]) -> list[str] | None:
    """The items of a block that is a list (every line ``- item``), else None."""
    matches = [_LIST_ITEM.match(line) for line in lines]
    return [m[1] for m in matches if m] if all(matches) else None


def _inline(text: str) -> str:
    text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", text)


# Artifacts.


def artifacts_of(
    build: Build, job: Job | None, state: str | None, path: str | None
) -> list[Artifact]:
    """The artifacts of a build's jobs (or one job's), filtered by state and path glob."""
    if state and state not in ARTIFACT_STATES:
        raise ApiError(
            422, "Validation Failed", [{"field": "state", "code": "is not included in the list"}]
        )
    jobs = [job] if job else build.jobs
    return [
        item
        for each in jobs
        for item in each.artifacts
        if item.state != "deleted"
        and (not state or item.state == state)
        and (not path or fnmatch.fnmatchcase(item.file.path, path))
    ]


def artifact(job: Job, artifact_id: str) -> Artifact:
    for item in job.artifacts:
        if item.id == artifact_id and item.state != "deleted":
            return item
    raise ApiError(404, "No artifact found")


def artifact_payload(render: Renderer, build: Build, job: Job, item: Artifact) -> dict[str, Any]:
    url = f"{render.job_url(build, job)}/artifacts/{item.id}"
    path = item.file.path
    return {
        "id": item.id,
        "job_id": job.id,
        "url": url,
        "download_url": f"{url}/download",
        "state": item.state,
        "path": path,
        "dirname": posixpath.dirname(path),
        "filename": posixpath.basename(path),
        "mime_type": item.file.mime_type,
        "file_size": len(item.content),
        "glob_path": None,
        "original_path": None,
        "sha1sum": hashlib.sha1(item.content, usedforsecurity=False).hexdigest(),
    }


def download_url(api_root: str, item: Artifact, secret: str, now: float) -> str:
    """A presigned storage URL for the artifact, valid ``URL_SECONDS``."""
    expires = int(now) + URL_SECONDS
    name = urllib.parse.quote(posixpath.basename(item.file.path))
    query = urllib.parse.urlencode(
        {"X-Amz-Expires": expires, "X-Amz-Signature": _signature(secret, item.id, expires)}
    )
    return f"{storage_root(api_root)}{STORAGE_PREFIX}/{item.id}/{name}?{query}"


def storage_root(api_root: str) -> str:
    """The storage's ``scheme://host``: the same server under another host name, as S3 is
    another host than the API. A client that keeps its ``Authorization`` header on a
    redirect to the same host (Python's requests does) then drops it here, as it does for
    the real storage. On loopback ``127.0.0.1`` and ``localhost`` name the one server; in
    process (``--emulate``) every host name reaches the emulator."""
    parts = urllib.parse.urlsplit(api_root)
    host = (parts.hostname or "").lower()
    if host == "localhost":
        other = "127.0.0.1"
    elif _is_loopback_address(host):
        other = "localhost"
    else:
        other = f"storage.{host}"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{other}{port}"


def _is_loopback_address(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _signature(secret: str, artifact_id: str, expires: int) -> str:
    message = f"{artifact_id}:{expires}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def serve_storage(request: Request, every: list[Artifact], secret: str, now: float) -> Response:
    """The storage's answer to ``request``: the artifact's bytes, or an S3-style error."""
    if request.method not in ("GET", "HEAD"):
        return _storage_error(405, "MethodNotAllowed", "The method is not allowed")
    if "authorization" in request.headers:
        return _storage_error(
            400,
            "InvalidArgument",
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter,"
            " Signature query string parameter or the Authorization header should be specified",
        )
    artifact_id = request.path[len(STORAGE_PREFIX) :].strip("/").split("/", 1)[0]
    expires_text = request.arg("X-Amz-Expires") or ""
    signature = request.arg("X-Amz-Signature") or ""
    if not expires_text.isdigit() or not hmac.compare_digest(
        signature, _signature(secret, artifact_id, int(expires_text))
    ):
        return _storage_error(
            403, "SignatureDoesNotMatch", "The request signature we calculated does not match"
        )
    if now > int(expires_text):
        return _storage_error(403, "AccessDenied", "Request has expired")
    item = next((a for a in every if a.id == artifact_id and a.state != "deleted"), None)
    if item is None:
        return _storage_error(404, "NoSuchKey", "The specified key does not exist.")
    return Response(200, item.content, [("Content-Type", item.file.mime_type)])


def _storage_error(status: int, code: str, message: str) -> Response:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{html.escape(message)}</Message></Error>"
    )
    return Response(status, body.encode(), [("Content-Type", "application/xml")])
