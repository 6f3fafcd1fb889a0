"""A tiny GitHub-like API as a WSGI app: what the plug-in's tests talk to, on loopback or
in process (the host runs it; this file only answers requests)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

REPOS = [{"name": f"repo-{n}", "full_name": f"octocat/repo-{n}"} for n in range(1, 8)]


class GitHubEmulator:
    token = "gh-emulator-token"
    base_path = ""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.throttle_next = 0  # answer this many requests with 403 and nothing remaining

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        path = environ["PATH_INFO"]
        query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        self.requests.append(
            path + ("?" + environ["QUERY_STRING"] if environ.get("QUERY_STRING") else "")
        )
        headers = [
            ("Content-Type", "application/json"),
            ("X-RateLimit-Limit", "5000"),
            ("X-RateLimit-Remaining", "4999"),
            ("X-RateLimit-Reset", str(int(time.time()) + 3600)),
        ]
        if self.throttle_next:
            self.throttle_next -= 1
            headers[2] = ("X-RateLimit-Remaining", "0")
            headers[3] = ("X-RateLimit-Reset", str(int(time.time()) + 1))
            return _reply(
                start_response, "403 Forbidden", headers, {"message": "API rate limit exceeded"}
            )
        if environ.get("HTTP_AUTHORIZATION") != f"Bearer {self.token}":
            return _reply(
                start_response, "401 Unauthorized", headers, {"message": "Bad credentials"}
            )
        if path == "/user":
            return _reply(start_response, "200 OK", headers, {"login": "octocat", "name": "Mona"})
        if re.fullmatch(r"/users/octocat/repos", path):
            page, per_page = int(query.get("page", 1)), int(query.get("per_page", 30))
            items = REPOS[(page - 1) * per_page : page * per_page]
            last = max((len(REPOS) + per_page - 1) // per_page, 1)
            host = f"http://{environ['HTTP_HOST']}"
            links = (
                [f'<{host}{path}?page={page + 1}&per_page={per_page}>; rel="next"']
                if page < last
                else []
            )
            links.append(f'<{host}{path}?page={last}&per_page={per_page}>; rel="last"')
            headers.append(("Link", ", ".join(links)))
            return _reply(start_response, "200 OK", headers, items)
        return _reply(start_response, "404 Not Found", headers, {"message": "Not Found"})


def _reply(
    start_response: Callable[..., Any], status: str, headers: list[tuple[str, str]], body: Any
) -> list[bytes]:
    start_response(status, headers)
    return [json.dumps(body).encode()]
