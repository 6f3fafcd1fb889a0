"""Planned writes (``--plan``, and ``mcp:serve``'s ``ask`` policy without elicitation): a
write is recorded as a step of ``meta.plan`` instead of being sent, and the script goes on
with a placeholder result.

``placeholder`` is the one place that decides what a planned write returns; it is to follow
the tool's declared result type once the tool table declares one.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from .config import DEFAULT_ACCOUNT
from .request import build_request
from .tools import Integration, Tool


def placeholder(tool: Tool) -> dict[str, Any]:
    """What a planned write returns to the script in place of the API's reply."""
    return {"planned": True, "tool": tool.full_name}


def plan_step(
    integration: Integration,
    tool: Tool,
    account: str,
    args: dict[str, Any],
    *,
    line: int | None,
    permission: str,
) -> dict[str, Any]:
    """The request a write would send, as a step of ``meta.plan``: ``tool``, ``method``,
    ``path`` (its query string included), ``body``, the script's ``line``, the
    ``permission`` the policy gives it (``allow``, ``ask`` or ``deny``), and ``account``
    when it is not the default one."""
    path, query, body = build_request(integration, tool, args)
    if query:
        path += ("&" if "?" in path else "?") + urllib.parse.urlencode(query)
    step: dict[str, Any] = {
        "tool": tool.full_name,
        "method": tool.method,
        "path": path,
        "body": body,
        "line": line,
        "permission": permission,
    }
    if account != DEFAULT_ACCOUNT:
        step["account"] = account
    return step
