"""WSGI requests and replies, and Buildkite's page-number pagination with ``Link`` headers."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import parse_qsl, quote, urlencode

from .state import ApiError

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

DEFAULT_PER_PAGE, MAX_PER_PAGE = 30, 100
MAX_BODY_BYTES = 16 * 1024 * 1024
"""The largest request body the emulator reads (its requests are small JSON documents)."""
JSON_TYPE = "application/json; charset=utf-8"


class RecordedRequest(NamedTuple):
    """One request as the emulator saw it (``headers`` keys are lower case)."""

    method: str
    path: str
    query_string: str
    body: bytes
    headers: dict[str, str]


@dataclass
class Request:
    method: str
    path: str  # the full path, ``/v2/...``, decoded (as WSGI gives it)
    query_string: str
    body: bytes
    headers: dict[str, str]
    root: str  # scheme://host, for the URLs in payloads and links
    # The path as sent, still percent-encoded: routes match it, so an encoded "/" stays
    # inside its segment as it does for the API (WSGI's PATH_INFO has it decoded).
    raw_path: str = ""
    query: list[tuple[str, str]] = field(init=False)

    def __post_init__(self) -> None:
        self.query = parse_qsl(self.query_string, keep_blank_values=True)
        self.raw_path = self.raw_path or quote(self.path)

    @classmethod
    def from_environ(cls, environ: WSGIEnvironment) -> Request:
        length = _content_length(environ.get("CONTENT_LENGTH"))
        headers = {
            key[5:].replace("_", "-").lower(): value
            for key, value in environ.items()
            if key.startswith("HTTP_")
        }
        for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            if environ.get(key):
                headers[key.replace("_", "-").lower()] = environ[key]
        host = headers.get("host") or f"{environ['SERVER_NAME']}:{environ['SERVER_PORT']}"
        # Servers that keep the path as sent say so in RAW_URI (gunicorn, kosmo's own
        # loopback server and in-process transport) or REQUEST_URI (uWSGI).
        sent = environ.get("RAW_URI") or environ.get("REQUEST_URI") or ""
        return cls(
            method=environ["REQUEST_METHOD"].upper(),
            path=environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", ""),
            query_string=environ.get("QUERY_STRING", ""),
            body=environ["wsgi.input"].read(length) if length else b"",
            headers=headers,
            root=f"{environ['wsgi.url_scheme']}://{host}",
            raw_path=sent.partition("?")[0],
        )

    def record(self) -> RecordedRequest:
        return RecordedRequest(self.method, self.path, self.query_string, self.body, self.headers)

    def json(self) -> dict[str, Any]:
        if not self.body.strip():
            return {}
        try:
            payload = json.loads(self.body)
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            raise ApiError(400, "Problems parsing JSON")
        return payload

    def arg(self, name: str) -> str | None:
        return next((value for key, value in self.query if key == name), None)

    def args(self, name: str) -> list[str]:
        """Values of ``name`` and of its Rails array form ``name[]``."""
        return [value for key, value in self.query if key in (name, f"{name}[]") and value]

    def flag(self, name: str) -> bool:
        return (self.arg(name) or "").lower() in ("true", "1", "yes")


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    stream: tuple[int, Iterable[bytes]] | None = None
    """A body too big to hold: its length and its chunks, sent instead of ``body``."""

    @classmethod
    def json(cls, status: int, payload: Any, headers: Iterable[tuple[str, str]] = ()) -> Response:
        body = json.dumps(payload, ensure_ascii=False).encode()
        return cls(status, body, [("Content-Type", JSON_TYPE), *headers])

    @classmethod
    def error(cls, error: ApiError) -> Response:
        payload: dict[str, Any] = {"message": error.message}
        if error.errors is not None:
            payload["errors"] = error.errors
        return cls.json(error.status, payload)

    def send(self, start_response: StartResponse, head_only: bool = False) -> Iterable[bytes]:
        status = f"{self.status} {HTTPStatus(self.status).phrase}"
        length, chunks = self.stream or (len(self.body), [self.body])
        start_response(status, [*self.headers, ("Content-Length", str(length))])
        return [] if head_only else chunks


def _content_length(text: str | None) -> int:
    """The body's length, refused before any of it is read when it is not a length or is
    more than :data:`MAX_BODY_BYTES` (read as given, a huge one is allocated first)."""
    try:
        length = int(text or 0)
    except ValueError:
        length = -1
    if length < 0:
        raise ApiError(400, f"Content-Length must be a number of bytes, got {text!r}")
    if length > MAX_BODY_BYTES:
        raise ApiError(413, f"Content-Length {length} is more than {MAX_BODY_BYTES} bytes")
    return length


def paginate(request: Request, items: list[Any]) -> tuple[list[Any], list[tuple[str, str]]]:
    """One page of ``items`` and its ``Link`` header (other query parameters kept)."""
    per_page = min(max(_number(request.arg("per_page"), DEFAULT_PER_PAGE), 1), MAX_PER_PAGE)
    page = max(_number(request.arg("page"), 1), 1)
    last = max(math.ceil(len(items) / per_page), 1)
    kept = [(key, value) for key, value in request.query if key not in ("page", "per_page")]

    def link(number: int, rel: str) -> str:
        query = urlencode([*kept, ("page", number), ("per_page", per_page)])
        return f'<{request.root}{request.raw_path}?{query}>; rel="{rel}"'

    links = []
    if page > 1:
        links += [link(1, "first"), link(page - 1, "prev")]
    if page < last:
        links += [link(page + 1, "next"), link(last, "last")]
    headers = [("Link", ", ".join(links))] if links else []
    return items[(page - 1) * per_page : page * per_page], headers


def _number(text: str | None, default: int) -> int:
    try:
        return int(text) if text else default
    except ValueError:
        return default
