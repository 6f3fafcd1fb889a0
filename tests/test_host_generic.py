"""The host's rules, shown with a synthetic integration declared here (not Buildkite): what
a table declares is what the host does, and a table that cannot work fails when it is made."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx

from kosmo_lua import (
    ArgumentError,
    Auth,
    CredentialField,
    Integration,
    Mistake,
    Pagination,
    Param,
    RateLimit,
    Tool,
)
from kosmo_lua.catalog import Catalog
from kosmo_lua.config import Config
from kosmo_lua.invoker import Invoker
from kosmo_lua.mcp.serve import _exposed_schema
from kosmo_lua.tools import SERVER_ARGUMENTS

BASE = "https://api.example.test"
ID = Param("id", "string", "Widget id.", required=True, location="path")


def widgets(**conventions: Any) -> Integration:
    return Integration(
        name="widgets",
        title="Widgets",
        summary="A made-up API.",
        tools=(
            Tool(
                "list_widgets",
                "List widgets.",
                "read",
                "GET",
                ("/widgets",),
                params=(Param("tags", "array", "Only widgets with these tags.", location="query"),),
                paginated=True,
            ),
            Tool(
                "get_widget",
                "Get a widget.",
                "read",
                "GET",
                ("/widgets/{id}",),
                params=(
                    Param(
                        "id",
                        "string",
                        "Widget id.",
                        required=True,
                        location="path",
                        mistakes=(Mistake(r"^w-", "{value} is a label; give the id"),),
                    ),
                ),
            ),
            Tool(
                "paint_widget",
                "Paint a widget.",
                "write",
                "POST",
                ("/widgets/{id}/paint",),
                params=(ID, Param("color", "string", "A colour.", required=True, location="body")),
            ),
        ),
        credentials=(
            CredentialField("key", "API key.", secret=True, required=True, role="token"),
            CredentialField("endpoint", "Base URL.", default=BASE, role="base_url"),
        ),
        error_label="Widgets API",
        **conventions,
    )


class Run:
    """An invoker over the synthetic integration, with its key configured."""

    def __init__(self, kosmo_home: Any, integration: Integration) -> None:
        config = Config.load(kosmo_home)
        config.set_account("widgets", "default", {"key": "sekret"})
        config.set_permission("widgets", "write", "allow")
        self.invoker = Invoker(Catalog([integration]), config, report=lambda kind, value: None)

    def __call__(self, name: str, *args: Any) -> tuple[Any, dict[str, Any]]:
        return self.invoker.invoke(f"app.integrations.widgets.{name}", list(args))


@pytest.fixture
def api():
    with respx.mock(base_url=BASE, assert_all_called=False) as mock:
        yield mock


@pytest.mark.parametrize(
    ("style", "query"),
    [
        ("repeat", [("tags", "a"), ("tags", "b")]),
        ("brackets", [("tags[]", "a"), ("tags[]", "b")]),
        ("comma", [("tags", "a,b")]),
    ],
)
def test_query_arrays_follow_the_declared_style(kosmo_home, api, style, query):
    api.get("/widgets").respond(200, json=[])
    Run(kosmo_home, widgets(query_arrays=style))("list_widgets", {"tags": ["a", "b"]})
    assert api.calls.last.request.url.params.multi_items() == query


@pytest.mark.parametrize(
    ("auth", "header", "value"),
    [(Auth(), "Authorization", "Bearer sekret"), (Auth("X-Api-Key", None), "X-Api-Key", "sekret")],
)
def test_the_token_travels_as_the_auth_convention_says(kosmo_home, api, auth, header, value):
    api.get("/widgets/7").respond(200, json={})
    Run(kosmo_home, widgets(auth=auth))("get_widget", "7")
    assert api.calls.last.request.headers[header] == value


def test_throttling_and_rate_limit_headers_are_declared(kosmo_home, api):
    limits = RateLimit(
        limit_header="X-Quota",
        remaining_header="X-Quota-Left",
        reset_header="X-Quota-Reset",
        throttle_statuses=(503,),
    )
    api.get("/widgets/7").mock(
        side_effect=[
            httpx.Response(503, headers={"X-Quota-Reset": "0"}),
            httpx.Response(200, json={}, headers={"X-Quota": "10", "X-Quota-Left": "9"}),
        ]
    )
    run = Run(kosmo_home, widgets(rate_limit=limits))  # waits the minimum, a second
    _, meta = run("get_widget", "7")
    assert api.calls.call_count == 2
    assert meta["rate_limit"] == {"limit": 10, "remaining": 9, "reset": None}


def test_pagination_parameters_come_from_the_host(kosmo_home, api):
    integration = widgets(pagination=Pagination(page="p", per_page="n", max_per_page=50))
    names = [p.name for p in integration.tool("list_widgets").params]
    assert names == ["tags", "p", "n", "all_pages", "max_pages", "with_meta"]
    with pytest.raises(ArgumentError, match="must be at most 50"):
        Run(kosmo_home, integration)("list_widgets", {"n": 51})

    def page(request: httpx.Request) -> httpx.Response:
        number = int(request.url.params.get("p", "1"))
        link = {"Link": f'<{BASE}/widgets?p={number + 1}>; rel="next"'} if number < 3 else {}
        return httpx.Response(200, json=[number], headers=link)

    api.get("/widgets").mock(side_effect=page)
    items, meta = Run(kosmo_home, integration)("list_widgets", {"all_pages": True})
    assert (items, meta["pages"]) == ([1, 2, 3], 3)


def test_a_declared_mistake_is_refused_before_any_request(kosmo_home, api):
    with pytest.raises(ArgumentError, match="'w-blue' is a label; give the id"):
        Run(kosmo_home, widgets())("get_widget", "w-blue")
    assert api.calls.call_count == 0


def test_a_payload_merges_with_named_body_fields(kosmo_home, api):
    api.post("/widgets/7/paint").respond(200, json={})
    Run(kosmo_home, widgets())("paint_widget", {"id": "7", "payload": {"color": "red", "x": 1}})
    assert json.loads(api.calls.last.request.content) == {"color": "red", "x": 1}


@pytest.mark.parametrize(
    ("tool", "problem"),
    [
        (
            Tool("a", "A.", "read", "GET", ("/a/{id}",)),
            "the path names {id}, which is not a parameter",
        ),
        (
            Tool("a", "A.", "read", "GET", ("/a",), params=(ID,)),
            "parameter 'id' has location=\"path\" but no path names it",
        ),
    ],
)
def test_a_table_whose_paths_and_parameters_disagree_fails_when_made(tool, problem):
    with pytest.raises(ValueError, match=problem.replace("{", r"\{").replace("}", r"\}")):
        Integration("x", "X", "x", tools=(tool,), credentials=())


def test_two_tools_with_one_name_fail_when_made():
    first = Tool("list", "A.", "read", "GET", ("/a",))
    second = Tool("list_all", "B.", "read", "GET", ("/b",), aliases=("list",))
    with pytest.raises(ValueError, match="'list' names both list and list_all"):
        Integration("x", "X", "x", tools=(first, second), credentials=())


@pytest.mark.parametrize("name", SERVER_ARGUMENTS)
def test_a_parameter_named_as_mcp_serve_s_own_arguments_fails_when_made(name):
    """mcp:serve adds these to every exposed function: a tool's own would be shadowed."""
    tool = Tool("a", "A.", "read", "GET", ("/a",), params=(Param(name, "string", "N."),))
    with pytest.raises(ValueError, match=f"x.a: a parameter may not be named '{name}'"):
        Integration("x", "X", "x", tools=(tool,), credentials=())
    exposed = _exposed_schema({"type": "object", "properties": {}}, ["default"])
    assert tuple(exposed["properties"]) == SERVER_ARGUMENTS


def test_an_enum_on_a_list_constrains_its_items(kosmo_home, api):
    colours = ("red", "blue")
    tags = Param("tags", "array", "Tags.", location="query", enum=colours)
    either = Param("tag", "string|array", "A tag or tags.", location="query", enum=colours)
    assert tags.schema()["items"] == {"type": "string", "enum": ["red", "blue"]}
    assert "enum" not in tags.schema()
    assert either.schema()["anyOf"] == [
        {"type": "string", "enum": ["red", "blue"]},
        {"type": "array", "items": {"type": "string", "enum": ["red", "blue"]}},
    ]
    tool = Tool("list", "List.", "read", "GET", ("/widgets",), params=(tags, either))
    integration = Integration(
        "widgets", "Widgets", "x", tools=(tool,), credentials=widgets().credentials
    )
    run = Run(kosmo_home, integration)
    with pytest.raises(ArgumentError, match=r"one of red, blue \(each item of a list\), got"):
        run("list", {"tags": ["red", "green"]})
    with pytest.raises(ArgumentError, match="must be one of red, blue, got the string 'green'"):
        run("list", {"tag": "green"})
    assert api.calls.call_count == 0
    api.get("/widgets").respond(200, json=[])
    run("list", {"tags": ["red"], "tag": ["blue", "red"]})
    assert api.calls.last.request.url.params.multi_items() == [
        ("tags", "red"),
        ("tag", "blue"),
        ("tag", "red"),
    ]
