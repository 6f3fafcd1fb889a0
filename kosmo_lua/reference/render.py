"""Markdown pages rendered from tool tables: one function, one integration, the index."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from ..tools import META_KEYS, Integration, Param, Record, Tool

ACCESS = {"read": "Read", "write": "Write"}
WHERE = {
    "path": "path",
    "query": "query",
    "body": "body",
    "auto": "query (GET) / body",
    "option": "option (not sent)",
}


def index(host_pages: Iterable[str], integrations: Iterable[Integration]) -> str:
    lines = ["# Lua reference", "", 'Read a page with docs.read("<name>").', "", "## Host"]
    lines += [f"- {name}" for name in host_pages]
    for integration in integrations:
        lines += ["", f"## {integration.name} - {integration.summary}"]
        lines.append(_extras_line(integration))
        lines += [f"- {integration.name}.{t.name} - {t.summary}" for t in integration.tools]
    return "\n".join(lines) + "\n"


def integration_page(integration: Integration) -> str:
    """The overview written for agents, then every function, grouped Read and Write."""
    lines = [overview(integration).rstrip(), "", "## Functions"]
    for access in ("read", "write"):
        tools = [t for t in integration.tools if t.access == access]
        if not tools:
            continue
        lines += ["", f"### {ACCESS[access]}", ""]
        for tool in tools:
            aliases = f" (alias: {', '.join(tool.aliases)})" if tool.aliases else ""
            lines.append(f"- `{integration.name}.{tool.name}`{aliases} - {tool.summary}")
    lines += [
        "",
        f'Details of one function: docs.read("{integration.name}.<function>").',
        _extras_line(integration),
    ]
    return "\n".join(lines) + "\n"


def _extras_line(integration: Integration) -> str:
    name = integration.name
    return (
        f'Also: docs.read("{name}.quick") (every signature, in brief),'
        f' "{name}.records" (the fields of what functions return), "{name}.errors".'
    )


def integration_extra(integration: Integration, page: str) -> str:
    """``quick``, ``records`` or ``errors`` of an integration."""
    if page == "quick":
        from .quick import quick_sheet

        return quick_sheet(integration)
    if page == "records":
        return records_page(integration)
    return errors_page(integration)


def records_page(integration: Integration) -> str:
    """Every record: its fields, their types and what they hold."""
    lines = [
        f"# {integration.name} records",
        "",
        "What functions return (each page's Returns names its type). `T[]` is a list,"
        " `T?` may be nil (null in the API's JSON, absent in Lua); these are the main fields,"
        " the API sends more.",
    ]
    for record in integration.records.values():
        lines += ["", f"## {record.name}", "", record.summary, "", "| field | type | |"]
        lines.append("| --- | --- | --- |")
        lines += [
            f"| `{f.name}` | `{f.type.replace('|', ' or ')}` | {f.description.replace('|', '/')} |"
            for f in record.fields
        ]
    return "\n".join(lines) + "\n"


def errors_page(integration: Integration) -> str:
    """The errors every function of the integration may raise, said once for all."""
    lines = [
        f"# {integration.name} errors",
        "",
        "Every function raises these (catch them with `pcall`; `err.status`, `err.message`,"
        " `err.tool` and `err.kind` read their parts):",
        "",
        *_errors(integration),
    ]
    return "\n".join(lines) + "\n"


def result_text(integration: Integration, tool: Tool) -> str:
    """The Returns section's first lines: the declared type, and the fields of the records
    it names (their meaning is on the records page)."""
    if not tool.result:
        return tool.returns or "The API's JSON reply."
    lines = [f"`{tool.result}`: {tool.returns}" if tool.returns else f"`{tool.result}`"]
    from .quick import reached

    named = reached(integration, tool.result)
    if named:
        lines.append("")
        lines += [f"- {_fields(record)}" for record in named]
        lines += ["", f'Each field\'s meaning: docs.read("{integration.name}.records").']
    return "\n".join(lines)


def _fields(record: Record) -> str:
    return f"`{record.name}`: " + ", ".join(f"`{f.name}` {f.type}" for f in record.fields)


def overview(integration: Integration) -> str:
    """The integration's overview with the host's facts filled in from their constants:
    ``$max_wait`` (seconds a call waits out throttling), ``$max_pages`` (``all_pages``'
    bound) and ``$max_per_page``."""
    from string import Template

    from ..rest import MAX_WAIT_SECONDS

    pagination = integration.pagination
    return Template(integration.overview).safe_substitute(
        max_wait=f"{MAX_WAIT_SECONDS:g}",
        max_pages=pagination.max_pages,
        max_per_page=pagination.max_per_page or "",
    )


def host_page(text: str) -> str:
    """A page of the host's own (lua, json, ...) with the facts it quotes filled in from
    their constants: ``$memory``, ``$cpu``, ``$output``, ``$concurrency``,
    ``$max_concurrency``, ``$max_sleep``."""
    from string import Template

    from ..limits import MAX_CONCURRENCY, MAX_SLEEP_SECONDS, Limits, size_text

    defaults = Limits()
    return Template(text).safe_substitute(
        memory=size_text(defaults.memory_bytes),
        cpu=f"{defaults.cpu_seconds:g} s",
        output=size_text(defaults.output_bytes),
        concurrency=defaults.concurrency,
        max_concurrency=MAX_CONCURRENCY,
        max_sleep=f"{MAX_SLEEP_SECONDS:g}",
    )


def tool_page(integration: Integration, tool: Tool) -> str:
    lines = [
        f"# {integration.name}.{tool.name}",
        "",
        tool.summary,
        "",
        f"- Access: {ACCESS[tool.access]}",
        f"- Lua: `{tool.lua_path}(...)`",
        f"- Full name: `{tool.full_name}`",
    ]
    if tool.aliases:
        lines.append("- Aliases: " + ", ".join(f"`{a}`" for a in tool.aliases))
    lines.append("- Request: " + " or ".join(f"`{tool.method} {p}`" for p in tool.paths))
    lines += ["", "## Parameters", ""]
    if tool.params:
        lines += [
            "| name | type | required | in | description |",
            "| --- | --- | --- | --- | --- |",
        ]
        lines += [_param_row(p) for p in tool.params]
        order = ", ".join(p.name for p in tool.positional)
        lines += [
            "",
            f"Pass one table of named arguments, or positional arguments in this order: {order}.",
        ]
    else:
        lines.append("No parameters.")
    if tool.example:
        lines += ["", "## Example", "", "```lua", tool.example, "```"]
    lines += ["", "## Returns", "", result_text(integration, tool)]
    if tool.paginated:
        lines += [
            "",
            "One value, as in the original: one page, or every page as one list with"
            " `all_pages = true`. With `with_meta = true` a second value carries"
            f" `{{{', '.join(META_KEYS)}}}`:",
            "",
            "```lua",
            f"local items, meta = {tool.lua_path}{{{_example_args(tool)}with_meta = true}}",
            'if meta.next_page then print("more from page " .. meta.next_page) end',
            "```",
        ]
    if tool.notes:
        lines += ["", "## Notes", "", tool.notes]
    lines += ["", "## Errors", "", _errors_pointer(integration, tool)]
    return "\n".join(lines) + "\n"


def _errors_pointer(integration: Integration, tool: Tool) -> str:
    """Errors said once, on the errors page; a write says what only writes meet."""
    text = f'As every {integration.name} function: docs.read("{integration.name}.errors").'
    if tool.access == "write":
        text += " A write needs approval, and a 422 lists the fields it refused."
    return text


def _param_row(param: Param) -> str:
    description = param.description
    if param.default is not None:
        description += f" Default: `{_literal(param.default)}`."
    if param.enum:
        description += " One of: " + ", ".join(f"`{v}`" for v in param.enum) + "."
    required = "yes" if param.required else "no"
    return (
        f"| `{param.name}` | {param.type.replace('|', ' or ')} | {required} |"
        f" {WHERE[param.location]} |"
        f" {description.replace('|', '/')} |"
    )


def _example_args(tool: Tool) -> str:
    """The required path arguments of a list function, from their examples."""
    required = [p for p in tool.params if p.required and p.example is not None]
    return "".join(f"{p.name} = {json.dumps(p.example)}, " for p in required)


def _literal(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, str) else value


def _errors(integration: Integration) -> list[str]:
    """The errors page: the host's rules, in the integration's words where it has them."""
    from ..rest import MAX_WAIT_SECONDS  # the tool tables stay light; rendering is rare

    label = integration.error_label
    statuses = (401, 403, 404, 422)
    errors = [
        "- A missing or unknown argument, or a value of the wrong type, raises before any"
        " request is sent.",
        *(
            f"- `{label} error ({status})`: {integration.status_note(status)}"
            for status in statuses
            if integration.status_note(status)
        ),
        f"- `{label} error ({integration.rate_limit.describe()})`: rate limited; the call"
        f" waits for the reset ({MAX_WAIT_SECONDS:g} s at most in all) and repeats before"
        " giving up.",
        f"- `Failed to connect to {label}: …` when the API cannot be reached.",
    ]
    errors.append(
        f"- `Integration '{integration.name}' write requires approval…` (writes only) under"
        " the default policy: run with `--force` or allow writes with `kosmo"
        f" integrations:configure {integration.name} --write allow`. Nothing is sent."
    )
    return errors


def reference_document(integration: Integration) -> str:
    """The whole reference of one integration, as committed in docs/reference/."""
    header = (
        f"<!-- Generated from the {integration.name} tool table by "
        f"`kosmo integrations:docs {integration.name} --full`. Do not edit. -->\n\n"
    )
    pages = [integration_page(integration)]
    pages += [_demote(tool_page(integration, tool)) for tool in integration.tools]
    pages += [_demote(records_page(integration)), _demote(errors_page(integration))]
    return header + "\n".join(pages)


def _demote(page: str) -> str:
    """Function pages sit one heading level below the integration's title."""
    return "\n".join("#" + line if line.startswith("#") else line for line in page.split("\n"))
