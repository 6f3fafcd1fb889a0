"""A stateful emulator of the Buildkite REST API v2, as a pure-stdlib WSGI application.

The host runs it (``kosmo_lua.emulation``): in process for ``kosmo integrations:lua FILE
--emulate`` (``wsgi_transport``), on loopback for other tools (``serve``); it is the server
of the end-to-end tests. The API lives under ``/v2``, so the
base URL is ``http://HOST:PORT/v2``; field names, status codes and messages follow
Buildkite's documentation.

Usage::

    emulator = Emulator()                         # the demo world (see ``demo.py``)
    emulator = Emulator.from_file("world.json", auto_advance=0.5)
    emulator.faults.add("/organizations/*/builds*", "error", count=2, status=503)
    emulator.advance(30)                          # builds move one step per 10 s advanced
    emulator.settle()                             # finish every build
    len(emulator.requests)                        # (method, path, query, body, headers)
    with kosmo_lua.emulation.serve(emulator) as served:   # http://127.0.0.1:PORT/v2
        ...

Builds move ``scheduled`` -> ``running`` (``failing`` once a job hard-fails) -> ``passed`` or
``failed``, one state step at a time: the first step starts the build and its first job, each
later one finishes the running job and starts the next, then the build finishes. A step takes
``auto_advance`` seconds of the clock; with ``auto_advance=None`` (the default) builds move only
with ``advance()`` (10 s a step) and ``settle()``.

The data file (JSON) is documented in ``docs/emulator.md`` ("Data files"); the schema in
``loader.py`` checks it and refuses a flaw with a :class:`DataError` that names the record and
field at fault, e.g. ``organizations[0].pipelines[1]: missing "repository"``.

Job logs are generated like the agent's (timestamp markers ``ESC _bk;t=<ms> BEL``, ANSI
colours, ``ESC [K``): a checkout preamble when a job starts, the step's ``output`` or
``failure_output`` and the exit report when it finishes. A pipeline created through the API
takes the same step definitions in ``steps``, or simple YAML in ``configuration``.

Faults (``emulator.faults.add(path_pattern, kind, *, count=1, status=500, seconds=0.0,
method=None)``; the pattern is fnmatch on the path after ``/v2``) apply before auth, each
match using up one of ``count``: ``latency`` sleeps ``seconds`` then serves normally,
``error`` replies ``status``, ``rate_limit`` replies 429 advertising a reset of ``seconds``,
``drop`` ends the connection with no reply (``kosmo_lua.emulation.DroppedConnection``).

The control plane, for tests only, lives under ``/_emulator`` beside ``/v2``: no auth, not
recorded in ``requests``, not rate limited; only reachable where the emulator is (in process,
or the loopback server), and refusing what a web page could send it (a POST that is not
``application/json``: 415; another site's ``Origin``: 403). ``POST /_emulator/faults`` takes
a fault as JSON (``path``, ``kind``, ``count``, ``status``, ``seconds``, ``method``) and
answers 201; ``POST /_emulator/advance``
``{"seconds": N}`` and ``POST /_emulator/settle`` answer ``{"time": <the builds' clock>}``.
"""

from .app import SCOPES, Emulator
from .demo import demo_data
from .faults import Fault, Faults
from .schema import DataError
from .wsgi import RecordedRequest

__all__ = [
    "SCOPES",
    "DataError",
    "Emulator",
    "Fault",
    "Faults",
    "RecordedRequest",
    "demo_data",
]
