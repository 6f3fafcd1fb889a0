"""What an ``app.integrations.*`` path names: integration, account and tool; did-you-mean.

Paths have the forms ``app.integrations.<integration>.<function>`` (default account),
``…<integration>.default.<function>`` and ``…<integration>.<account>.<function>``. Functions
are named by their Lua name, an alias (``get`` for ``get_build``) or their full name's last
part (``buildkite_get_build``).
"""

from __future__ import annotations

from collections.abc import Iterable

from .config import DEFAULT_ACCOUNT
from .errors import UnknownFunction
from .tools import Integration, Tool

PREFIX = "app.integrations."


class Catalog:
    def __init__(self, integrations: Iterable[Integration] = ()) -> None:
        self.integrations = {i.name: i for i in integrations}

    def resolve(self, path: str) -> tuple[Integration, str, Tool]:
        """Returns (integration, account, tool) or raises UnknownFunction."""
        parts = path.removeprefix(PREFIX).split(".") if path.startswith(PREFIX) else []
        integration = self.integrations.get(parts[0]) if parts else None
        if integration is None or len(parts) not in (2, 3):
            raise unknown_function(path, path, self.paths())
        account = parts[1] if len(parts) == 3 else DEFAULT_ACCOUNT
        tool = integration.tool(parts[-1])
        if tool is None:
            raise unknown_function(path, parts[-1], integration.names())
        return integration, account, tool

    def paths(self) -> list[str]:
        """Every callable path of the default account, aliases included."""
        return [
            f"{PREFIX}{integration.name}.{name}"
            for integration in self.integrations.values()
            for name in integration.names()
        ]


def unknown_function(path: str, name: str, candidates: Iterable[str]) -> UnknownFunction:
    """The original's message, with the closest of ``candidates`` to ``name``."""
    hint = ", ".join(closest(name, candidates))
    return UnknownFunction(
        f"Unknown function: {path}" + (f". Did you mean: {hint}" if hint else "")
    )


def closest(name: str, candidates: Iterable[str], cutoff: float = 0.6) -> list[str]:
    """The best match and any nearly as good (within 0.1), best first."""
    import difflib  # only on the error path

    scored = sorted(
        ((difflib.SequenceMatcher(None, name, c).ratio(), c) for c in set(candidates)),
        reverse=True,
    )
    if not scored or scored[0][0] < cutoff:
        return []
    best = scored[0][0]
    return [c for score, c in scored[:3] if score >= max(cutoff, best - 0.1)]
