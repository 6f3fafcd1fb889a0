"""Settings on disk: integration accounts (with their secrets) and permissions.

Everything lives in ``$KOSMO_HOME/integrations.json`` (``~/.kosmo`` when KOSMO_HOME is unset),
written owner-only (0600) because it holds tokens::

    {"integrations": {"buildkite": {
        "permissions": {"read": "allow", "write": "ask"},
        "accounts": {"default": {"access_token": "…", "url": "…"}, "work": {…}}}},
     "mcp": {"files": {"permissions": {"write": "allow"}}}}

MCP servers get the same read/write policy, per server name (``mcp``): a tool annotated
``readOnlyHint`` reads, any other tool writes.

A file that cannot be read or has another shape is a ``ConfigFileError`` naming it, never a
traceback; ``read_json`` and ``expect`` serve the MCP files too.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from .errors import ConfigFileError

if TYPE_CHECKING:
    from pathlib import Path

Policy = Literal["allow", "ask", "deny"]
POLICIES: tuple[Policy, ...] = ("allow", "ask", "deny")
DEFAULT_PERMISSIONS: dict[str, Policy] = {"read": "allow", "write": "ask"}
DEFAULT_ACCOUNT = "default"
SETTINGS_FILE = "integrations.json"

_T = TypeVar("_T")


def configure_args(integration: str, account: str) -> str:
    """The arguments of ``kosmo integrations:configure`` for one account, as error messages
    that say how to fix a setting quote them."""
    option = "" if account == DEFAULT_ACCOUNT else f" --account {account}"
    return f"{integration}{option}"


def kosmo_home() -> Path:
    from pathlib import Path  # pathlib costs a tenth of `integrations:lua` start-up

    return Path(_home())


def _home() -> str:
    return os.environ.get("KOSMO_HOME") or os.path.join(os.path.expanduser("~"), ".kosmo")


def check_settings() -> None:
    """Raises ``ConfigFileError`` if the settings file exists and is broken.

    ``integrations:lua`` calls it before every run: one failed ``open`` when there is no
    file, and no import.
    """
    _read_settings(os.path.join(_home(), SETTINGS_FILE))


class Config:
    def __init__(self, path: Path, data: dict[str, Any]) -> None:
        self.path = path
        self._data = data

    @classmethod
    def load(cls, home: Path | None = None) -> Config:
        """The settings in ``home`` (``$KOSMO_HOME``); none yet when there is no file."""
        path = (home or kosmo_home()) / SETTINGS_FILE
        return cls(path, _read_settings(str(path)))

    @classmethod
    @contextmanager
    def edit(cls, home: Path | None = None) -> Iterator[Config]:
        """The settings to change, saved when the block ends without an error.

        The file is read and written under its lock, so two ``configure`` runs at once each
        see the other's change instead of overwriting it.
        """
        path = (home or kosmo_home()) / SETTINGS_FILE
        with locked(path):
            config = cls(path, _read_settings(str(path)))
            yield config
            config.save()

    def _integration(self, name: str) -> dict[str, Any]:
        return self._entry("integrations", name)

    def _entry(self, section: str, name: str) -> dict[str, Any]:
        entries: dict[str, dict[str, Any]] = self._data.setdefault(section, {})
        return entries.setdefault(name, {})

    def permission(self, integration: str, access: str) -> Policy:
        return _policy(self._integration(integration), access)

    def set_permission(self, integration: str, access: str, policy: Policy) -> None:
        self._integration(integration).setdefault("permissions", {})[access] = policy

    def mcp_permission(self, server: str, access: str) -> Policy:
        """The policy for an MCP server's reads or writes (read allow, write ask by default)."""
        return _policy(self._entry("mcp", server), access)

    def set_mcp_permission(self, server: str, access: str, policy: Policy) -> None:
        self._entry("mcp", server).setdefault("permissions", {})[access] = policy

    def account(self, integration: str, name: str) -> dict[str, str] | None:
        accounts: dict[str, dict[str, str]] = self._integration(integration).get("accounts", {})
        return accounts.get(name)

    def accounts(self, integration: str) -> list[str]:
        return sorted(self._integration(integration).get("accounts", {}))

    def set_account(self, integration: str, name: str, values: dict[str, str]) -> None:
        accounts = self._integration(integration).setdefault("accounts", {})
        accounts.setdefault(name, {}).update(values)

    def save(self) -> None:
        """Writes the file owner-only, replacing it atomically (``write_json``)."""
        write_json(self.path, self._data, sort_keys=True)


def write_json(path: Path, data: Any, *, private: bool = True, sort_keys: bool = False) -> None:
    """Replaces ``path`` with ``data`` as JSON, atomically (``write_text``)."""
    write_text(path, json.dumps(data, indent=2, sort_keys=sort_keys) + "\n", private=private)


def write_text(path: Path, text: str, *, private: bool = True) -> None:
    """Replaces ``path`` with ``text``, atomically; ``private`` files are owner-only.

    The new text goes to a temporary file that ``mkstemp`` creates exclusively under a random
    name beside ``path`` (``O_EXCL``, ``O_NOFOLLOW``): nothing planted there, a symlink
    included, can redirect the write. ``os.replace`` then swaps the name itself, so a symlink
    at ``path`` is replaced, not followed.
    """
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700 if private else 0o777)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            os.fchmod(handle.fileno(), 0o600 if private else 0o644)
            handle.write(text)
        os.replace(temporary, path)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Holds the lock for changing ``path``: read it, change it and write it inside.

    The lock is ``flock`` on ``<path>.lock`` beside it, which is never replaced (``path``
    itself is, by every write, so it cannot carry a lock).
    """
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(path.with_name(path.name + ".lock"), flags, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _policy(entry: dict[str, Any], access: str) -> Policy:
    stored = entry.get("permissions", {}).get(access)
    return stored if stored in POLICIES else DEFAULT_PERMISSIONS[access]


def _read_settings(path: str) -> dict[str, Any]:
    """The settings file's data, in the shape the methods above rely on; {} when absent."""
    data = read_json(path)
    if data is None:
        return {}
    data = expect(dict, data, path, "the top level")
    integrations = expect(dict, data.get("integrations", {}), path, "integrations")
    for name, integration in integrations.items():
        where = f"integrations.{name}"
        expect(dict, integration, path, where)
        expect(dict, integration.get("permissions", {}), path, f"{where}.permissions")
        accounts = expect(dict, integration.get("accounts", {}), path, f"{where}.accounts")
        for account, values in accounts.items():
            for key, value in expect(dict, values, path, f"{where}.accounts.{account}").items():
                expect(str, value, path, f"{where}.accounts.{account}.{key}")
    for name, server in expect(dict, data.get("mcp", {}), path, "mcp").items():
        expect(dict, server, path, f"mcp.{name}")
        expect(dict, server.get("permissions", {}), path, f"mcp.{name}.permissions")
    return data


def read_json(path: str | Path, loads: Callable[[str], Any] = json.loads) -> Any:
    """The JSON value in ``path``, None when there is no such file; a ``ConfigFileError``
    names the file and what is wrong with it."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except UnicodeDecodeError as exc:
        raise ConfigFileError(path, f"is not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise ConfigFileError(path, f"cannot be read ({exc.strerror})") from None
    try:
        return loads(text)
    except json.JSONDecodeError as exc:
        position = f"line {exc.lineno}, column {exc.colno}"
        raise ConfigFileError(path, f"is not valid JSON ({position}): {exc.msg}") from None


_JSON_TYPES = {
    dict: "an object",
    list: "an array",
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "true or false",
    type(None): "null",
}


def expect(kind: type[_T], value: object, path: str | Path, where: str) -> _T:
    """``value`` if it is a ``kind``; else a ``ConfigFileError`` says where in the file it is
    not."""
    if not isinstance(value, kind):
        wrong = f"{where} should be {_JSON_TYPES[kind]}, not {_JSON_TYPES[type(value)]}"
        raise ConfigFileError(path, f"has the wrong shape: {wrong}")
    return value
