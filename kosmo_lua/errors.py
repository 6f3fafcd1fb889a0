"""Error types of kosmo-lua.

    KosmoError                  anything this package raises on purpose: exit 1
    ├── UsageError              bad input before a run starts (no code, missing file): exit 2
    ├── Failed                  a command failed and its output already says so: exit 1, or
    │                           128 + the signal that stopped a run
    ├── Interrupted             Ctrl-C before a run started: exit 130
    └── HostError               a host function refused a call; it becomes a Lua error
        ├── UnknownFunction     app.<path> names no function
        ├── ArgumentError       missing, unknown or mistyped arguments (no request was sent)
        ├── ConfigError         the configuration cannot serve: no such account, no token
        │   └── ConfigFileError a settings file (integrations.json, an MCP file) is unreadable
        │                       or of the wrong shape: exit 2
        ├── PermissionDenied    the permission policy refused a call (no request was sent)
        ├── ConnectionFailed    the API could not be reached
        ├── ApiError            the API answered with a non-2xx status
        ├── LimitExceeded       a call passed a host bound: a reply larger than the memory
        │                       limit, a request slower than its deadline
        └── WaitTimedOut        a function that waits (wait_for_build) ran out of time

Each error carries the command line's exit status, ``exit_code``; the one place in the CLI
that catches errors (``kosmo_lua.cli.LazyGroup.invoke``) exits with it.

A ``HostError`` never reaches Python callers of a run: the sandbox turns it into a Lua error
that scripts catch with ``pcall``, and the run's ``error`` field reports it when uncaught.
In Lua the error is a plain string, ``file:line: message`` as the original's errors read,
and ``err.status``, ``err.message``, ``err.tool``, ``err.kind`` also work on it (see
``prelude.lua``). ``category`` says what the envelope's ``meta.error.kind`` says.
"""

from __future__ import annotations

from typing import Any


class KosmoError(Exception):
    """Base of every error kosmo-lua raises deliberately."""

    exit_code = 1  # the command line's exit status when this error ends a command


class UsageError(KosmoError):
    """The command line or its input cannot start a run."""

    exit_code = 2


class Failed(KosmoError):
    """A command failed and its output already says how (a script's error or envelope, a
    page that is not there): the command line only exits, with 1, or with 128 + the signal
    that stopped a run (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP), as a shell reports it."""

    def __init__(self, message: str, *, signal: int | None = None) -> None:
        super().__init__(message)
        if signal:
            self.exit_code = 128 + signal


class Interrupted(KosmoError):
    """Ctrl-C before a run started (while reading a script from stdin, say): nothing ran,
    and the exit status is the shell's for SIGINT, not click's "Aborted!" with 1."""

    exit_code = 130


class HostError(KosmoError):
    """A host function failed; its message is what the Lua script sees."""

    kind = "error"  # what err.kind says in Lua; each subclass names its own
    # What the envelope's meta.error.kind says: argument, permission, integration or limit.
    category = "integration"

    def __init__(
        self, message: str, *, tool: str = "", status: int | None = None, detail: str = ""
    ) -> None:
        super().__init__(message)
        self.tool = tool
        self.status = status
        self.detail = detail or message

    def fields(self) -> dict[str, Any]:
        """What a script can read off the error besides its text."""
        fields: dict[str, Any] = {
            "message": self.detail,
            "tool": self.tool,
            "kind": self.kind,
            "category": self.category,
        }
        if self.status is not None:
            fields["status"] = self.status
        return fields


class UnknownFunction(HostError):
    """A script called ``app.<path>`` and no function has that path."""

    kind = "unknown_function"
    category = "argument"


class ArgumentError(HostError):
    """The arguments do not fit the tool's parameters; nothing was sent."""

    kind = "invalid_arguments"
    category = "argument"


class ConfigError(HostError):
    """The configuration cannot serve a call: an account is unknown or has no token."""

    kind = "configuration"


class PermissionDenied(HostError):
    """The permission policy (ask or deny) refused the call; nothing was sent."""

    kind = "permission"
    category = "permission"


class ConnectionFailed(HostError):
    """The API could not be reached (DNS, refused, timed out, dropped)."""

    kind = "connection"


class ApiError(HostError):
    """The API answered with a non-2xx status."""

    kind = "api"

    def __init__(self, text: str, *, status: int, message: str, tool: str = "") -> None:
        super().__init__(text, tool=tool, status=status, detail=message)


class LimitExceeded(HostError):
    """A call passed one of the host's bounds (reply size, time); the reply was dropped
    unread. The envelope's ``meta.error.kind`` says ``limit``, as for the run's own limits."""

    kind = "limit"
    category = "limit"


class ConfigFileError(ConfigError):
    """A settings file (``integrations.json``, an MCP file) cannot be read or has the wrong
    shape. Every command that reads one checks it before it does anything, so this is a
    usage error there (exit 2); a run that reads a file broken since then gets it as a Lua
    error (kind "configuration")."""

    exit_code = 2

    def __init__(self, path: object, problem: str) -> None:
        super().__init__(f"{path} {problem}. Fix or remove it.")
        self.path = str(path)


class WaitTimedOut(HostError):
    """A function that waits for something (a build to finish) ran out of its own time
    first; ``last`` is what it last saw (``err.state``, ``err.last`` in Lua)."""

    kind = "timeout"
    category = "timeout"

    def __init__(self, message: str, *, tool: str, state: str, last: Any) -> None:
        super().__init__(message, tool=tool)
        self.state = state
        self.last = last

    def fields(self) -> dict[str, Any]:
        return {**super().fields(), "state": self.state, "last": self.last}
