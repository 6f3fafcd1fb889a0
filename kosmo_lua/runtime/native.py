"""The C decoder of reply bodies (jsondecode.c), loaded into a run's Lua state when built.

It is optional: an install without a C compiler has no ``_jsondecode`` library, and
``KOSMO_NATIVE=0`` turns it off (to compare, or to rule it out). Without it, pages are
decoded by ``json.loads`` and converted in Python, with the same results. Loaded on a run's
first listing of pages, never at start-up.
"""

from __future__ import annotations

import os
from importlib.machinery import EXTENSION_SUFFIXES
from types import ModuleType

LIBRARY = "_jsondecode"  # setup.py builds it next to this module
ENTRY = b"kosmo_json_decode"  # the decoder, a Lua C function
SWITCH = "KOSMO_NATIVE"  # "0": decode in Python only


def library_path() -> str | None:
    """Where the built decoder is, or None when it was not built."""
    folder = os.path.dirname(os.path.abspath(__file__))
    for suffix in EXTENSION_SUFFIXES:
        path = os.path.join(folder, LIBRARY + suffix)
        if os.path.isfile(path):
            return path
    return None


def bound_library(lupa_module: ModuleType) -> str | None:
    """The built decoder's path, its Lua API found in ``lupa_module`` (the engine's), for
    the engine to load with ``package.loadlib`` at ``ENTRY``; None when it is switched off,
    not built, or cannot find that API (another build of lupa)."""
    if os.environ.get(SWITCH) == "0":
        return None
    path = library_path()
    lupa_path = getattr(lupa_module, "__file__", None)
    if path is None or lupa_path is None:
        return None
    import ctypes

    try:
        library = ctypes.CDLL(path)
    except OSError:
        return None
    return path if library.kosmo_json_bind(os.fsencode(lupa_path)) == 0 else None
