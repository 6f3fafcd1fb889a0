"""The emulator as a WSGI application: recording, faults, auth, rate limit, then the routes.

Two clocks, both moved by :meth:`Emulator.advance`: the emulator clock (``clock()`` plus the
advanced offset) times rate-limit windows; the builds' clock dates everything and moves builds
one state step per ``auto_advance`` seconds. With ``auto_advance=None`` the builds' clock only
moves on ``advance()`` and ``settle()`` (a step then takes :data:`STEP_SECONDS`), so tests and
demos are deterministic however long they take.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ....emulation import DroppedConnection
from . import (
    analytics_routes,
    attachment_routes,
    attachments,
    fleet_routes,
    job_routes,
    ratelimit,
    registry,
    routes,
)
from .demo import demo_data
from .faults import Fault, Faults
from .loader import load
from .model import iso, stable_id
from .payloads import Renderer
from .schema import DataError
from .state import ApiError
from .wsgi import RecordedRequest, Request, Response

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

API_PREFIX = "/v2"
CONTROL_PREFIX = "/_emulator"
STEP_SECONDS = 10.0
# Each module registers its endpoints on import; together they are the API.
ENDPOINTS = (routes, job_routes, attachment_routes, fleet_routes, analytics_routes)
SCOPES = registry.scopes()


class Emulator:
    """A stateful Buildkite REST API v2, served under ``/v2``; itself a WSGI application
    (the host runs it: ``kosmo_lua.emulation``)."""

    base_path = API_PREFIX

    def __init__(
        self,
        data: Mapping[str, Any] | None = None,
        *,
        token: str = "bk-emulator-token",
        scopes: Iterable[str] | None = None,
        clock: Callable[[], float] | None = None,
        rate_limit: int | None = None,
        auto_advance: float | None = None,
    ):
        """``rate_limit``: requests per minute, else the data's ``rate_limit``, else the
        real API's default, 200."""
        data = demo_data() if data is None else data
        self.token = token
        self.scopes = list(SCOPES if scopes is None else scopes)
        self.auto_advance = auto_advance
        self.requests: list[RecordedRequest] = []
        # What the artifact storage received (it is no part of the API: not in requests).
        self.storage_requests: list[RecordedRequest] = []
        self._storage_secret = stable_id("storage", token)
        self.faults = Faults()
        self.world, self._epoch = load(data, auto_advance or STEP_SECONDS)  # checks data
        self._limiter = ratelimit.RateLimit(rate_limit or data.get("rate_limit") or 200)
        for spec in data.get("faults") or ():
            self.faults.add(**_fault_arguments(spec))
        self._clock = clock or time.monotonic
        self._started = self._clock()
        self._offset = 0.0
        self._lock = threading.RLock()
        self.world.sync(self.build_time())

    @classmethod
    def from_file(cls, path: str | Path, **options: Any) -> Emulator:
        """An emulator loaded from a JSON data file; ``options`` as for the constructor."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise DataError(
                f"not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}"
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise DataError(f"cannot be read: {getattr(exc, 'strerror', None) or exc}") from None
        return cls(data, **options)

    # Time.

    def now(self) -> float:
        """Seconds on the emulator clock: ``clock()`` since start, plus advanced time."""
        return self._clock() - self._started + self._offset

    def build_time(self) -> float:
        """The builds' clock, as Unix seconds (the data's ``now`` at start)."""
        moving = self._clock() - self._started if self.auto_advance is not None else 0.0
        return self._epoch + self._offset + moving

    def advance(self, seconds: float) -> None:
        """Move both clocks forward, applying every build step that falls due."""
        with self._lock:
            self._offset += seconds
            self.world.sync(self.build_time())

    def settle(self) -> None:
        """Advance until every build has finished."""
        with self._lock:
            while (due := self.world.next_event()) is not None:
                self._offset += max(due - self.build_time(), 0.0)
                self.world.sync(max(due, self.build_time()))

    # WSGI.

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        try:
            request = Request.from_environ(environ)
        except ApiError as error:  # a body it will not read
            return Response.error(error).send(start_response)
        if _under(request.path, CONTROL_PREFIX):
            with self._lock:
                response = self._control(request, request.path[len(CONTROL_PREFIX) :])
        elif _under(request.path, attachments.STORAGE_PREFIX):
            response = self._storage(request)
        else:
            response = self._api(request)
        return response.send(start_response, head_only=request.method == "HEAD")

    def _api(self, request: Request) -> Response:
        """The API's answer, which carries the rate-limit headers whatever it is."""
        response = self._answer(request)
        if not any(name.lower() == "ratelimit-limit" for name, _ in response.headers):
            with self._lock:
                response.headers += self._limiter.headers(self.now())
        return response

    def _answer(self, request: Request) -> Response:
        with self._lock:
            self.requests.append(request.record())
            if not _under(request.path, API_PREFIX):
                return Response.error(ApiError(404, "Not Found"))
            path = registry.canonical(request.path[len(API_PREFIX) :])
            fault = self.faults.take(request.method, path)
            sent = registry.canonical(request.raw_path[len(API_PREFIX) :])
        if fault and fault.kind == "latency":
            time.sleep(fault.seconds)
        elif fault:
            return self._fault(fault)
        with self._lock:
            now = self.now()
            if not self._authenticated(request):
                return Response.error(
                    ApiError(
                        401,
                        "Authentication required. Please supply a valid API Access Token: "
                        "https://buildkite.com/docs/apis/rest-api#authentication",
                    )
                )
            if not self._limiter.spend(now):
                reset = self._limiter.reset_in(now)
                body = ratelimit.exceeded(self._limiter.limit, self._limiter.used, reset)
                return Response.json(429, body)
            return self._route(request, sent)

    def _route(self, request: Request, path: str) -> Response:
        build_time = self.build_time()
        self.world.sync(build_time)
        context = registry.Context(
            request=request,
            world=self.world,
            render=Renderer(self.world, request.root + API_PREFIX),
            now=build_time,
            token=self.token,
            scopes=self.scopes,
            storage_secret=self._storage_secret,
        )
        return registry.dispatch(context, request.method, path)

    def _storage(self, request: Request) -> Response:
        """The artifact storage: presigned URLs, no API token (see ``attachments``)."""
        with self._lock:
            self.storage_requests.append(request.record())
            every = [
                item for build in self.world.builds for job in build.jobs for item in job.artifacts
            ]
            return attachments.serve_storage(
                request, every, self._storage_secret, self.build_time()
            )

    def _authenticated(self, request: Request) -> bool:
        scheme, _, credential = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and credential.strip() == self.token

    def _fault(self, fault: Fault) -> Response:
        if fault.kind == "drop":
            raise DroppedConnection(f"dropped by a fault on {fault.path}")
        if fault.kind == "rate_limit":
            reset = round(fault.seconds)
            limit = self._limiter.limit
            body = ratelimit.exceeded(limit, limit + 1, reset)
            return Response.json(429, body, ratelimit.headers(limit, 0, reset))
        return Response.json(fault.status, {"message": HTTPStatus(fault.status).phrase})

    # The test-only control plane: no auth, not recorded, not rate limited.

    def _control(self, request: Request, path: str) -> Response:
        refusal = _cross_site(request)
        if refusal is not None:
            return refusal
        try:
            body = request.json()
            if request.method == "POST" and path == "/faults":
                return Response.json(201, self.faults.add(**_fault_arguments(body)).as_json())
            if request.method == "POST" and path == "/advance":
                self.advance(float(body.get("seconds", 0)))
            elif request.method == "POST" and path == "/settle":
                self.settle()
            else:
                raise ApiError(404, "Not Found")
        except (KeyError, TypeError, ValueError) as error:
            return Response.json(400, {"message": f"Bad control request: {error}"})
        except ApiError as error:
            return Response.error(error)
        return Response.json(200, {"time": iso(self.build_time())})


def _cross_site(request: Request) -> Response | None:
    """Why a control request may have come from a web page, or None.

    A page can POST a form or text to any address without asking first; an Origin header of
    another site or a body that is not JSON gives it away. So the control plane answers no
    origin but the emulator's own, and takes changes (each is a POST) as JSON only.
    """
    origin = request.headers.get("origin")
    if origin is not None and origin != request.root:
        message = f"Control requests from another site are refused (Origin: {origin})"
        return Response.json(403, {"message": message})
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if request.method not in ("GET", "HEAD") and content_type != "application/json":
        message = "Control requests need Content-Type: application/json"
        return Response.json(415, {"message": message})
    return None


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


def _fault_arguments(spec: Mapping[str, Any]) -> dict[str, Any]:
    """``Faults.add`` arguments from the JSON form (``path`` names the pattern)."""
    options = {
        name: spec[name] for name in ("count", "status", "seconds", "method") if name in spec
    }
    return {"path_pattern": spec["path"], "kind": spec["kind"], **options}
