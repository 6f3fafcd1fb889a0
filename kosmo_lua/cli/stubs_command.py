"""``kosmo integrations:stubs``: LuaCATS files for lua-language-server."""

from __future__ import annotations

from pathlib import Path

import click

from ..config import Config, kosmo_home, write_text
from ..errors import UsageError
from ..integrations import load


@click.command(
    "integrations:stubs",
    epilog="""\b
Examples:
  kosmo integrations:stubs                      writes ./.kosmo-stubs/
  kosmo integrations:stubs --output types       then open the folder in your editor
\b
The folder gets one ---@meta file per integration (records, functions, accounts), kosmo.lua
(app, docs, json, regex, mcp, dump, sleep), mcp.lua with the tools of every MCP server that
may start (a project's only once trusted; each is started to list its tools) and a
.luarc.json to copy beside your scripts, or point "workspace.library" in yours at the folder.""",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(".kosmo-stubs"),
    show_default=True,
    help="Folder to write the stubs into (made if missing; its stub files are replaced).",
)
def integrations_stubs(output: Path) -> None:
    """Write LuaCATS stubs so lua-language-server completes and checks workflow files."""
    from ..mcp.servers import load_servers
    from ..mcp.stubs import server_tools
    from ..stubs import stub_files

    if output.is_symlink():  # the default folder is the project's, which may not be yours
        raise UsageError(
            f"{output} is a link to {output.readlink()}: stubs are not written through links."
            " Give --output the folder itself."
        )
    config = Config.load()
    integrations = load()
    accounts = {i.name: config.accounts(i.name) for i in integrations}
    servers = load_servers(Path.cwd(), kosmo_home())
    tools, notes = server_tools(servers)
    for note in notes:
        click.echo(note, err=True)
    files = stub_files(integrations, accounts, [s.lua_name for s in servers], tools)
    try:
        for name, text in files.items():
            # A new file put in place of the old: a link planted there (the default folder
            # is in the project, which may not be the user's) is replaced, not written through.
            write_text(output / name, text, private=False)
    except OSError as exc:
        raise UsageError(f"Cannot write stubs to {output}: {exc.strerror or exc}") from None
    click.echo(f"Wrote LuaCATS stubs to {output}/ (lua-language-server: see {output}/.luarc.json)")
