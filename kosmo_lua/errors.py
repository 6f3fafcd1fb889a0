"""Error types of kosmo-lua.

    KosmoError                  anything this package raises on purpose
    ├── UsageError              bad input before a run starts (no code, missing file): exit 2
    └── HostError               a host function refused a call; it becomes a Lua error
        └── UnknownFunction     app.<path> names no function

A ``HostError`` never reaches Python callers of a run: the sandbox turns it into a Lua error
that scripts catch with ``pcall``, and the run's ``error`` field reports it when uncaught.
"""

from __future__ import annotations


class KosmoError(Exception):
    """Base of every error kosmo-lua raises deliberately."""


class UsageError(KosmoError):
    """The command line or its input cannot start a run."""


class HostError(KosmoError):
    """A host function failed; its message is what the Lua script sees."""


class UnknownFunction(HostError):
    """A script called ``app.<path>`` and no function has that path."""
