"""What to do next, said once for each audience: a person at the command line, or an agent
calling ``kosmo mcp:serve``.

An agent cannot pass ``--force`` or ``--cpu-limit``: it can change its script, ask for other
``execute_lua`` arguments, or ask its user. So every message that names a remedy takes it
from here, in the words its reader can act on, and ``hint`` gives an agent the next step for
any failed run from its ``meta.error``. (The names of what sets each limit are
``limits.LIMIT_OPTIONS``: a limit's message is made on every run, and this module is not.)
"""

from __future__ import annotations

from typing import Any

from .limits import LIMIT_OPTIONS


def approval(target: str, access: str, *, agent: bool) -> str:
    """The remedy for a call the ``ask`` policy held back. ``target`` is what
    ``integrations:configure`` names (``buildkite``, ``mcp.github``)."""
    configure = f"kosmo integrations:configure {target} --{access} allow"
    if agent:
        return (
            f"This {access} needs approval: ask the user to allow it ({configure}), or the"
            " server must run with --force. Do not retry it until then."
        )
    return f"Run with --force to allow it for this run, or allow it for good: {configure}"


def hint(error: dict[str, Any]) -> str | None:
    """An agent's next step after a run failed with ``error`` (the envelope's
    ``meta.error``); None when the message says all there is."""
    kind = error.get("kind")
    line = f" at line {error['line']}" if error.get("line") else ""
    if kind == "limit":
        return _limit_hint(str(error.get("limit", "")))
    if kind == "syntax":
        return f"Fix the Lua syntax{line} and run again; nothing was run or sent."
    if kind == "argument":
        tool = error.get("tool")
        page = f' (lua_read_doc "{tool}")' if tool else " (lua_search_docs, lua_read_doc)"
        return f"Fix the call{line}: check the function's name and parameters{page}."
    if kind == "permission":
        return "Nothing was sent. Tell the user which call needs their approval."
    if kind == "timeout":
        return "The function stopped waiting; call it again to wait longer, or check later."
    if kind == "integration":
        return _status_hint(error.get("status"))
    return None


def _limit_hint(limit: str) -> str:
    argument = LIMIT_OPTIONS.get(limit, ("", None))[1]
    if limit == "calls":
        return (
            "The script made as many integration calls as allowed. Make fewer (filters,"
            " per_page, one listing instead of many reads) or ask for a larger maxCalls."
        )
    if limit in ("output", "result"):
        return "Print less and return only the fields you need (a count, a few lines)."
    if limit == "recursion":
        return "Recurse less deeply."
    more = f", or ask for a larger {argument}" if argument else ""
    return f"Do less work in one run (fewer items, smaller pages){more}."


def _status_hint(status: Any) -> str | None:
    if status in (401, 403):
        return "The account's token is missing or may not do this: tell the user."
    if status == 404:
        return (
            "Not found: check the identifiers (list them first, e.g. the pipelines of an"
            " organization) rather than guessing."
        )
    if status == 422:
        return "The API refused the values: read the function's page for what it accepts."
    if status == 429:
        return "Rate-limited: make fewer calls, or wait before running again."
    if isinstance(status, int) and status >= 500:
        return "The API failed on its side; running again later may work."
    return None
