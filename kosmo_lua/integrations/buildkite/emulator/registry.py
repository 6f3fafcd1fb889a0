"""The emulator's endpoint registry: what a handler gets (``Context``), the ``route``
decorator every ``*routes.py`` module registers its handlers with, and ``dispatch``. Also
the lookups handlers share (an organization's pipeline, build, job), each miss the API's 404.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from .model import Build, Job, Organization, Pipeline
from .payloads import Renderer
from .state import ApiError, World
from .wsgi import Request, Response, paginate


@dataclass
class Context:
    """What a handler needs: the request, the world, and ``now`` on the builds' clock."""

    request: Request
    world: World
    render: Renderer
    now: float
    token: str
    scopes: list[str]
    storage_secret: str = ""  # signs the artifact storage's download URLs


Handler = Callable[[Context, dict[str, str]], Response]


@dataclass
class Route:
    method: str
    pattern: re.Pattern[str]
    scope: str | None
    handler: Handler


ROUTES: list[Route] = []


def route(method: str, template: str, scope: str | None) -> Callable[[Handler], Handler]:
    """Register a handler; ``{name}`` in ``template`` matches one path segment."""
    pattern = re.compile(re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template) + "$")

    def register(handler: Handler) -> Handler:
        ROUTES.append(Route(method, pattern, scope, handler))
        return handler

    return register


def canonical(path: str) -> str:
    """``path`` as the routes name it: the API (Rails) takes ``/organizations/`` for
    ``/organizations``, so trailing slashes go; the bare root is ``/``."""
    return path.rstrip("/") or "/"


def dispatch(context: Context, method: str, path: str) -> Response:
    """Run the matching handler; refusals become the API's error replies. HEAD is GET
    without the body, unless the path has a HEAD of its own (a job log's size). A known
    path asked with another method is 405 with the methods it takes in ``Allow``.

    ``path`` is as sent (percent-encoded), so ``%2F`` never splits a segment; each
    segment a handler gets is decoded."""
    matching = [
        (candidate, found) for candidate in ROUTES if (found := candidate.pattern.match(path))
    ]
    if method == "HEAD" and all(candidate.method != "HEAD" for candidate, _ in matching):
        method = "GET"
    try:
        for candidate, found in matching:
            if candidate.method == method:
                scope = candidate.scope
                if scope and scope not in context.scopes:
                    raise ApiError(403, f"Your access token doesn't have the {scope} scope")
                params = {name: unquote(value) for name, value in found.groupdict().items()}
                return candidate.handler(context, params)
        if matching:
            return _not_allowed(method, {candidate.method for candidate, _ in matching})
        raise ApiError(404, "Not Found")
    except ApiError as error:
        return Response.error(error)


def _not_allowed(method: str, methods: set[str]) -> Response:
    if "GET" in methods:
        methods.add("HEAD")
    allowed = ", ".join(sorted(methods))
    message = f"Method Not Allowed: this path takes {allowed}, not {method}"
    return Response.json(405, {"message": message}, [("Allow", allowed)])


def ok(payload: Any, status: int = 200) -> Response:
    return Response.json(status, payload)


def page(context: Context, items: list[Any], render: Callable[[Any], Any]) -> Response:
    chosen, headers = paginate(context.request, items)
    return Response.json(200, [render(item) for item in chosen], headers)


def scopes() -> tuple[str, ...]:
    """Every scope some registered endpoint needs."""
    return tuple(sorted({candidate.scope for candidate in ROUTES if candidate.scope}))


def organization_of(context: Context, params: dict[str, str]) -> Organization:
    return context.world.organization(params["org"])


def pipeline_of(context: Context, params: dict[str, str]) -> Pipeline:
    return context.world.pipeline(params["org"], params["pipeline"])


def build_of(context: Context, params: dict[str, str]) -> Build:
    return context.world.build(pipeline_of(context, params), params["number"])


def job_of(context: Context, params: dict[str, str]) -> tuple[Build, Job]:
    build = build_of(context, params)
    return build, context.world.job(build, params["job"])
