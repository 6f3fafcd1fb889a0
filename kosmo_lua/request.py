"""What a tool's handler works with: the validated ``Call``, its request, and the generic
REST handler every tool without a handler of its own uses.

A handler is ``handler(call) -> (data, meta)``. It sends with ``call.send()`` (the tool's own
request, or any other under the same account's base URL) and returns the data scripts get
and the response's metadata (``response.meta()``).
"""

from __future__ import annotations

import re
import threading
import urllib.parse
from collections import deque
from collections.abc import Iterator
from itertools import islice
from typing import Any

from .errors import ArgumentError, HostError
from .pages import Pages
from .rest import Consumer, Response, RestClient, safe_path
from .tools import BODY_METHODS, Integration, QueryArrays, Tool


class Call:
    """One validated call: ``args`` are the bound arguments, defaults applied."""

    def __init__(
        self,
        integration: Integration,
        tool: Tool,
        args: dict[str, Any],
        client: RestClient,
        *,
        concurrency: int = 1,
    ) -> None:
        """``concurrency``: how many requests the call may have in flight at once (the
        run's ``--concurrency``), e.g. for the pages of ``all_pages``."""
        self.integration = integration
        self.tool = tool
        self.args = args
        self.client = client
        self.concurrency = concurrency
        self._counting = threading.Lock()
        self.requests = 0  # every request sent, repeats included
        self.last_status: int | None = None

    def path(self) -> str:
        """The tool's own path, its template filled from the arguments."""
        return expand_path(self.tool, self.args)

    def send(
        self,
        method: str | None = None,
        path: str | None = None,
        *,
        query: list[tuple[str, str]] | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
        text: bool = False,
        consume: Consumer | None = None,
        redirect: bool = False,
    ) -> Response:
        """Sends a request: by default the tool's own, built from its arguments; ``path``
        is relative to the account's base URL. ``consume`` reads a successful reply's body
        as it streams in; ``redirect`` returns a 3xx reply rather than raising (see
        ``RestClient.request``)."""
        if path is None:
            path, query, body = build_request(self.integration, self.tool, self.args)
        try:
            response = self.client.request(
                method or self.tool.method,
                path,
                query=query,
                body=body,
                headers=headers,
                text=text,
                tool=self.tool.full_name,
                on_send=self._count,
                consume=consume,
                redirect=redirect,
            )
        except HostError as exc:
            self.last_status = exc.status
            raise
        self.last_status = response.status
        return response

    def _count(self) -> None:
        with self._counting:  # pages of one call may be in flight together
            self.requests += 1


def rest_call(call: Call) -> tuple[Any, dict[str, Any]]:
    """The handler of every tool a path template can express, following ``Link`` headers
    when ``all_pages`` or ``max_pages`` asks: all at once (up to the run's concurrency) when
    the first reply names the last page, one ``next`` after another when it does not. The
    items of all pages come as ``Pages``: each page decoded when it is taken."""
    response = call.send()
    args = call.args
    if not (call.tool.paginated and (args.get("all_pages") or args.get("max_pages"))):
        return response.data, response.meta()
    pages = args.get("max_pages") or call.integration.pagination.max_pages
    items = Pages()
    items.add(response)
    fetched = 1
    remaining = _remaining_pages(call, response, pages)
    if remaining and call.concurrency > 1:
        for response in _fetch_all(call, remaining):
            items.add(response)
            fetched += 1
    while fetched < pages and "next" in response.links:
        response = call.send(path=_relative(call.client, response.links["next"]))
        items.add(response)
        fetched += 1
    meta = response.meta()
    meta["pages"] = fetched
    return items, meta


def _remaining_pages(call: Call, response: Response, pages: int) -> list[str]:
    """The paths of the pages after the first, up to ``pages`` in all, when the reply's
    ``Link`` header names both the next page and the last; otherwise none."""
    page_param = call.integration.pagination.page
    next_url, last_url = response.links.get("next"), response.links.get("last")
    first, last = _page_number(next_url, page_param), _page_number(last_url, page_param)
    if next_url is None or first is None or last is None:
        return []
    numbers = range(first, min(last, first + pages - 2) + 1)
    return [_relative(call.client, _with_page(next_url, page_param, n)) for n in numbers]


def _fetch_all(call: Call, paths: list[str]) -> Iterator[Response]:
    """The replies for ``paths`` in order, fetched up to ``call.concurrency`` at a time and
    at most twice that many ahead of the reader (which may be converting each page as it
    comes: replies must not pile up). On the first error in order, what has not started is
    cancelled and the error raised."""
    from concurrent.futures import Future, ThreadPoolExecutor

    queued = iter(paths)
    with ThreadPoolExecutor(max_workers=min(call.concurrency, len(paths))) as pool:
        ahead: deque[Future[Response]] = deque(
            pool.submit(call.send, path=path) for path in islice(queued, 2 * call.concurrency)
        )
        try:
            while ahead:
                response = ahead.popleft().result()
                for path in islice(queued, 1):
                    ahead.append(pool.submit(call.send, path=path))
                yield response
        finally:
            for future in ahead:
                future.cancel()


def _page_number(url: str | None, page_param: str) -> int | None:
    if url is None:
        return None
    values = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query).get(page_param)
    try:
        return int(values[0]) if values else None
    except ValueError:
        return None


def _with_page(url: str, page_param: str, number: int) -> str:
    """``url`` asking for page ``number`` instead, its other query parameters as they were."""
    parts = urllib.parse.urlsplit(url)
    query = [
        (key, str(number) if key == page_param else value)
        for key, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    ]
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def build_request(
    integration: Integration, tool: Tool, args: dict[str, Any]
) -> tuple[str, list[tuple[str, str]], Any]:
    """The path, query and body of a tool's request, from its validated arguments."""
    path = expand_path(tool, args)
    query: list[tuple[str, str]] = []
    body: dict[str, Any] = {}
    style = integration.query_arrays
    for param in tool.params:
        if param.name not in args or param.location in ("path", "option"):
            continue
        value = args[param.name]
        if param.name == "query":  # the raw helpers' own query table
            query.extend(query_pairs(value, style))
        elif not tool.in_body(param):
            query.extend(query_pairs({param.name: value}, style))
        elif param.name != "payload":
            body[param.name] = value
    body.update(args.get("payload") or {})
    return path, query, (body if body or tool.method in BODY_METHODS else None)


def with_query(url: str, query: list[tuple[str, str]]) -> str:
    """``url`` with ``build_request``'s query appended, as a request line shows it (a path
    template may carry a query of its own)."""
    if not query:
        return url
    return url + ("&" if "?" in url else "?") + urllib.parse.urlencode(query)


def expand_path(tool: Tool, args: dict[str, Any]) -> str:
    """The first of the tool's templates whose parameters are all given, filled in; a
    whole-path parameter (``{path}``, the raw helpers) must be a safe relative path."""
    for template in tool.paths:
        names = re.findall(r"{(\w+)}", template)
        if all(name in args for name in names):
            if template == "{path}":
                return safe_path(args["path"])
            return re.sub(
                r"{(\w+)}",
                lambda m: urllib.parse.quote(str(args[m.group(1)]), safe=""),
                template,
            )
    needed = re.findall(r"{(\w+)}", tool.paths[-1])
    raise ArgumentError(f"{tool.full_name} needs {', '.join(needed)}", tool=tool.full_name)


def query_pairs(values: dict[str, Any], style: QueryArrays) -> list[tuple[str, str]]:
    """A table of query values as pairs, lists and tables in the API's style."""
    pairs: list[tuple[str, str]] = []
    for key, value in values.items():
        if isinstance(value, list):
            if style == "comma":
                pairs.append((key, ",".join(_scalar(v) for v in value)))
            else:
                name = f"{key}[]" if style == "brackets" else key
                pairs.extend((name, _scalar(v)) for v in value)
        elif isinstance(value, dict):
            pairs.extend((f"{key}[{sub}]", _scalar(v)) for sub, v in value.items())
        else:
            pairs.append((key, _scalar(value)))
    return pairs


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _relative(client: RestClient, url: str) -> str:
    """A Link URL as a safe path under the client's base URL; anything else is refused."""
    if not url.startswith(client.base_url + "/"):
        raise HostError(f"Refused to follow a pagination link outside the API: {url}")
    return safe_path(url[len(client.base_url) :])
