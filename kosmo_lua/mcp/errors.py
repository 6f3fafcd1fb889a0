"""Errors of MCP calls. They are ``HostError``s, so a script catches them with ``pcall``."""

from __future__ import annotations

from ..errors import ConfigError, HostError


class McpError(HostError):
    """An MCP server could not be used: unknown, disabled, untrusted or misconfigured."""

    kind = "mcp"


class McpConfigError(McpError, ConfigError):
    """A change to the MCP configuration cannot be made as asked (a bad name, a server that
    is already there or is not): the user's input, so exit 2. A broken MCP file is a
    ``ConfigFileError``, as a broken settings file is."""

    kind = "configuration"
    exit_code = 2


class McpUntrusted(McpError):
    """A project file defines the server and nobody trusted that definition yet."""

    kind = "permission"
    category = "permission"


class McpServerFailed(McpError):
    """The server did not start, crashed, or did not answer in time."""

    kind = "connection"


class McpToolError(McpError):
    """The server ran the call and reported an error (``isError``, or a JSON-RPC error)."""

    kind = "mcp_tool"
