"""What an ``app.*`` path names: the functions scripts can call, and did-you-mean.

Integrations register their functions here by full Lua path
(``app.integrations.buildkite.get_build``); the app proxy of the sandbox sends every call
through ``Catalog.call``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from .errors import UnknownFunction

Function = Callable[[list[Any]], Any]


class Catalog:
    def __init__(self, functions: dict[str, Function] | None = None) -> None:
        self.functions: dict[str, Function] = dict(functions or {})

    def call(self, path: str, args: list[Any]) -> Any:
        function = self.functions.get(path)
        if function is None:
            raise unknown_function(path, self.functions)
        return function(args)


def unknown_function(path: str, known: Iterable[str]) -> UnknownFunction:
    """The original's message, with the closest names next to the one asked for."""
    import difflib  # only on the error path

    parent, _, name = path.rpartition(".")
    siblings = {k.rpartition(".")[2] for k in known if k.rpartition(".")[0] == parent}
    if not siblings:  # a wrong namespace: suggest whole paths instead
        siblings = set(known)
        name = path
    close = difflib.get_close_matches(name, sorted(siblings), n=3, cutoff=0.6)
    hint = f". Did you mean: {', '.join(close)}" if close else ""
    return UnknownFunction(f"Unknown function: {path}{hint}")
