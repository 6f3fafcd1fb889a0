"""The items of every page of a listing (``all_pages``), a page at a time.

Decoded all at once, 10,000 builds take more room as Python objects than as the Lua tables a
script gets. So a listing's pages are held as reply bodies, each decoded only when its items
are taken; and on the thread that runs the script, where a ``converting`` hook is set, each
page is converted as it arrives, while the next ones download, and its body let go: the run
holds the Lua tables and a few bodies in flight (benchmarks/pages.py).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, NamedTuple, Protocol


class Converted(NamedTuple):
    """A page already converted for the script: its table and how many items it holds."""

    table: Any
    size: int


class Page(Protocol):
    """One reply of a listing (``rest.Response``)."""

    json_body: bytes | None
    """The reply's text, for a converter that decodes JSON straight into Lua; None when
    there is none (``items`` then still has them: a 204 is one empty object)."""

    def items(self) -> list[Any]:
        """Decodes the page's items."""
        ...


Converter = Callable[[Page], Converted]
_CONVERTER: ContextVar[Converter | None] = ContextVar("kosmo_pages_converter", default=None)


@contextmanager
def converting(converter: Converter) -> Iterator[None]:
    """Pages made inside (on this thread) convert each page with ``converter`` as it is
    added: the engine sets it around a call it runs on the script's thread. A call on
    another thread (a parallel branch's) sees no converter; its pages wait for ``take``."""
    token = _CONVERTER.set(converter)
    try:
        yield
    finally:
        _CONVERTER.reset(token)


class Pages:
    """Pages in order; taken once, by one reader."""

    def __init__(self) -> None:
        self._convert = _CONVERTER.get()
        self._pages: deque[Page | Converted] = deque()

    def add(self, page: Page) -> None:
        self._pages.append(page if self._convert is None else self._convert(page))

    def take(self) -> Iterator[Page | Converted]:
        """Each page in order (to decode, or converted already), let go as it is taken."""
        while self._pages:
            yield self._pages.popleft()

    def plain(self) -> list[Any]:
        """Every item as one list, for a caller in Python (which sets no converter)."""
        found: list[Any] = []
        for page in self.take():
            assert not isinstance(page, Converted), "pages converted for Lua, read in Python"
            found.extend(page.items())
        return found
