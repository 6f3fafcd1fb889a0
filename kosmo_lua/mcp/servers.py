"""MCP server definitions, read from the files other tools already write.

A project keeps its servers in ``.mcp.json`` (Claude Code; key ``mcpServers``),
``.vscode/mcp.json`` (VS Code; key ``servers``, comments allowed) or ``.cursor/mcp.json``
(Cursor); the user's own are in ``$KOSMO_HOME/mcp.json``. Reusing those files means a project
that works with one agent works here without a second copy of its configuration.

A project file can start any program on this machine, so its servers run only once trusted:
``trust()`` records the definition's fingerprint in ``$KOSMO_HOME/mcp-trust.json``. The
fingerprint covers the file that defines the server and what it runs, variables expanded, so
trusting ``tools`` in one project trusts no ``tools`` elsewhere, and a changed definition
needs trusting again. The user's global servers are trusted by definition, and a project
cannot replace one: of two definitions of a name, the global one is used.

Definitions stay as written: ``${VAR}`` is expanded only by ``launch()``, when a trusted
server starts, so listings, ``mcp.servers()`` and error texts never show an environment value.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from ..config import expect, locked, read_json, write_json
from .errors import McpConfigError

PROJECT_FILES = (".mcp.json", ".vscode/mcp.json", ".cursor/mcp.json")
"""Project files: of a name they define, the first file's definition is used, unless the global
file defines it too."""
GLOBAL_FILE = "mcp.json"
TRUST_FILE = "mcp-trust.json"

ServerType = Literal["stdio", "http", "sse"]
Scope = Literal["project", "global"]

_TYPES = {"stdio": "stdio", "http": "http", "streamable-http": "http", "streamableHttp": "http"}
_VARIABLE = re.compile(r"\$\{(env:)?([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_COMMENT = r"//[^\n]*|/\*.*?\*/"
_JSONC_NOISE = re.compile(rf'"(?:\\.|[^"\\])*"|{_COMMENT}|,(?=(?:\s|{_COMMENT})*[}}\]])', re.S)
_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass
class ServerConfig:
    """One server as its file defines it, ``${VAR}`` left as written.

    ``problem`` says why the definition cannot be used (no command or URL, an unknown type);
    ``missing`` lists environment variables it uses that are unset and have no default.
    Both are reported when the server is used, so one bad entry does not hide the others.
    """

    name: str
    type: str
    """A ``ServerType``; another type is kept as written, and ``problem`` says so."""
    command: str | None = None
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None
    url: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    enabled: bool = True
    source: str = ""
    project: bool = False
    workspace: str | None = None
    """The project directory, for ``${workspaceFolder}`` and a relative ``cwd``."""
    trusted: bool = True
    changed: bool = False
    """Not trusted, though an earlier definition of this name in the same file was."""
    shadowed_by: str | None = None
    """The file whose definition of this name is used instead of this one."""
    fingerprint: str = ""
    missing: list[str] = field(default_factory=list)
    problem: str | None = None

    @property
    def lua_name(self) -> str:
        return lua_name(self.name)

    def target(self) -> str:
        """What runs or is reached, as written: the command line, or the URL."""
        if self.command is not None:
            return " ".join([self.command, *self.args])
        return self.url or ""

    def launch(self) -> ServerConfig:
        """This definition with its variables expanded, to start the server; the values go
        nowhere else."""
        workspace = Path(self.workspace) if self.workspace else None

        def expand(value: str) -> str:
            return _expand(value, workspace)

        cwd = None
        if self.cwd is not None:
            cwd = Path(expand(self.cwd))
            cwd = workspace / cwd if workspace and not cwd.is_absolute() else cwd
        return replace(
            self,
            command=None if self.command is None else expand(self.command),
            args=[expand(arg) for arg in self.args],
            env={key: expand(value) for key, value in self.env.items()},
            cwd=None if cwd is None else str(cwd),
            url=None if self.url is None else expand(self.url),
            headers={key: expand(value) for key, value in self.headers.items()},
        )

    def conceal(self, text: str) -> str:
        """``text`` with the value of every variable the definition uses put back as
        ``${NAME}``: what a failed start says (an OS error, the server's stderr) may quote
        the expanded command line."""
        for name in sorted(set(_variables(self._texts())), key=len, reverse=True):
            value = os.environ.get(name, "")
            if len(value) >= 4:  # shorter values would mangle every message
                text = text.replace(value, "${" + name + "}")
        return text

    def _texts(self) -> list[str]:
        fixed = [self.command, self.cwd, self.url]
        values = [*self.args, *self.env.values(), *self.headers.values()]
        return [text for text in (*fixed, *values) if text is not None]


def lua_name(name: str) -> str:
    """The name under ``app.mcp``: lower case, anything but ``[a-z0-9_]`` as ``_``."""
    return re.sub(r"[^a-z0-9_]", "_", name.lower())


def load_servers(project_dir: Path, home: Path) -> list[ServerConfig]:
    """The servers in use: of each name, the global definition, else the first project
    file's."""
    return [s for s in load_definitions(project_dir, home) if s.shadowed_by is None]


def load_definitions(project_dir: Path, home: Path) -> list[ServerConfig]:
    """Every definition in every file, in file order (project files first); a definition
    that another one of its name overrides has ``shadowed_by`` set."""
    trusted = _read_trust(home)
    found: list[ServerConfig] = []
    for path, project in _config_files(project_dir, home):
        for name, entry in _servers_in(path).items():
            server = _parse(name, entry, path, project_dir if project else None)
            if project:
                _judge_trust(server, trusted.get(name, {}))
            found.append(server)
    used: dict[str, ServerConfig] = {}
    for server in found:
        if server.name not in used or (used[server.name].project and not server.project):
            used[server.name] = server
    for server in found:
        if used[server.name] is not server:
            server.shadowed_by = used[server.name].source
    return found


def fingerprint(server: ServerConfig) -> str:
    """A hash of what trusting a definition approves: the file that defines it and what it
    runs or reaches, variables expanded (``${workspaceFolder}`` differs between projects).

    The environment and the headers count as written, unexpanded: a changed value
    (``NODE_OPTIONS``, or a new ``${GITHUB_TOKEN}`` sent to the server) needs trusting again,
    while a secret that changes behind its ``${VAR}`` does not, and no secret is hashed.
    """
    launch = server.launch()
    material = {
        "source": server.source,
        "type": server.type,
        "command": launch.command,
        "args": launch.args,
        "cwd": launch.cwd,
        "url": launch.url,
        "env": sorted(server.env.items()),
        "headers": sorted(server.headers.items()),
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()[:32]


def trust(name: str, config: ServerConfig, home: Path) -> Path:
    """Records that this definition of ``name`` may run; returns the trust file's path."""
    path = home / TRUST_FILE
    with _changing(home):
        data = _read_trust_file(path)
        entries = data.setdefault("trusted", {}).setdefault(name, {})
        entries[config.fingerprint] = {
            "source": config.source,
            "target": config.target(),
            "trusted_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        write_json(path, data, private=True)
    return path


def untrust(name: str, source: str, home: Path) -> bool:
    """Forgets every trusted definition of ``name`` in the file ``source``; False if there
    was none."""
    path = home / TRUST_FILE
    with _changing(home):
        data = _read_trust_file(path)
        entries = data.get("trusted", {}).get(name, {})
        kept = {key: record for key, record in entries.items() if record.get("source") != source}
        if len(kept) == len(entries):
            return False
        if kept:
            data["trusted"][name] = kept
        else:
            del data["trusted"][name]
        write_json(path, data, private=True)
    return True


def add_server(
    name: str,
    *,
    scope: Scope,
    project_dir: Path,
    home: Path,
    command: str | None = None,
    args: Iterable[str] = (),
    env: Mapping[str, str] | None = None,
    url: str | None = None,
    headers: Mapping[str, str] | None = None,
    replace: bool = False,
) -> Path:
    """Writes a server into ``.mcp.json`` (project) or ``$KOSMO_HOME/mcp.json`` (global),
    keeping every other entry; returns the file's path."""
    if not _NAME.match(name):
        raise McpConfigError(f"Invalid MCP server name {name!r}: use letters, digits, '_' and '-'")
    if (command is None) == (url is None):
        raise McpConfigError("An MCP server needs either a command (stdio) or a URL (http)")
    if command is not None:
        entry: dict[str, Any] = {"type": "stdio", "command": command, "args": list(args)}
        if env:
            entry["env"] = dict(env)
    else:
        entry = {"type": "http", "url": url}
        if headers:
            entry["headers"] = dict(headers)
    path = project_dir / PROJECT_FILES[0] if scope == "project" else home / GLOBAL_FILE
    with _changing(home):
        data = _read_json(path)
        key = "servers" if "servers" in data and "mcpServers" not in data else "mcpServers"
        servers = expect(dict, data.setdefault(key, {}), path, key)
        if name in servers and not replace:
            raise McpConfigError(f"MCP server '{name}' is already defined in {path}")
        servers[name] = entry
        write_json(path, data, private=scope == "global")
    return path


def remove_server(name: str, project_dir: Path, home: Path) -> Path:
    """Removes the definition of ``name`` that is in use (the global one, else the first
    project file's, as ``load_servers`` picks); returns that file's path. Removing a
    shadowed copy instead would leave the server running as before."""
    files = _config_files(project_dir, home)
    in_use_order = sorted(files, key=lambda file: file[1])  # global first; stable otherwise
    with _changing(home):
        for path, _ in in_use_order:
            data = _read_json(path)
            for key in ("mcpServers", "servers"):
                servers = expect(dict, data.get(key, {}), path, key)
                if name in servers:
                    del servers[name]
                    write_json(path, data, private=path == home / GLOBAL_FILE)
                    return path
    looked = ", ".join(str(path) for path, _ in files)
    raise McpConfigError(f"No MCP server named '{name}' (looked in {looked})")


# Reading -------------------------------------------------------------------------------------


def _config_files(project_dir: Path, home: Path) -> list[tuple[Path, bool]]:
    """Each file with whether it is a project's; absolute, since a source names a project."""
    project = project_dir.absolute()
    return [(project / name, True) for name in PROJECT_FILES] + [(home / GLOBAL_FILE, False)]


def _servers_in(path: Path) -> dict[str, Any]:
    data = _read_json(path)
    key = "mcpServers" if "mcpServers" in data else "servers"
    return expect(dict, data.get(key, {}), path, key)


def _read_json(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``, {} when there is no file; JSON with comments and trailing
    commas (VS Code's) too."""
    data = read_json(path, _loads_jsonc)
    return {} if data is None else expect(dict, data, path, "the top level")


def _loads_jsonc(text: str) -> Any:
    """JSON, or JSON with comments: those become spaces, so an error's line and column hold."""
    try:
        return json.loads(text)
    except ValueError:
        return json.loads(_JSONC_NOISE.sub(_blank_unless_string, text))


def _blank_unless_string(match: re.Match[str]) -> str:
    found = match.group(0)
    return found if found.startswith('"') else re.sub(r"[^\n]", " ", found)


def _parse(name: str, entry: Any, path: Path, workspace: Path | None) -> ServerConfig:
    server = ServerConfig(
        name=name,
        type="stdio",
        source=str(path),
        project=workspace is not None,
        workspace=None if workspace is None else str(workspace),
    )
    if not isinstance(entry, dict):
        server.problem = f"its definition in {path} is not an object"
        return server
    server.enabled = entry.get("enabled", True) is not False and entry.get("disabled") is not True
    declared = entry.get("type")
    if declared is None:
        declared = "stdio" if "command" in entry else "http" if "url" in entry else None
    if declared is None:
        server.problem = f"its definition in {path} has neither 'command' nor 'url'"
        return server
    server.type = _TYPES.get(str(declared), str(declared))
    if entry.get("command") is not None:
        server.command = str(entry["command"])
    server.args = [str(arg) for arg in _list(entry.get("args"))]
    server.env = {str(k): str(v) for k, v in _mapping(entry.get("env")).items()}
    if entry.get("cwd") is not None:
        server.cwd = str(entry["cwd"])
    if entry.get("url") is not None:
        server.url = str(entry["url"])
    server.headers = {str(k): str(v) for k, v in _mapping(entry.get("headers")).items()}
    server.missing = sorted(_unset(server._texts(), workspace))
    server.fingerprint = fingerprint(server)
    if server.type == "stdio" and not server.command:
        server.problem = f"it is a stdio server without a 'command' in {path}"
    elif server.type == "http" and not server.url:
        server.problem = f"it is an http server without a 'url' in {path}"
    elif server.type not in ("stdio", "http", "sse"):
        server.problem = f"its type {server.type!r} in {path} is not stdio or http"
    return server


def _judge_trust(server: ServerConfig, records: dict[str, Any]) -> None:
    """Trusted when this very definition was; ``changed`` when another definition of the
    name in the same file was."""
    server.trusted = bool(server.fingerprint) and server.fingerprint in records
    server.changed = not server.trusted and any(
        isinstance(record, dict) and record.get("source") == server.source
        for record in records.values()
    )


def _expand(value: str, workspace: Path | None) -> str:
    """``${VAR}``, ``${VAR:-default}`` and ``${env:VAR}`` from the environment (an unset
    variable without a default is empty); ``${workspaceFolder}`` is the project directory,
    as VS Code has it."""

    def replace(match: re.Match[str]) -> str:
        prefix, variable, default = match.groups()
        if variable == "workspaceFolder" and not prefix and workspace is not None:
            return str(workspace)
        found = os.environ.get(variable)
        if found is not None and (found or default is None):
            return found
        return default or ""

    return _VARIABLE.sub(replace, value)


def _variables(texts: Iterable[str]) -> list[str]:
    """The environment variables ``texts`` use."""
    return [m.group(2) for text in texts for m in _VARIABLE.finditer(text)]


def _unset(texts: Iterable[str], workspace: Path | None) -> set[str]:
    """The variables ``texts`` use that are unset and have no default (their names only)."""
    unset = set()
    for text in texts:
        for match in _VARIABLE.finditer(text):
            prefix, variable, default = match.groups()
            if variable == "workspaceFolder" and not prefix and workspace is not None:
                continue
            if default is None and os.environ.get(variable) is None:
                unset.add(variable)
    return unset


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _read_trust(home: Path) -> dict[str, dict[str, Any]]:
    trusted: dict[str, dict[str, Any]] = _read_trust_file(home / TRUST_FILE).get("trusted", {})
    return trusted


def _read_trust_file(path: Path) -> dict[str, Any]:
    """``{"trusted": {name: {fingerprint: {...}}}}``, its shape checked."""
    data = _read_json(path)
    trusted = expect(dict, data.get("trusted", {}), path, "trusted")
    for name, entries in trusted.items():
        expect(dict, entries, path, f"trusted.{name}")
    return data


# Writing (private files, those in $KOSMO_HOME, may hold tokens in headers) ------------------


def _changing(home: Path) -> AbstractContextManager[None]:
    """The lock every change to an MCP file or the trust file holds, read to write: one lock
    file in ``$KOSMO_HOME``, so a project directory gets no lock file of its own."""
    return locked(home / GLOBAL_FILE)
