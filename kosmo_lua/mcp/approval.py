"""A write under the ``ask`` policy, in ``mcp:serve``: the human is asked through MCP
elicitation when the client can show a form; otherwise the write is planned (``meta.plan``)
and the agent can show the plan to its user."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ..plan import visible

if TYPE_CHECKING:
    from mcp.server import ServerRequestContext

MAX_BODY_SHOWN = 2000
"""Characters of a write's body the question shows; the rest is cut, and says so."""


def asker(ctx: ServerRequestContext[Any]) -> Callable[[dict[str, Any]], Awaitable[str]]:
    """What answers a run's questions about writes for the request ``ctx``: the human's
    answer (``accept`` or ``decline``), or ``plan`` when the client has no elicitation."""
    from mcp.shared.exceptions import NoBackChannelError
    from mcp.types import ClientCapabilities, ElicitationCapability

    wanted = ClientCapabilities(elicitation=ElicitationCapability())
    # A session of the 2026-07-28 protocol has no back-channel: a question there is a
    # tool result the client answers in a new call, which a script waiting mid-run cannot
    # take. Its writes are planned, as for a client without elicitation.
    can_ask = ctx.session.can_send_request and ctx.session.check_client_capability(wanted)

    async def ask(step: dict[str, Any]) -> str:
        if not can_ask:
            return "plan"
        try:
            reply = await ctx.session.elicit_form(
                question(step),
                {"type": "object", "properties": {}},
                related_request_id=ctx.request_id,
            )
        except NoBackChannelError:
            return "plan"
        return "accept" if reply.action == "accept" else "decline"

    return ask


def question(step: dict[str, Any]) -> str:
    """The write as the human sees it: the request, its body, the script's line."""
    body = step.get("body")
    shown = "" if body is None else visible(json.dumps(body, ensure_ascii=False))
    if len(shown) > MAX_BODY_SHOWN:
        shown = f"{shown[:MAX_BODY_SHOWN]}… ({len(shown)} characters in all)"
    line = f" (script line {step['line']})" if step.get("line") else ""
    return (
        f"A Lua script wants to send this write{line}:\n"
        f"{step['method']} {step['path']}  [{step['tool']}]\n"
        + (f"body: {shown}\n" if shown else "")
        + "Send it? If you decline, nothing is sent and the script gets an error."
    )
