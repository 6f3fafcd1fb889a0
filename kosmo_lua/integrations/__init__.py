"""The installed integrations, found through the entry-point group ``kosmo_lua.integrations``.

Each entry point names an ``Integration`` (``buildkite = "kosmo_lua.integrations.buildkite:
INTEGRATION"`` in our own pyproject.toml), so a separately installed package adds
``app.integrations.<name>.*``, its docs, schemas and ``integrations:list`` rows with no change
here. They are read on first use, not at start-up. A plug-in that fails to load is skipped
with a one-line warning naming it; the others work on.
"""

from __future__ import annotations

import functools
import sys

from ..tools import Integration

GROUP = "kosmo_lua.integrations"


@functools.cache
def load() -> list[Integration]:
    """Every installed integration, by name; the first of two with one name wins."""
    from importlib.metadata import entry_points

    found: dict[str, Integration] = {}
    for entry in sorted(entry_points(group=GROUP), key=lambda e: (e.name, e.value)):
        try:
            integration = entry.load()
            if not isinstance(integration, Integration):
                raise TypeError(f"it is a {type(integration).__name__}, not an Integration")
        except Exception as exc:  # any fault of a plug-in: name it, keep the others
            _warn(f"{entry.name!r} ({entry.value}) failed to load: {type(exc).__name__}: {exc}")
            continue
        if integration.name in found:
            _warn(f"{entry.name!r} ({entry.value}) is a second {integration.name!r}; ignored")
            continue
        found[integration.name] = integration
    return [found[name] for name in sorted(found)]


def _warn(problem: str) -> None:
    print(f"kosmo: warning: integration plug-in {problem}", file=sys.stderr)
