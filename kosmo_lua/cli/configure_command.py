"""``kosmo integrations:configure``: store an account's credentials and the permissions."""

from __future__ import annotations

import json
import re
from typing import Any

import click

from ..config import DEFAULT_ACCOUNT, POLICIES, Config, Policy, configure_args
from ..errors import ConfigError
from ..integrations import load
from ..rest import INSECURE_HTTP, check_base_url
from ..tools import Integration
from .name_value import NAME_VALUE


def find_integration(name: str) -> Integration:
    integrations = {i.name: i for i in load()}
    if name not in integrations:
        raise click.BadParameter(
            f"unknown integration {name!r}; available: {', '.join(sorted(integrations))}",
            param_hint="NAME",
        )
    return integrations[name]


@click.command(
    "integrations:configure",
    epilog="""\b
Examples:
  kosmo integrations:configure buildkite --set access_token=bkua_...
  kosmo integrations:configure buildkite --account work --set access_token=bkua_... \\
      --set url=https://api.buildkite.com/v2
  kosmo integrations:configure buildkite --write allow
  kosmo integrations:configure mcp.files --write allow     (an MCP server's tools)

\b
Settings live in $KOSMO_HOME/integrations.json (~/.kosmo without KOSMO_HOME), owner-only.
Without a stored token, the default account uses BUILDKITE_API_TOKEN.""",
)
@click.argument("name")
@click.option(
    "--set",
    "settings",
    type=NAME_VALUE,
    multiple=True,
    help="A credential field, e.g. access_token=… or url=…. Repeatable.",
)
@click.option(
    "--account",
    default=DEFAULT_ACCOUNT,
    show_default=True,
    help="Account name; scripts reach it as app.integrations.NAME.ACCOUNT.*",
)
@click.option("--read", type=click.Choice(POLICIES), help="Permission for read functions.")
@click.option("--write", type=click.Choice(POLICIES), help="Permission for write functions.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def integrations_configure(
    name: str,
    settings: tuple[tuple[str, str], ...],
    account: str,
    read: Policy | None,
    write: Policy | None,
    as_json: bool,
) -> None:
    """Store credentials of an integration account, and its read/write permissions.

    NAME may also be mcp.SERVER: the read/write permissions of an MCP server's tools.
    """
    if name.startswith("mcp."):
        if settings or account != DEFAULT_ACCOUNT:
            raise click.UsageError(f"{name} takes only --read and --write.")
        _configure_mcp(name.removeprefix("mcp."), read, write, as_json)
        return
    integration = find_integration(name)
    allowed = [f.name for f in integration.credentials]
    if integration.credential("base_url"):
        allowed.append(INSECURE_HTTP)
    values: dict[str, str] = {}
    for key, value in settings:
        if key not in allowed:
            raise click.BadParameter(
                f"{key!r} is not a {integration.title} setting; use one of"
                f" {', '.join(f'{k}=…' for k in allowed)}",
                param_hint="--set",
            )
        if key == INSECURE_HTTP and value not in ("true", "false"):
            raise click.BadParameter(f"{INSECURE_HTTP} is true or false", param_hint="--set")
        values[key] = value
    if not values and not read and not write:
        raise click.UsageError("Nothing to change: give --set NAME=VALUE, --read or --write.")
    with Config.edit() as config:
        if values:
            _check_base_url(
                integration, account, {**(config.account(name, account) or {}), **values}
            )
            config.set_account(name, account, values)
        for access, policy in (("read", read), ("write", write)):
            if policy:
                config.set_permission(name, access, policy)
    summary = status(config, integration)
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    click.echo(f"Saved {integration.title} settings to {config.path}")
    click.echo(
        f"  permissions: read {summary['permissions']['read']},"
        f" write {summary['permissions']['write']}"
    )
    for row in summary["accounts"]:
        shown = ", ".join(f"{k}={v}" for k, v in row["settings"].items())
        click.echo(f"  account {row['name']}: {shown}")


def _check_base_url(integration: Integration, account: str, settings: dict[str, str]) -> None:
    """The account's base URL must be one a token may travel to (https, or loopback, or
    the documented opt-in): refused here, before it is stored."""
    field = integration.credential("base_url")
    url = settings.get(field.name) or field.default if field else None
    if not field or not url:
        return
    command = configure_args(integration.name, account)
    try:
        check_base_url(url, settings.get(INSECURE_HTTP) == "true", configure=command)
    except ConfigError as exc:
        raise click.BadParameter(str(exc), param_hint=f"--set {field.name}") from None


def _configure_mcp(server: str, read: Policy | None, write: Policy | None, as_json: bool) -> None:
    """Stores an MCP server's permissions (by name, wherever it is defined: trusting it is
    what lets it start)."""
    if not re.match(r"^[A-Za-z0-9_-]+$", server):
        raise click.BadParameter(f"{server!r} is not an MCP server name", param_hint="NAME")
    if not read and not write:
        raise click.UsageError("Nothing to change: give --read or --write.")
    with Config.edit() as config:
        for access, policy in (("read", read), ("write", write)):
            if policy:
                config.set_mcp_permission(server, access, policy)
    permissions = {a: config.mcp_permission(server, a) for a in ("read", "write")}
    if as_json:
        click.echo(json.dumps({"mcp_server": server, "permissions": permissions}, indent=2))
        return
    click.echo(f"Saved MCP server '{server}' permissions to {config.path}")
    click.echo(f"  permissions: read {permissions['read']}, write {permissions['write']}")


def status(config: Config, integration: Integration) -> dict[str, Any]:
    """What is configured for an integration, with secrets masked."""
    accounts = []
    for account in config.accounts(integration.name):
        stored = config.account(integration.name, account) or {}
        accounts.append(
            {
                "name": account,
                "settings": {
                    f.name: ("set (hidden)" if f.secret else stored[f.name])
                    for f in integration.credentials
                    if stored.get(f.name)
                },
            }
        )
    return {
        "integration": integration.name,
        "permissions": {a: config.permission(integration.name, a) for a in ("read", "write")},
        "accounts": accounts,
    }
