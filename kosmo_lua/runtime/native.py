"""The C decoder of reply bodies (jsondecode.c), loaded into a run's Lua state when built.

It is optional: an install without a C compiler has no ``_jsondecode`` library, and
``KOSMO_NATIVE=0`` turns it off (to compare, or to rule it out). Without it, pages are
decoded by ``json.loads`` and converted in Python, with the same results. Loaded on a run's
first listing of pages, never at start-up.
"""

from __future__ import annotations

import os
import sys
from importlib.machinery import EXTENSION_SUFFIXES
from typing import Any

LIBRARY = "_jsondecode"  # setup.py builds it next to this module
SWITCH = "KOSMO_NATIVE"  # "0": decode in Python only


def library_path() -> str | None:
    """Where the built decoder is, or None when it was not built."""
    folder = os.path.dirname(os.path.abspath(__file__))
    for suffix in EXTENSION_SUFFIXES:
        path = os.path.join(folder, LIBRARY + suffix)
        if os.path.isfile(path):
            return path
    return None


def load_decoder(runtime: Any) -> Any | None:
    """The decoder as a function of ``runtime``'s Lua state, or None when it is off, not
    built, or cannot find the Lua API in lupa's module (another build of lupa)."""
    if os.environ.get(SWITCH) == "0":
        return None
    path = library_path()
    lupa_module = sys.modules.get(type(runtime).__module__)
    lupa_path = getattr(lupa_module, "__file__", None)
    if path is None or lupa_path is None:
        return None
    import ctypes

    try:
        library = ctypes.CDLL(path)
    except OSError:
        return None
    if library.kosmo_json_bind(os.fsencode(lupa_path)) != 0:
        return None
    found = runtime.globals().package.loadlib(os.fsencode(path), b"kosmo_json_decode")
    return found if callable(found) else None
