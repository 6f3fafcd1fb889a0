"""The HTTP client every REST integration shares.

One ``httpx.Client`` per run and account (connection reuse), the token sent only to the
account's base URL (as the integration's ``Auth`` says), safe relative paths, and the
repeat rules of DESIGN.md:

- A throttle (the integration's ``RateLimit``: 429, or e.g. 403 with nothing remaining):
  wait until the reset (or ``Retry-After``), at most ``MAX_WAIT_SECONDS`` in all, then
  repeat, for any method: the API rejected the request before doing any work. The pause is
  the account's: calls running side by side (``app.parallel``) wait it out too, rather than
  each spending its own request on learning of it.
- 5xx and transport errors: repeat GET and HEAD only, a few times with backoff. A POST or a
  non-idempotent PUT is never sent twice.

Every request is bounded: ``REQUEST_SECONDS`` for connecting, the reply and repeats together
(a watchdog ends a server that drips), and a decoded body of at most the run's memory limit
(``Limits.body_bytes``), counted as it streams in. Redirects are never followed.

Requests of one account may run side by side, each on a lane of its own (an ``httpx.Client``
used by one request at a time), so each request's watchdog knows its connection.
"""

from __future__ import annotations

import contextlib
import functools
import heapq
import ipaddress
import json
import os
import re
import socket
import threading
import time
import unicodedata
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from .errors import ApiError, ArgumentError, ConfigError, ConnectionFailed, LimitExceeded
from .limits import MEMORY_BYTES, size_text
from .tools import RateLimit
from .version import __version__

if TYPE_CHECKING:  # httpx is imported when a client is built: the tool tables stay light
    import ssl

    import httpx

USER_AGENT = f"kosmo-lua/{__version__} (+https://github.com/kosmo-lua)"
IDEMPOTENT = frozenset({"GET", "HEAD"})
RETRY_DELAYS = (0.5, 1.0, 2.0)  # backoff before each repeat of an idempotent request
MAX_WAIT_SECONDS = 60.0  # the most a call waits out throttling, in all
# The most one request may take: connecting, the reply, and repeats after 5xx or a dropped
# connection, together (throttle waits come on top, bounded by MAX_WAIT_SECONDS).
REQUEST_SECONDS = 60.0
# The account setting that lets its token travel over plain http to a host not on loopback.
INSECURE_HTTP = "allow_insecure_http"
_CODINGS = ("gzip", "deflate")  # the content codings we ask for, and undo
_NONE = ("", "identity")
_WATCHDOG_FIRST = 0.5  # seconds
MAX_MESSAGE = 500
# The longest raw path accepted: real API paths are far shorter, and a longer URL is refused
# by httpx (or the server) as an error that names nothing.
MAX_PATH_LENGTH = 2048
# RFC 3986 path characters: unreserved, sub-delims, ':', '/' and %XX. '@' is left out: in
# "user@host" it is how a path turns into somebody else's authority.
_PATH_SYNTAX = re.compile(r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:/]|%[0-9A-Fa-f]{2})+")
# A Link header's <url>; rel="name" entries. A URL holds no "<": with it excluded, a header
# of many "<" is read once, not once from each of them (quadratic: ~25 s for 90 KB).
_LINK = re.compile(r'<([^<>]*)>\s*;\s*rel="?([a-z]+)"?')

Consumer = Callable[[Iterator[bytes]], Any]
"""Reads a reply's body as it streams in (``RestClient.request(consume=...)``)."""


class Response:
    """A reply: its status, headers, pages (``links``), rate limit and data.

    ``decode`` (a JSON reply's) makes the data from the body when ``data`` is first read:
    the pages of a long listing stay bodies until their items are taken (``items``), or
    are decoded straight into Lua from ``json_body``, the text ``decode`` would read."""

    def __init__(
        self,
        status: int,
        data: Any,
        headers: httpx.Headers,
        links: dict[str, str] | None = None,
        rate_limit: dict[str, int | None] | None = None,
        *,
        decode: Callable[[], Any] | None = None,
        json_body: bytes | None = None,
    ) -> None:
        self.status = status
        self._data = data
        self._decode = decode
        self.json_body = json_body
        self.headers = headers
        self.links = links if links is not None else {}
        # {limit, remaining, reset} as the API's headers said (reset: seconds from now).
        self.rate_limit = rate_limit if rate_limit is not None else {}

    @property
    def data(self) -> Any:
        if self._decode is not None:
            self._data, self._decode = self._decode(), None
        return self._data

    def items(self) -> list[Any]:
        """The reply as a page of a listing: its items (a body that is not a list is one
        item). A body not decoded yet is decoded for this call and not kept."""
        data = self._decode() if self._decode is not None else self._data
        return list(data) if isinstance(data, list) else [data]

    def meta(self) -> dict[str, Any]:
        """The metadata of the response: status, pages and rate limit."""
        return {
            "status": self.status,
            "next_page": _page_of(self.links.get("next")),
            "last_page": _page_of(self.links.get("last")),
            "rate_limit": self.rate_limit,
        }


class RestClient:
    """Talks to one API account. ``label`` names the API in errors ("Buildkite API");
    ``auth_headers`` carry the token; ``rate_limit`` says how the API throttles.

    Every request has ``deadline`` seconds for connecting, reading and repeats together
    (throttle waits extend it), and its decoded body may hold ``max_body_bytes``; either
    bound, passed, ends the request with ``LimitExceeded``.
    """

    def __init__(
        self,
        base_url: str,
        auth_headers: dict[str, str],
        *,
        label: str,
        rate_limit: RateLimit | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
        deadline: float = REQUEST_SECONDS,
        max_body_bytes: int = MEMORY_BYTES,
        max_wait: float = MAX_WAIT_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:

        self.base_url = base_url.rstrip("/")
        self.label = label
        self.rate_limit = rate_limit or RateLimit()
        self._clock = clock
        self._client_settings: dict[str, Any] = {
            "headers": {
                **auth_headers,
                "User-Agent": USER_AGENT,
                "Accept": "application/json",
                "Accept-Encoding": ", ".join(_CODINGS),
            },
            "transport": transport,
            "timeout": timeout,
            "follow_redirects": False,
        }
        self._timeout = timeout
        self._deadline = deadline
        self._max_body = max_body_bytes
        self._max_wait = max_wait
        self._sleep = sleep
        self._lock = threading.Lock()
        self._idle: list[_Lane] = []  # lanes not in use, most recent last
        self._tls: ssl.SSLContext | None = None
        self._lanes: list[_Lane] = []
        # Monotonic time before which no request of this account is sent: a throttle seen by
        # one call pauses every call of the account.
        self._resume_at = 0.0

    @property
    def max_body_bytes(self) -> int:
        """The most a reply body may hold once decoded (the run's memory limit)."""
        return self._max_body

    @property
    def transport(self) -> httpx.BaseTransport | None:
        """The transport the account's requests go through (an emulator's, in process), for
        a handler that must reach another host the same way (artifact storage), without the
        token."""
        transport: httpx.BaseTransport | None = self._client_settings["transport"]
        return transport

    def close(self) -> None:
        with self._lock:
            for lane in self._lanes:
                lane.client.close()
            self._lanes.clear()
            self._idle.clear()

    def url_for(self, path: str) -> str:
        """The absolute URL of an already checked relative path."""
        return self.base_url + path

    def request(
        self,
        method: str,
        path: str,
        *,
        query: list[tuple[str, str]] | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
        text: bool = False,
        tool: str = "",
        on_send: Callable[[], None] | None = None,
        consume: Consumer | None = None,
        redirect: bool = False,
    ) -> Response:
        """Sends one request with the repeat rules; raises ``ApiError`` on a non-2xx reply
        (a 3xx too, unless ``redirect``: then it is returned, never followed).

        ``path`` must already be safe (see ``safe_path``); ``text`` returns the body as text;
        ``on_send`` is called each time the request goes on the wire, repeats included.
        ``consume`` reads a successful reply's body itself, as it streams in, and its result
        is the response's data: it may stop early, and bounds its own memory (the cap on
        bodies does not apply; the deadline does).
        """
        with self._lane() as lane:
            return self._request(
                lane, method, path, query, body, headers, text, tool, on_send, consume, redirect
            )

    def _request(
        self,
        lane: _Lane,
        method: str,
        path: str,
        query: list[tuple[str, str]] | None,
        body: Any,
        headers: dict[str, str] | None,
        text: bool,
        tool: str,
        on_send: Callable[[], None] | None,
        consume: Consumer | None,
        redirect: bool = False,
    ) -> Response:
        bare_path, _, existing = path.partition("?")
        import httpx

        params = (*urllib.parse.parse_qsl(existing, keep_blank_values=True), *(query or ()))
        try:
            request = lane.client.build_request(
                method, self.url_for(bare_path), params=params or None, json=body, headers=headers
            )
        except httpx.InvalidURL as exc:
            raise ArgumentError(
                f"{tool}: the request URL is unusable ({exc}); give fewer or shorter values",
                tool=tool,
            ) from None
        deadline = time.monotonic() + self._deadline
        waited = 0.0
        waited_for = 0.0  # the account's pause this request has already waited out
        attempt = 0
        while True:
            resume_at = self._resume_at
            pause = resume_at - time.monotonic()
            if resume_at > waited_for and pause > 0:  # another call was throttled: wait too
                if waited + pause > self._max_wait:
                    raise self._throttled_too_long(tool)
                self._sleep(pause)
                waited += pause
                deadline += pause  # waiting out a throttle is bounded apart
            waited_for = resume_at
            if on_send is not None:
                on_send()
            try:
                reply, content = self._exchange(lane, request, deadline, tool, consume)
            except httpx.TransportError as exc:
                if lane.watchdog.fired:
                    raise self._too_slow(tool) from None
                if method in IDEMPOTENT and self._may_repeat(attempt, deadline):
                    self._sleep(RETRY_DELAYS[attempt])
                    attempt += 1
                    continue
                raise ConnectionFailed(
                    f"Failed to connect to {self.label}: {_describe(exc)}", tool=tool
                ) from None
            if self._throttled(reply):
                # At least a second a time, so a reset of 0 cannot make a busy loop.
                delay = max(self._reset_seconds(reply) or _retry_after(reply), 1.0)
                if waited + delay <= self._max_wait:
                    with self._lock:
                        self._resume_at = max(self._resume_at, time.monotonic() + delay)
                        waited_for = self._resume_at
                    self._sleep(delay)
                    waited += delay
                    deadline += delay
                    continue
            elif (
                reply.status_code >= 500
                and method in IDEMPOTENT
                and self._may_repeat(attempt, deadline)
            ):
                self._sleep(RETRY_DELAYS[attempt])
                attempt += 1
                continue
            return self._read(
                reply,
                content,
                text=text,
                tool=tool,
                consumed=consume is not None,
                redirect=redirect,
            )

    @contextmanager
    def _lane(self) -> Iterator[_Lane]:
        """A lane for one request: an idle one (its connection kept alive), or a new one."""
        with self._lock:
            lane = self._idle.pop() if self._idle else None
        if lane is None:
            lane = _Lane(self._new_client())
            with self._lock:
                self._lanes.append(lane)
        try:
            yield lane
        finally:
            with self._lock:
                if lane in self._lanes:  # not closed meanwhile
                    self._idle.append(lane)

    def _new_client(self) -> httpx.Client:
        """A lane's client. The lanes share one TLS context: making one reads the CA bundle,
        some 20 ms of CPU, which dozens of lanes made at once would pay again each."""
        import httpx

        with self._lock:
            if self._tls is None:
                self._tls = httpx.create_ssl_context()
            tls = self._tls
        return httpx.Client(**self._client_settings, verify=tls)

    def _exchange(
        self,
        lane: _Lane,
        request: httpx.Request,
        deadline: float,
        tool: str,
        consume: Consumer | None = None,
    ) -> tuple[httpx.Response, Any]:
        """Sends once and reads the reply's decoded body, within the deadline and the cap;
        a successful reply's body goes to ``consume`` instead, when given."""
        import httpx

        left = deadline - time.monotonic()
        if left <= 0:
            raise self._too_slow(tool)
        # httpx's own timeouts bound each step; a moment past the deadline, so that the
        # watchdog is what ends a late request, and says so.
        timeout = httpx.Timeout(min(self._timeout, left + _WATCHDOG_FIRST))
        request.extensions["timeout"] = timeout.as_dict()
        request.extensions["trace"] = lane.watchdog.trace
        with lane.watchdog.armed(left):
            try:
                reply = lane.client.send(request, stream=True)
            except (httpx.InvalidURL, UnicodeError) as exc:  # a Location httpx reads, unfollowed
                raise ConnectionFailed(
                    f"{self.label} replied to {tool} with a redirect to an unusable URL: {exc}",
                    tool=tool,
                ) from None
            try:
                if consume is not None and reply.is_success:
                    return reply, consume(self._chunks(reply, deadline, tool))
                return reply, self._body(reply, deadline, tool)
            finally:
                reply.close()

    def _body(self, reply: httpx.Response, deadline: float, tool: str) -> bytes:
        """The decoded body, counted as it arrives: it stops at the cap (a small compressed
        reply can decode to gigabytes)."""
        body = bytearray()
        for chunk in self._chunks(reply, deadline, tool):
            body += chunk
            if len(body) > self._max_body:
                raise self._too_large(tool)
        return bytes(body)

    def _chunks(self, reply: httpx.Response, deadline: float, tool: str) -> Iterator[bytes]:
        """The decoded body as it arrives, up to the deadline (a server can drip it)."""
        import httpx

        self._check_codings(reply, tool)
        try:
            for chunk in reply.iter_bytes():
                yield chunk
                if time.monotonic() > deadline:
                    raise self._too_slow(tool)
        except httpx.DecodingError as exc:
            raise ConnectionFailed(
                f"{self.label} reply to {tool} does not decode: {exc}", tool=tool
            ) from None

    def _check_codings(self, reply: httpx.Response, tool: str) -> None:
        """At most one content coding, one we asked for: httpx undoes a network read's worth
        at a time, which gzip or deflate expand at most a thousandfold (a stack of them, or
        brotli, would expand past any bound before the cap could count it)."""
        header = reply.headers.get("Content-Encoding", "")
        codings = [c for c in header.lower().replace(" ", "").split(",") if c not in _NONE]
        if len(codings) > 1 or (codings and codings[0] not in _CODINGS):
            raise ConnectionFailed(
                f"{self.label} replied to {tool} in content encoding {header!r}; kosmo reads"
                f" one of {', '.join(_CODINGS)}, as it asks",
                tool=tool,
            )

    def _may_repeat(self, attempt: int, deadline: float) -> bool:
        """Whether an idempotent request has a repeat left, and the time to wait for it."""
        return attempt < len(RETRY_DELAYS) and (time.monotonic() + RETRY_DELAYS[attempt] < deadline)

    def _too_large(self, tool: str) -> LimitExceeded:
        return LimitExceeded(
            f"{self.label} reply to {tool} is larger than {size_text(self._max_body)} (the"
            " run's --memory-limit); ask for less (per_page, filters)",
            tool=tool,
        )

    def _too_slow(self, tool: str) -> LimitExceeded:
        return LimitExceeded(
            f"{self.label} did not answer {tool} within {self._deadline:g} s (the time one"
            " request may take, repeats included); try again later, or ask for less"
            " (per_page, filters)",
            tool=tool,
        )

    def _throttled_too_long(self, tool: str) -> ApiError:
        return ApiError(
            f"{self.label} error (429): rate limited; waiting for the limit to reset would"
            f" take this call past {self._max_wait:g} s of waiting. Make fewer calls, or try"
            " again later",
            status=429,
            message="rate limited",
            tool=tool,
        )

    def _throttled(self, reply: httpx.Response) -> bool:
        limits = self.rate_limit
        if reply.status_code in limits.throttle_statuses:
            return True
        remaining = _int(reply.headers.get(limits.remaining_header))
        return reply.status_code in limits.exhausted_statuses and remaining == 0

    def _reset_seconds(self, reply: httpx.Response) -> float | None:
        """Seconds until the rate-limit window resets, from the reset header."""
        reset = _int(reply.headers.get(self.rate_limit.reset_header))
        if reset is None:
            return None
        if self.rate_limit.reset == "epoch":
            return max(reset - self._clock(), 0.0)
        return float(max(reset, 0))

    def _read(
        self,
        reply: httpx.Response,
        content: Any,
        *,
        text: bool,
        tool: str,
        consumed: bool,
        redirect: bool = False,
    ) -> Response:
        links = {rel: url for url, rel in _LINK.findall(reply.headers.get("Link", ""))}
        if not (reply.is_success or (redirect and reply.is_redirect)):
            message = _error_message(reply, content)
            raise ApiError(
                f"{self.label} error ({reply.status_code}): {message}",
                status=reply.status_code,
                message=message,
                tool=tool,
            )
        reset = self._reset_seconds(reply)
        rate_limit = {
            "limit": _int(reply.headers.get(self.rate_limit.limit_header)),
            "remaining": _int(reply.headers.get(self.rate_limit.remaining_header)),
            "reset": None if reset is None else round(reset),
        }
        if consumed or text:
            data = content if consumed else _text(reply, content)
            return Response(reply.status_code, data, reply.headers, links, rate_limit)
        return Response(
            reply.status_code,
            None,
            reply.headers,
            links,
            rate_limit,
            decode=functools.partial(_decode, reply, content),
            json_body=_json_text(reply, content),
        )


class _Lane:
    """An ``httpx.Client`` that sends one request at a time, and its watchdog."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        self.watchdog = _Watchdog()


class _Watchdog:
    """Ends a request at its deadline by shutting its connection down: httpx's timeouts
    bound each read, so a server that drips its headers a byte at a time never times out.

    It learns the socket from httpcore's ``trace`` hook when a connection opens; its lane
    talks to one origin, one request at a time, so the last one opened is the one in use.
    """

    def __init__(self) -> None:
        self._socket: socket.socket | None = None
        self.fired = False  # the last armed request reached its deadline

    def trace(self, event: str, info: dict[str, Any]) -> None:
        if event in ("connection.connect_tcp.complete", "connection.start_tls.complete"):
            self._socket = info["return_value"].get_extra_info("socket")

    @contextmanager
    def armed(self, seconds: float) -> Iterator[None]:
        self.fired = False
        alarm = _ALARMS.set(time.monotonic() + seconds, self._shut_down)
        try:
            yield
        finally:
            alarm.cancel()

    def _shut_down(self) -> None:
        """Shuts the socket down through a second handle on its descriptor: the blocked
        read returns at once, and a TLS socket's own state is left to its thread."""
        self.fired = True
        fd = self._socket.fileno() if self._socket is not None else -1
        if fd < 0:
            return
        with contextlib.suppress(OSError):
            handle = socket.socket(fileno=fd)
            try:
                handle.shutdown(socket.SHUT_RDWR)
            finally:
                handle.detach()


class _Alarm:
    def __init__(self, when: float, callback: Callable[[], None]) -> None:
        self.when = when
        self.callback: Callable[[], None] | None = callback

    def __lt__(self, other: _Alarm) -> bool:
        return self.when < other.when

    def cancel(self) -> None:
        self.callback = None


class _Alarms:
    """One thread that calls each callback at its time: a request's watchdog costs an entry
    here, not a thread of its own (calls in flight together would need dozens of them)."""

    def __init__(self) -> None:
        self._reset()
        # A forked worker has none of its parent's threads, and perhaps a lock held by one.
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._ready = threading.Condition()
        self._due: list[_Alarm] = []
        self._running = False

    def set(self, when: float, callback: Callable[[], None]) -> _Alarm:
        alarm = _Alarm(when, callback)
        with self._ready:
            if not self._running:
                threading.Thread(target=self._run, name="kosmo-alarms", daemon=True).start()
                self._running = True
            heapq.heappush(self._due, alarm)
            self._ready.notify()
        return alarm

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._due or self._due[0].when > time.monotonic():
                    self._ready.wait(self._due[0].when - time.monotonic() if self._due else None)
                callback = heapq.heappop(self._due).callback
            if callback is not None:
                callback()


_ALARMS = _Alarms()


def check_base_url(url: str, allow_insecure: bool = False, *, configure: str = "NAME") -> None:
    """Refuses a base URL a token must not be sent to: https only, except plain http to
    loopback (emulators, tests) or for an account configured with ``allow_insecure_http``.

    Called when an account's client is built, and by ``integrations:configure`` when a URL
    is stored; ``configure`` is the arguments of the command that opts in ("buildkite
    --account work").
    """
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname
    except ValueError:
        parts, host = None, None
    if parts is None or parts.scheme.lower() not in ("http", "https") or not host:
        raise ConfigError(
            f"{url!r} is not an http(s) URL; give one such as https://api.example.com/v2"
        )
    if parts.scheme.lower() == "https" or allow_insecure or _is_loopback(host):
        return
    raise ConfigError(
        f"Refused base URL {url}: over plain http the token would travel unencrypted. Use"
        " https://, or, on a network you trust, opt in for this account: kosmo"
        f" integrations:configure {configure} --set {INSECURE_HTTP}=true"
    )


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def safe_path(path: str) -> str:
    """Checks a caller-supplied relative API path; the request can only reach the base URL.

    An allow-list, checked before any request: the path holds only RFC 3986 path characters
    (``@`` aside) and at most ``MAX_PATH_LENGTH`` of them; percent-decoded as often as it
    decodes, it is UTF-8, and no segment (``;`` parameters dropped) is a dot segment in any
    disguise (``..``, ``...``, ``. .``, fullwidth or leader dots). Absolute and
    scheme-relative URLs, backslashes, control characters and fragments are refused too.
    """
    if not isinstance(path, str) or not path.strip():
        raise ArgumentError("path must be a non-empty relative API path such as /organizations")
    raw_path, _, query = path.partition("?")
    if len(raw_path) > MAX_PATH_LENGTH:
        raise ArgumentError(
            f"Refused API path {path[:60]!r}…: it is {len(raw_path)} characters long, more"
            f" than {MAX_PATH_LENGTH}. Give a shorter path; put filters in the query table."
        )
    problem = _path_problem(raw_path, query)
    if problem:
        raise ArgumentError(
            f"Refused API path {path!r}: it contains {problem}. Give a path relative to the"
            " API base URL, such as /organizations/acme-inc/pipelines."
        )
    normalized = "/" + raw_path.lstrip("/")
    return normalized + (f"?{query}" if query else "")


def _path_problem(raw_path: str, query: str) -> str | None:
    """What makes a path unsafe, in words, or None."""
    decoded = _fully_decoded(raw_path)
    if decoded is None:
        return "bytes that are not UTF-8"
    problems = [
        ("a fragment", "#" in raw_path or "#" in query),
        ("a backslash", "\\" in decoded or "\\" in query),
        ("a control character", _has_control(decoded) or _has_control(urllib.parse.unquote(query))),
        ("an invisible format character", any(unicodedata.category(c) == "Cf" for c in decoded)),
        ("whitespace", re.search(r"\s", raw_path) is not None),
        ("'@'", "@" in decoded),
        ("an absolute URL", re.search(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", decoded) is not None),
        ("a scheme-relative URL", decoded.startswith("//")),
        ("a '.' or '..' segment", any(_is_dot_segment(s) for s in decoded.split("/"))),
    ]
    for what, found in problems:
        if found:
            return what
    stray = _PATH_SYNTAX.sub("", raw_path)
    if stray:
        return f"{stray[0]!r}, which is not an RFC 3986 path character"
    return None


def _fully_decoded(raw_path: str) -> str | None:
    """The path percent-decoded until nothing changes (``%252e`` is ``.`` after two rounds,
    as a server that decodes twice would see it), or None when the bytes are not UTF-8."""
    data = raw_path.encode("utf-8", "surrogatepass")
    while True:
        decoded = urllib.parse.unquote_to_bytes(data)
        if decoded == data:
            break
        data = decoded
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _is_dot_segment(segment: str) -> bool:
    """``.`` or ``..`` as some server may read it: parameters dropped (``..;x``), look-alike
    dots folded (fullwidth, one-dot leader, ideographic), padding and extra dots ignored
    (``. .``, ``...``)."""
    bare = unicodedata.normalize("NFKC", segment.split(";", 1)[0]).replace("\u3002", ".")
    return "." in bare and not bare.replace(".", "").strip()


def _has_control(text: str) -> bool:
    return any(unicodedata.category(c) == "Cc" for c in text)


def _json_text(reply: httpx.Response, content: bytes) -> bytes | None:
    """The body to read as JSON: none for a 204 or an empty body."""
    return None if reply.status_code == 204 or not content else content


def _decode(reply: httpx.Response, content: bytes) -> Any:
    """204 or empty → {}; JSON → as sent; anything else → {"body": text}."""
    text = _json_text(reply, content)
    if text is None:
        return {}
    try:
        return json.loads(text)
    except ValueError:
        return {"body": _text(reply, content)}


def _text(reply: httpx.Response, content: bytes) -> str:
    return content.decode(reply.encoding or "utf-8", errors="replace")


def _error_message(reply: httpx.Response, content: bytes) -> str:
    """The body's ``message``, else ``errors``, else the body text, bounded."""
    try:
        body = json.loads(content)
    except (ValueError, RecursionError):  # nested too deep to read: the status still says
        body = None
    if isinstance(body, dict) and body.get("message"):
        message = str(body["message"])
        if body.get("errors"):
            message += f": {_errors_text(body['errors'])}"
    elif isinstance(body, dict) and body.get("errors"):
        message = _errors_text(body["errors"])
    else:
        message = _text(reply, content).strip() or reply.reason_phrase
    return message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 1] + "…"


def _errors_text(errors: Any) -> str:
    if isinstance(errors, list):
        parts = []
        for item in errors:
            if isinstance(item, dict):
                parts.append(" ".join(str(v) for v in item.values()))
            else:
                parts.append(str(item))
        return "; ".join(parts)
    return str(errors)


def _retry_after(reply: httpx.Response) -> float:
    value = _int(reply.headers.get("Retry-After"))
    return max(float(value), 0.0) if value is not None else 1.0


def _describe(exc: httpx.TransportError) -> str:
    kind = type(exc).__name__
    detail = str(exc)
    return f"{kind}: {detail}" if detail else kind


def _page_of(url: str | None) -> int | None:
    if not url:
        return None
    pages = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query).get("page")
    return _int(pages[0]) if pages else None


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
