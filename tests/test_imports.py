"""The cold path stays lean: `return 1` must not import the HTTP, YAML, MCP or regex stacks.

This guards the start-up benchmark without a timed test (as click's test_imports does).
"""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("httpx", "yaml", "mcp", "regex", "anyio", "pydantic", "asyncio")
# Standard modules only a detour would load: `locale` comes with click's first gettext lookup
# (its --help and --version help texts), which the start-up path's commands avoid.
DETOURS = ("locale",)
# Ours, needed only once a script calls an integration, plans a write or fails.
ON_USE = ("kosmo_lua.pages", "kosmo_lua.advice", "kosmo_lua.plan", "kosmo_lua.tools")

PROBE = """
import json, sys
from kosmo_lua.cli import main
try:
    main(["integrations:lua", "--eval", "return 1", "--json"])
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)))
"""


def test_return_1_imports_nothing_heavy():
    proc = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, check=True
    )
    *envelope, modules_line = proc.stdout.strip().splitlines()
    assert json.loads("\n".join(envelope))["result"] == [1]
    modules = set(json.loads(modules_line))
    loaded = {name.split(".")[0] for name in modules}
    assert not loaded & set(HEAVY), loaded & set(HEAVY)
    assert not modules & set(ON_USE), modules & set(ON_USE)
    assert not modules & set(DETOURS), modules & set(DETOURS)


def test_the_package_leaves_typing_to_the_cli():
    """`import kosmo_lua` (the console script's first step) loads no typing: the CLI imports
    it after turning the collector off, which makes it ~1 ms cheaper."""
    probe = "import json, sys, kosmo_lua; print(json.dumps(sorted(sys.modules)))"
    proc = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert "typing" not in json.loads(proc.stdout)


def test_the_public_surface_is_what_the_package_exports():
    """Every name in __all__ resolves, and __all__ lists every lazy export."""
    import kosmo_lua

    assert {name for name in kosmo_lua.__all__ if name not in ("__version__", "run")} == set(
        kosmo_lua._EXPORTS
    )
    for name in kosmo_lua.__all__:
        assert getattr(kosmo_lua, name) is not None
