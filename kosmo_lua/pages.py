"""The items of every page of a listing (``all_pages``), held as the pages' reply bodies.

Decoded all at once, 10,000 builds take more room as Python objects than as the Lua tables a
script gets; taken a page at a time, each page's objects are let go once converted, so a run
holds the bodies and the tables, not the objects too (benchmarks/pages.py).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from typing import Any


class Pages:
    """Pages in order, each a function that decodes its items; taken once, by one reader."""

    def __init__(self) -> None:
        self._pages: deque[Callable[[], list[Any]]] = deque()

    def add(self, page: Callable[[], list[Any]]) -> None:
        self._pages.append(page)

    def take(self) -> Iterator[list[Any]]:
        """Each page's items in order, each page let go as it is decoded."""
        while self._pages:
            yield self._pages.popleft()()

    def plain(self) -> list[Any]:
        """Every item as one list (a caller in Python: no Lua tables to build)."""
        return [item for items in self.take() for item in items]
