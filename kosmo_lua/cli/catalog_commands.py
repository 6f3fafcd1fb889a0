"""Commands that read the tool tables: docs, list, search, schema, status."""

from __future__ import annotations

import json
import os
from typing import Any

import click

from ..config import Config
from ..errors import Failed
from ..integrations import load
from ..reference import Reference, load_reference
from ..reference.render import reference_document
from ..tools import Tool
from .configure_command import find_integration, status


def _echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


def find_tool(name: str) -> Tool:
    """``buildkite.get_build`` (or an alias, or the full name) → its tool."""
    integration_name, _, function = name.removeprefix("integrations.").partition(".")
    integration = find_integration(integration_name)
    tool = integration.tool(function)
    if tool is None:
        from ..catalog import closest

        hint = ", ".join(closest(function, integration.names()))
        raise click.BadParameter(
            f"{integration.name} has no function {function!r}"
            + (f"; did you mean: {hint}" if hint else ""),
            param_hint="FUNCTION",
        )
    return tool


@click.command(
    "integrations:docs",
    epilog="""\b
Examples:
  kosmo integrations:docs                       the index
  kosmo integrations:docs buildkite             overview and functions
  kosmo integrations:docs buildkite.get_build   one function
  kosmo integrations:docs buildkite --quick     every signature and record, in brief
  kosmo integrations:docs buildkite --full > docs/reference/buildkite.md""",
)
@click.argument("page", required=False)
@click.option("--full", is_flag=True, help="With an integration: every function's page too.")
@click.option(
    "--quick", is_flag=True, help="With an integration: its signature sheet (PAGE.quick)."
)
@click.option("--json", "as_json", is_flag=True, help="Structured data instead of markdown.")
def integrations_docs(page: str | None, full: bool, quick: bool, as_json: bool) -> None:
    """Print the reference: the same pages scripts read with docs.read()."""
    reference = load_reference()
    if quick:
        if page is None or reference.canonical(page) not in reference.integrations:
            raise click.BadParameter("--quick takes an integration name", param_hint="PAGE")
        page = f"{reference.canonical(page)}.quick"
    if page is None:
        if as_json:
            _echo_json({"pages": reference.names()})
        else:
            click.echo(reference.index(), nl=False)
        return
    name = reference.canonical(page)
    if full:
        if name not in reference.integrations:
            raise click.BadParameter("--full takes an integration name", param_hint="PAGE")
        click.echo(reference_document(reference.integrations[name]), nl=False)
        return
    if as_json:
        _echo_json(_page_data(reference, page, name))
    else:  # a page ends in a newline, the line that says there is none does not
        click.echo(reference.read(page), nl=name is None)
    if name is None:
        raise Failed(f"No page {page!r}")


def _page_data(reference: Reference, page: str, name: str | None) -> dict[str, Any]:
    if name is None:
        return {"page": page, "found": False, "text": reference.read(page)}
    data: dict[str, Any] = {"page": name, "found": True, "markdown": reference.read(name)}
    if "." in name and name.split(".")[0] in reference.integrations:
        tool = find_tool(name)
        data.update(
            lua=tool.lua_path,
            full_name=tool.full_name,
            access=tool.access,
            aliases=list(tool.aliases),
            method=tool.method,
            paths=list(tool.paths),
            summary=tool.summary,
            schema=tool.schema(),
        )
    return data


@click.command(
    "integrations:list",
    epilog="\b\nExample:\n  kosmo integrations:list --json",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def integrations_list(as_json: bool) -> None:
    """List integrations with their accounts, whether configured, and permissions."""
    config = Config.load()
    rows = []
    for integration in load():
        summary = status(config, integration)
        env = [f.env for f in integration.credentials if f.env and os.environ.get(f.env)]
        rows.append(
            {
                "name": integration.name,
                "title": integration.title,
                "summary": integration.summary,
                "functions": len(integration.tools),
                "accounts": [a["name"] for a in summary["accounts"]],
                "configured": bool(summary["accounts"] or env),
                "environment": env,
                "permissions": summary["permissions"],
            }
        )
    if as_json:
        _echo_json(rows)
        return
    for row in rows:
        state = "configured" if row["configured"] else "not configured"
        accounts = ", ".join(row["accounts"]) or "-"
        if row["environment"]:
            accounts += f" (+ {', '.join(row['environment'])})"
        permissions = row["permissions"]
        click.echo(
            f"{row['name']:<12} {state:<15} accounts: {accounts}   read {permissions['read']},"
            f" write {permissions['write']}   {row['functions']} functions"
        )


@click.command(
    "integrations:search",
    epilog="\b\nExample:\n  kosmo integrations:search retry",
)
@click.argument("query")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def integrations_search(query: str, as_json: bool) -> None:
    """Find functions by name and description, best match first."""
    lines = load_reference().search(query)
    if as_json:
        _echo_json(
            [dict(zip(("name", "summary"), line.split(" - ", 1), strict=True)) for line in lines]
        )
    elif lines:
        click.echo("\n".join(lines))
    else:
        click.echo(f"No functions match '{query}'.", err=True)
        raise Failed(f"No functions match '{query}'.")


@click.command(
    "integrations:schema",
    epilog="\b\nExamples:\n  kosmo integrations:schema buildkite.get_build"
    "\n  kosmo integrations:schema buildkite      every function's",
)
@click.argument("name", metavar="INTEGRATION[.FUNCTION]")
def integrations_schema(name: str) -> None:
    """Print the JSON Schema of a function's arguments, or of every function of an
    integration."""
    if "." not in name.removeprefix("integrations."):
        integration = find_integration(name.removeprefix("integrations."))
        _echo_json(
            {
                "title": integration.name,
                "description": integration.summary,
                "functions": {tool.name: _schema(tool) for tool in integration.tools},
            }
        )
        return
    _echo_json(_schema(find_tool(name)))


def _schema(tool: Tool) -> dict[str, Any]:
    return {"title": tool.full_name, "description": tool.summary, **tool.schema()}


@click.command(
    "integrations:status",
    epilog="\b\nExample:\n  kosmo integrations:status --json",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def integrations_status(as_json: bool) -> None:
    """Show what is configured, where it is stored, and the permissions. Never the secrets."""
    config = Config.load()
    entries = []
    for integration in load():
        entry = status(config, integration)
        entry["environment"] = {
            f.env: ("set (hidden)" if os.environ.get(f.env) else "not set")
            for f in integration.credentials
            if f.env
        }
        entries.append(entry)
    report = {
        "config_file": str(config.path),
        "config_file_exists": config.path.exists(),
        "integrations": entries,
    }
    if as_json:
        _echo_json(report)
        return
    click.echo(f"Settings: {config.path}" + ("" if config.path.exists() else " (not created yet)"))
    for entry in entries:
        permissions = entry["permissions"]
        click.echo(
            f"\n{entry['integration']}: read {permissions['read']}, write {permissions['write']}"
        )
        for account in entry["accounts"]:
            shown = ", ".join(f"{k}={v}" for k, v in account["settings"].items()) or "empty"
            click.echo(f"  account {account['name']}: {shown}")
        for variable, state in entry["environment"].items():
            click.echo(f"  {variable}: {state}")
