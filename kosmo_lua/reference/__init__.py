"""The reference scripts read at run time (``docs.*``) and ``integrations:docs`` prints.

Integration pages are generated from the tool tables, never written by hand; the host's
own pages (lua, json, regex) are markdown files beside this module.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

from ..catalog import closest
from ..tools import Integration, Tool
from . import render

PAGES_DIR = os.path.join(os.path.dirname(__file__), "pages")
INTEGRATION_PAGES = ("quick", "records", "errors")
"""Pages every integration has besides its functions': ``buildkite.quick`` and so on."""


class Reference:
    """Every page by its canonical name, with the other names that reach it."""

    def __init__(self, integrations: Iterable[Integration]) -> None:
        self.integrations = {i.name: i for i in integrations}
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
        """Function lines ranked by how well they match every word of ``query``."""
        words = [w for w in re.split(r"\W+", query.lower()) if w]
        scored = []
        for integration in self.integrations.values():
            for tool in integration.tools:
                score = _score(tool, words)
                if score:
                    scored.append((-score, f"{integration.name}.{tool.name}", tool.summary))
        return [f"{name} - {summary}" for _, name, summary in sorted(scored)[:limit]]


def _score(tool: Tool, words: list[str]) -> int:
    """Name hits weigh most, then aliases, summary, parameters; every word must hit."""
    total = 0
    for word in words:
        hit = 0
        if word in tool.name:
            hit += 10 + (5 if word in tool.name.split("_") else 0)
        if any(word in alias for alias in tool.aliases):
            hit += 6
        if word in tool.summary.lower():
            hit += 4
        if word in tool.returns.lower() or word in tool.notes.lower():
            hit += 2
        if any(word in p.name or word in p.description.lower() for p in tool.params):
            hit += 1
        if not hit:
            return 0
        total += hit
    return total


def load_reference() -> Reference:
    from ..integrations import load

    return Reference(load())
