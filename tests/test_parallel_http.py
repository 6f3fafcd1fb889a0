"""The HTTP side of concurrency (respx at the seam): pages fetched together in order, and one
account's throttle pausing every call of the account."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx

from kosmo_lua.catalog import Catalog
from kosmo_lua.config import Config
from kosmo_lua.errors import ApiError
from kosmo_lua.integrations import load
from kosmo_lua.invoker import Invoker
from kosmo_lua.limits import MIB, Limits
from kosmo_lua.rest import RestClient
from kosmo_lua.runtime.engine import LuaEngine

BASE = "https://api.buildkite.com/v2"
BUILDS = f"{BASE}/builds"


def _invoker(kosmo_home: Any, concurrency: int) -> Invoker:
    return Invoker(
        Catalog(load()),
        Config.load(kosmo_home),
        report=lambda kind, value: None,
        environ={"BUILDKITE_API_TOKEN": "bkua_unit"},
        concurrency=concurrency,
    )


def _page(number: int, last: int | None, end: int, *, per_page: int = 2) -> httpx.Response:
    links = []
    if number < end:
        links.append(f'<{BUILDS}?page={number + 1}&per_page={per_page}>; rel="next"')
    if last is not None:
        links.append(f'<{BUILDS}?page={last}&per_page={per_page}>; rel="last"')
    items = [{"number": number * 10 + i} for i in range(per_page)]
    return httpx.Response(200, json=items, headers={"Link": ", ".join(links)})


@pytest.fixture
def pages() -> Any:
    with respx.mock(assert_all_called=False) as mock:
        yield mock


def _serve_pages(
    pages: Any, last: int | None, fail: int | None = None, end: int | None = None
) -> list[int]:
    """Serves pages up to ``end`` (default ``last``), naming ``last`` in the Link header
    when given; returns the page numbers asked for."""
    asked: list[int] = []

    def answer(request: httpx.Request) -> httpx.Response:
        number = int(request.url.params.get("page", "1"))
        asked.append(number)
        if number == fail:
            return httpx.Response(404, json={"message": "gone"})
        return _page(number, last, end or last or 1)

    pages.get(BUILDS).mock(side_effect=answer)
    return asked


def test_pages_named_by_the_last_link_are_fetched_together_in_order(kosmo_home, pages) -> None:
    asked = _serve_pages(pages, last=5)
    items, meta = _invoker(kosmo_home, 4).invoke(
        "app.integrations.buildkite.list_builds", [{"per_page": 2, "all_pages": True}]
    )
    assert [b["number"] for b in items] == [10, 11, 20, 21, 30, 31, 40, 41, 50, 51]
    assert sorted(asked) == [1, 2, 3, 4, 5]
    assert meta["pages"] == 5


def test_max_pages_bounds_the_pages_fetched_together(kosmo_home, pages) -> None:
    asked = _serve_pages(pages, last=50)
    items, meta = _invoker(kosmo_home, 8).invoke(
        "app.integrations.buildkite.list_builds", [{"per_page": 2, "max_pages": 3}]
    )
    assert sorted(asked) == [1, 2, 3] and meta["pages"] == 3
    assert [b["number"] for b in items] == [10, 11, 20, 21, 30, 31]


def test_a_failed_page_fails_the_call(kosmo_home, pages) -> None:
    _serve_pages(pages, last=6, fail=3)
    with pytest.raises(ApiError, match="404"):
        _invoker(kosmo_home, 2).invoke(
            "app.integrations.buildkite.list_builds", [{"per_page": 2, "all_pages": True}]
        )


def test_without_a_last_link_pages_are_walked_one_after_another(kosmo_home, pages) -> None:
    asked = _serve_pages(pages, last=None, end=4)
    items, meta = _invoker(kosmo_home, 8).invoke(
        "app.integrations.buildkite.list_builds", [{"per_page": 2, "all_pages": True}]
    )
    assert asked == [1, 2, 3, 4]
    assert [b["number"] for b in items][-1] == 41 and meta["pages"] == 4


def _run_lua(kosmo_home: Any, code: str, memory: int = 64 * MIB) -> Any:
    """``code`` run by an engine whose calls go to a real invoker, as a run's do."""
    with _invoker(kosmo_home, 4) as invoker:
        engine = LuaEngine(Limits(memory_bytes=memory), emit=lambda line: None, dispatch=invoker)
        return engine.run(code, "pages")


def test_a_script_gets_every_page_in_order(kosmo_home, pages) -> None:
    _serve_pages(pages, last=5)
    code = """
    local builds = app.integrations.buildkite.list_builds{per_page = 2, all_pages = true}
    local numbers = {}
    for i, build in ipairs(builds) do numbers[i] = build.number end
    return numbers
    """
    limit, values, error, _ = _run_lua(kosmo_home, code)
    assert limit is None and error is None, error
    assert values[0] == [10, 11, 20, 21, 30, 31, 40, 41, 50, 51]


def test_pages_read_in_parallel_branches_equal_those_read_on_the_scripts_thread(
    kosmo_home, pages
) -> None:
    """A branch's call runs on another thread, where its pages wait to be converted on the
    script's thread: the same items either way."""
    _serve_pages(pages, last=4)
    code = """
    local function numbers()
      local found = {}
      for i, build in ipairs(app.integrations.buildkite.list_builds{
        per_page = 2, all_pages = true}) do
        found[i] = build.number
      end
      return found
    end
    local branches = app.map({1, 2}, function() return numbers() end)
    return numbers(), branches[1], branches[2]
    """
    limit, values, error, _ = _run_lua(kosmo_home, code)
    assert limit is None and error is None, error
    assert values[0] == [10, 11, 20, 21, 30, 31, 40, 41]
    assert values[1] == values[0] and values[2] == values[0]


def test_a_page_that_is_not_a_list_is_one_item_in_python_and_in_lua(kosmo_home, pages) -> None:
    """A hostile or odd server: an object page is one item, a page that is not JSON is one
    ``{body = text}``, an empty body is ``{}``; the same whichever thread converts them."""
    bodies = {1: b'[{"n": 1}]', 2: b'{"n": 2}', 3: b"<html>oops</html>", 4: b""}

    def answer(request: httpx.Request) -> httpx.Response:
        number = int(request.url.params.get("page", "1"))
        links = [f'<{BUILDS}?page=4&per_page=2>; rel="last"']
        if number < 4:
            links.append(f'<{BUILDS}?page={number + 1}&per_page=2>; rel="next"')
        return httpx.Response(200, content=bodies[number], headers={"Link": ", ".join(links)})

    pages.get(BUILDS).mock(side_effect=answer)
    expected = [{"n": 1}, {"n": 2}, {"body": "<html>oops</html>"}, {}]
    items, _ = _invoker(kosmo_home, 4).invoke(
        "app.integrations.buildkite.list_builds", [{"per_page": 2, "all_pages": True}]
    )
    assert items == expected
    code = """
    local function listing()
      return json.encode(app.integrations.buildkite.list_builds{per_page = 2, all_pages = true})
    end
    return listing(), app.map({1}, listing)[1]
    """
    limit, values, error, _ = _run_lua(kosmo_home, code)
    assert limit is None and error is None, error
    assert [json.loads(v) for v in values] == [expected, expected]


def test_pages_past_the_memory_limit_end_the_run_at_the_limit(kosmo_home, pages) -> None:
    """Each page is converted as it arrives, counted before it is built against what the
    pages before it left; past the limit, the pages not yet asked for never are (this
    server sends 500 builds a page, whatever the script asks)."""
    asked: list[int] = []

    def answer(request: httpx.Request) -> httpx.Response:
        number = int(request.url.params.get("page", "1"))
        asked.append(number)
        next_link = f'<{BUILDS}?page={number + 1}&per_page=500>; rel="next"'
        last_link = f'<{BUILDS}?page=30&per_page=500>; rel="last"'
        items = [{"number": number * 1000 + i, "message": "m" * 600} for i in range(500)]
        links = [next_link, last_link] if number < 30 else [last_link]
        return httpx.Response(200, json=items, headers={"Link": ", ".join(links)})

    pages.get(BUILDS).mock(side_effect=answer)
    code = "return #app.integrations.buildkite.list_builds{per_page = 100, all_pages = true}"
    kind, values, error, _ = _run_lua(kosmo_home, code, memory=4 * MIB)
    assert kind == "memory", (error, values)
    assert values is None
    # 5 to 10 pages fit (the C decoder's tables are smaller than the Python path's count of
    # them); at most 2 x 4 (the concurrency) were asked ahead
    assert len(asked) < 20


def test_a_throttle_seen_by_one_call_pauses_the_accounts_other_calls() -> None:
    """While the throttled request waits out its reset, another request of the account
    (made from inside that wait, so the order is certain) waits for the same reset first."""
    slept: list[tuple[str, float]] = []
    order: list[str] = []
    client = RestClient(BASE, {}, label="Buildkite API")

    def sleep(seconds: float) -> None:
        slept.append(("first" if len(slept) == 0 else "other", seconds))
        if len(slept) == 1:
            client.request("GET", "/organizations", tool="other")

    client._sleep = sleep
    with respx.mock() as mock:
        replies = iter(
            [httpx.Response(429, headers={"RateLimit-Reset": "2"}), httpx.Response(200, json={})]
        )

        def user(request: httpx.Request) -> httpx.Response:
            order.append("user")
            return next(replies)

        def organizations(request: httpx.Request) -> httpx.Response:
            order.append("organizations")
            return httpx.Response(200, json=[])

        mock.get(f"{BASE}/user").mock(side_effect=user)
        mock.get(f"{BASE}/organizations").mock(side_effect=organizations)
        assert client.request("GET", "/user", tool="first").data == {}
    assert order == ["user", "organizations", "user"]
    assert slept[0] == ("first", 2.0)
    assert slept[1][0] == "other" and 1.5 < slept[1][1] <= 2.0
    client.close()
