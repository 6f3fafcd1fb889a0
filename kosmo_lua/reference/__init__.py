"""The reference scripts read at run time (``docs.*``) and ``integrations:docs`` prints.

Integration pages are generated from the tool tables, never written by hand; the host's
own pages (lua, json, regex) are markdown files beside this module.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..catalog import closest
from ..errors import ArgumentError
from ..tools import Integration
from . import render

if TYPE_CHECKING:
    from .search import SearchIndex

PAGES_DIR = os.path.join(os.path.dirname(__file__), "pages")
INTEGRATION_PAGES = ("quick", "records", "errors")
"""Pages every integration has besides its functions': ``buildkite.quick`` and so on."""
MAX_QUERY = 1000
"""The longest page name or search phrase: matching and a page's suggestions cost time in
proportion to it, and a not-found answer quotes it."""


class Reference:
    """Every page by its canonical name, with the other names that reach it."""

    def __init__(self, integrations: Iterable[Integration]) -> None:
        self.integrations = {i.name: i for i in integrations}
        self._search: SearchIndex | None = None
        self._host_pages = sorted(
            name.removesuffix(".md") for name in os.listdir(PAGES_DIR) if name.endswith(".md")
        )

    def canonical(self, page: str) -> str | None:
        """``integrations.buildkite.get`` → ``buildkite.get_build``; None if unknown."""
        name = page.strip().removeprefix("integrations.")
        if name in self._host_pages or name in self.integrations:
            return name
        integration_name, _, function = name.partition(".")
        integration = self.integrations.get(integration_name)
        if integration and function in INTEGRATION_PAGES:
            return f"{integration_name}.{function}"
        tool = integration.tool(function) if integration and function else None
        return f"{integration_name}.{tool.name}" if tool else None

    def read(self, page: str) -> str:
        _bounded("page", page)
        name = self.canonical(page)
        if name is None:
            suggestions = closest(
                page.strip().removeprefix("integrations."), self.names(), cutoff=0.5
            )
            hint = f" Closest pages: {', '.join(suggestions)}." if suggestions else ""
            return f"No integration docs found for '{page}'.{hint} See docs.list()."
        if name in self._host_pages:
            with open(os.path.join(PAGES_DIR, f"{name}.md"), encoding="utf-8") as handle:
                return render.host_page(handle.read())
        if name in self.integrations:
            return render.integration_page(self.integrations[name])
        integration_name, _, function = name.partition(".")
        integration = self.integrations[integration_name]
        if function in INTEGRATION_PAGES:
            return render.integration_extra(integration, function)
        tool = integration.tool(function)
        assert tool is not None
        return render.tool_page(integration, tool)

    def names(self) -> list[str]:
        return [
            *self._host_pages,
            *self.integrations,
            *(f"{i}.{page}" for i in self.integrations for page in INTEGRATION_PAGES),
            *(f"{i.name}.{t.name}" for i in self.integrations.values() for t in i.tools),
        ]

    def index(self) -> str:
        return render.index(self._host_pages, self.integrations.values())

    def search(self, query: str, limit: int = 20) -> list[str]:
        """Function lines ranked for ``query``: words, stems and the table's own vocabulary
        (``search.py``)."""
        _bounded("query", query)
        if self._search is None:
            from .search import SearchIndex

            self._search = SearchIndex(self.integrations.values())
        return [f"{name} - {tool.summary}" for name, tool in self._search.search(query, limit)]


def _bounded(what: str, text: str) -> None:
    if len(text) > MAX_QUERY:
        raise ArgumentError(
            f"The {what} is {len(text)} characters; it may be at most {MAX_QUERY} characters:"
            " name a page, or search with a few words."
        )


def load_reference() -> Reference:
    from ..integrations import load

    return Reference(load())
