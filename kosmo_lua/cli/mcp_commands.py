"""``kosmo mcp:*``: run Lua with MCP helpers, manage MCP servers, and serve this host."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..config import check_settings, kosmo_home
from ..dispatch import AppDispatcher
from ..limits import MIN_MEMORY
from ..mcp.serve import RunLimits, serve
from ..runtime.supervisor import Worker
from .json_command import JsonAwareCommand
from .lua_command import ByteSize, Seconds, limits_from, run_options, run_script
from .name_value import NAME_VALUE, typed_arguments

if TYPE_CHECKING:
    from ..mcp.client import McpHub
    from ..mcp.servers import Scope, ServerConfig

TOKEN_VARIABLE = "KOSMO_MCP_TOKEN"
"""Where ``mcp:serve --http`` finds its token when ``--auth-token-env`` names no other."""
_CAPS = RunLimits()


def _echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


def _servers() -> list[ServerConfig]:
    from ..mcp.servers import load_servers

    return load_servers(Path.cwd(), kosmo_home())


def _hub(force: bool) -> McpHub:
    from ..mcp.client import McpHub

    return McpHub(_servers(), force=force)


def _failure(message: str) -> dict[str, Any]:
    """What ``mcp:tools --json`` and ``mcp:call --json`` print when they fail."""
    return {"success": False, "result": None, "error": message}


@click.command(
    "mcp:lua",
    cls=JsonAwareCommand,
    epilog="""\b
Examples:
  kosmo mcp:lua -e 'print(mcp.tools())'
  kosmo mcp:lua -e 'return app.mcp.github.search_issues{query = "bug"}' --json
  kosmo mcp:lua workflow.lua --force      (--force approves tools not annotated read-only)

Inside Lua: mcp.*, app.mcp.<server>.<tool>(args), json, regex, print, dump.""",
)
@run_options
def mcp_lua(**options: Any) -> None:
    """Run Lua with only the MCP helpers: mcp.* and app.mcp.*."""
    _servers()  # the worker reads them on the first call: a broken file is a usage error
    dispatch = AppDispatcher.factory(force=options["force"], integrations=False)
    run_script(Worker(limits_from(options), dispatch, hide=("docs",)), options, meta={})


@click.command("mcp:list", epilog="\b\nExample:\n  kosmo mcp:list --json")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def mcp_list(as_json: bool) -> None:
    """List configured MCP servers, where each is defined, and whether it is trusted."""
    from ..mcp.servers import load_definitions

    rows = [_listed(s) for s in load_definitions(Path.cwd(), kosmo_home())]
    if as_json:
        _echo_json(rows)
        return
    if not rows:
        click.echo("No MCP servers configured. Add one: kosmo mcp:add NAME -- COMMAND ARGS…")
    for row in rows:
        flags = [] if row["enabled"] else ["disabled"]
        if row["shadowed_by"]:
            flags.append(f"not used: shadowed by {row['shadowed_by']}")
        elif row["trust"] == "changed":
            flags.append("changed since trusted: check it, then kosmo mcp:trust " + row["name"])
        elif row["trust"] == "untrusted":
            flags.append("untrusted: kosmo mcp:trust " + row["name"])
        suffix = f"  ({'; '.join(flags)})" if flags else ""
        click.echo(f"{row['name']:<16} {row['type']:<6} {row['target']}  [{row['source']}]{suffix}")


def _listed(server: ServerConfig) -> dict[str, Any]:
    """One ``mcp:list`` row: the definition as written (no environment value), and its state.

    ``trust`` is ``global`` (trusted as the user's own), ``trusted``, ``untrusted`` or
    ``changed`` (this name in this file was trusted with another definition).
    """
    trust = "global" if not server.project else "trusted" if server.trusted else "untrusted"
    return {
        "name": server.name,
        "type": server.type,
        "enabled": server.enabled,
        "source": server.source,
        "target": server.target(),
        "trusted": server.trusted,
        "trust": "changed" if server.changed else trust,
        "shadowed_by": server.shadowed_by,
        "lua": f"app.mcp.{server.lua_name}",
        **({"problem": server.problem} if server.problem else {}),
    }


@click.command(
    "mcp:tools",
    cls=JsonAwareCommand,
    error_envelope=_failure,
    epilog="\b\nExamples:\n  kosmo mcp:tools\n  kosmo mcp:tools github --json",
)
@click.argument("server", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON, with input schemas.")
def mcp_tools(server: str | None, as_json: bool) -> None:
    """List the tools of one server, or of every usable server."""
    with _hub(force=False) as hub:
        tools = hub.tools(server)
    if as_json:
        _echo_json(tools)
        return
    untrusted = [s.name for s in _servers() if not s.trusted and s.enabled]
    if untrusted and server is None:
        click.echo(
            f"Not started, untrusted: {', '.join(untrusted)} (kosmo mcp:trust NAME)", err=True
        )
    for tool in tools:
        click.echo(f"{tool['qualified']:<32} {tool.get('description') or ''}".rstrip())


@click.command(
    "mcp:call",
    cls=JsonAwareCommand,
    error_envelope=_failure,
    epilog="""\b
Examples:
  kosmo mcp:call github.search_issues --arg query=bug --arg limit=5
  kosmo mcp:call fs.read_file --arg path=README.md --json

Values are typed from the tool's input schema: numbers, booleans and JSON for objects.
A tool not annotated readOnlyHint may write: it needs --force, or for good
kosmo integrations:configure mcp.SERVER --write allow.""",
)
@click.argument("tool")
@click.option("--arg", "arguments", type=NAME_VALUE, multiple=True, help="An argument; repeatable.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON envelope.")
@click.option(
    "--force", is_flag=True, help="Approve a tool not annotated read-only (a write) this once."
)
def mcp_call(tool: str, arguments: tuple[tuple[str, str], ...], as_json: bool, force: bool) -> None:
    """Call one MCP tool ("server.tool") and print its result as JSON."""
    with _hub(force) as hub:
        result = hub.call(tool, typed_arguments(arguments, hub.schema(tool)))
    _echo_json({"success": True, "result": result, "error": None} if as_json else result)


@click.command(
    "mcp:add",
    epilog="""\b
Examples:
  kosmo mcp:add files -- npx -y @modelcontextprotocol/server-filesystem .
  kosmo mcp:add search --global --url https://mcp.example.com/mcp \\
      --header 'Authorization=Bearer ${TOKEN}'
  kosmo mcp:add local --env API_KEY='${API_KEY}' -- python server.py""",
)
@click.argument("name")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.option(
    "--project",
    "scope",
    flag_value="project",
    default=True,
    help="Write .mcp.json in this directory (default).",
)
@click.option(
    "--global",
    "scope",
    flag_value="global",
    help="Write $KOSMO_HOME/mcp.json: available everywhere, trusted.",
)
@click.option("--url", help="A streamable HTTP server instead of a command.")
@click.option(
    "--header", "headers", type=NAME_VALUE, multiple=True, help="HTTP header; ${VAR} expands."
)
@click.option(
    "--env",
    "env",
    type=NAME_VALUE,
    multiple=True,
    help="Environment for a stdio server; ${VAR} expands.",
)
def mcp_add(
    name: str,
    command: tuple[str, ...],
    scope: Scope,
    url: str | None,
    headers: tuple[tuple[str, str], ...],
    env: tuple[tuple[str, str], ...],
) -> None:
    """Add an MCP server: a command after --, or --url."""
    from ..mcp.servers import add_server

    if bool(command) == bool(url):
        raise click.UsageError("Give either a command after -- or --url, not both.")
    path = add_server(
        name,
        scope=scope,
        project_dir=Path.cwd(),
        home=kosmo_home(),
        command=command[0] if command else None,
        args=command[1:],
        env=dict(env),
        url=url,
        headers=dict(headers),
    )
    click.echo(f"Added MCP server '{name}' to {path}")
    if scope == "project":
        click.echo(f"Project servers start only when trusted: kosmo mcp:trust {name}")


@click.command("mcp:remove", epilog="\b\nExample:\n  kosmo mcp:remove files")
@click.argument("name")
def mcp_remove(name: str) -> None:
    """Remove an MCP server from the file that defines it."""
    from ..mcp.servers import remove_server, untrust

    path = remove_server(name, Path.cwd(), kosmo_home())
    untrust(name, str(path), kosmo_home())
    click.echo(f"Removed MCP server '{name}' from {path}")
    still = next((s for s in _servers() if s.name == name), None)
    if still is not None:
        click.echo(f"'{name}' is still defined in {still.source}, which is now used.")


@click.command("mcp:trust", epilog="\b\nExample:\n  kosmo mcp:trust files")
@click.argument("name")
def mcp_trust(name: str) -> None:
    """Allow a server defined by a project file to start (a changed definition asks again)."""
    from ..mcp.servers import trust

    config = next((s for s in _servers() if s.name == name), None)
    if config is None:
        raise click.UsageError(f"No MCP server named '{name}'; see kosmo mcp:list")
    if not config.project:
        click.echo(f"'{name}' is defined in {config.source}, a global file: it is trusted.")
        return
    trust(name, config, kosmo_home())
    click.echo(f"Trusted '{name}': {config.target()} (from {config.source})")


@click.command(
    "mcp:serve",
    epilog="""\b
Examples:
  kosmo mcp:serve                          stdio, for an MCP client's configuration
  kosmo mcp:serve --expose-integrations    also each integration function as a tool
  kosmo mcp:serve --emulate                every integration against its emulator
  kosmo mcp:serve --http --port 8765       streamable HTTP at http://127.0.0.1:8765/mcp
  KOSMO_MCP_TOKEN=… kosmo mcp:serve --http --host 0.0.0.0    off loopback: a token is required

\b
In an MCP client (.mcp.json, Claude Desktop, VS Code):
  {"mcpServers": {"kosmo": {"command": "kosmo", "args": ["mcp:serve"]}}}""",
)
@click.option("--http", "use_http", is_flag=True, help="Serve streamable HTTP instead of stdio.")
@click.option("--host", default="127.0.0.1", show_default=True, help="HTTP address.")
@click.option("--port", default=8765, show_default=True, help="HTTP port.")
@click.option(
    "--auth-token-env",
    metavar="NAME",
    help=f"HTTP clients must send Authorization: Bearer with the token in the environment"
    f" variable NAME (default: {TOKEN_VARIABLE}, when set). Required off loopback.",
)
@click.option("--read-only", is_flag=True, help="Hide write functions; Lua may not call them.")
@click.option(
    "--expose-integrations", is_flag=True, help="Offer every integration function as its own tool."
)
@click.option(
    "--force", is_flag=True, help="Approve every write the permission policy would refuse."
)
@click.option(
    "--emulate",
    is_flag=True,
    help="Run every integration against its built-in emulator (demo data, no token, no"
    " network), as integrations:lua --emulate does: for trying an agent offline.",
)
@click.option(
    "--timeout",
    type=Seconds(),
    default=_CAPS.timeout_seconds,
    show_default=True,
    help="Wall-clock limit of each run; a client may ask for less.",
)
@click.option(
    "--max-memory-limit",
    type=ByteSize(minimum=MIN_MEMORY),
    default=_CAPS.max_memory_bytes,
    show_default="256 MiB",
    help="The most memoryLimit a client may ask for.",
)
@click.option(
    "--max-cpu-limit",
    type=Seconds(),
    default=_CAPS.max_cpu_seconds,
    show_default=True,
    help="The most cpuLimit a client may ask for.",
)
@click.option(
    "--max-runs",
    type=click.IntRange(min=1),
    default=_CAPS.max_runs,
    show_default=True,
    help="Runs at once, each in its own worker (checks, done in the server, count too);"
    " more wait for a free one.",
)
def mcp_serve(
    use_http: bool,
    host: str,
    port: int,
    auth_token_env: str | None,
    read_only: bool,
    expose_integrations: bool,
    force: bool,
    emulate: bool,
    **caps: Any,
) -> None:
    """Serve this host over MCP: execute_lua, lua_read_doc, lua_list_docs, lua_search_docs."""
    check_settings()  # tools read both when a client calls: say now that a file is broken
    servers = _servers()
    serve(
        transport="http" if use_http else "stdio",
        read_only=read_only,
        expose_integrations=expose_integrations,
        force=force,
        host=host,
        port=port,
        limits=RunLimits(
            timeout_seconds=caps["timeout"],
            max_memory_bytes=caps["max_memory_limit"],
            max_cpu_seconds=caps["max_cpu_limit"],
            max_runs=caps["max_runs"],
        ),
        auth_token=_auth_token(auth_token_env, use_http),
        mcp_servers=bool(servers),
        emulate=emulate,
    )


def _auth_token(variable: str | None, use_http: bool) -> str | None:
    """The token HTTP clients must send, read from the environment: on the command line it
    would show in ``ps``."""
    if variable is None:
        token = os.environ.get(TOKEN_VARIABLE) if use_http else None
        return token or None
    if not use_http:
        raise click.UsageError("--auth-token-env applies to --http only.")
    token = os.environ.get(variable)
    if not token:
        raise click.UsageError(
            f"--auth-token-env {variable}: the environment variable {variable} is not set"
            " or empty; put the token there first."
        )
    return token
