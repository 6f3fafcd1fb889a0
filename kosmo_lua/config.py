"""Settings on disk: integration accounts (with their secrets) and permissions.

Everything lives in ``$KOSMO_HOME/integrations.json`` (``~/.kosmo`` when KOSMO_HOME is unset),
written owner-only (0600) because it holds tokens::

    {"integrations": {"buildkite": {
        "permissions": {"read": "allow", "write": "ask"},
        "accounts": {"default": {"access_token": "…", "url": "…"}, "work": {…}}}}}

A file that cannot be read or has another shape is a ``ConfigFileError`` naming it, never a
traceback; ``read_json`` and ``expect`` serve the MCP files too.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
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

    def _integration(self, name: str) -> dict[str, Any]:
        integrations: dict[str, dict[str, Any]] = self._data.setdefault("integrations", {})
        return integrations.setdefault(name, {})

    def permission(self, integration: str, access: str) -> Policy:
        stored = self._integration(integration).get("permissions", {}).get(access)
        return stored if stored in POLICIES else DEFAULT_PERMISSIONS[access]

    def set_permission(self, integration: str, access: str, policy: Policy) -> None:
        self._integration(integration).setdefault("permissions", {})[access] = policy

    def account(self, integration: str, name: str) -> dict[str, str] | None:
        accounts: dict[str, dict[str, str]] = self._integration(integration).get("accounts", {})
        return accounts.get(name)

    def accounts(self, integration: str) -> list[str]:
        return sorted(self._integration(integration).get("accounts", {}))

    def set_account(self, integration: str, name: str, values: dict[str, str]) -> None:
        accounts = self._integration(integration).setdefault("accounts", {})
        accounts.setdefault(name, {}).update(values)

    def save(self) -> None:
        """Writes the file owner-only, replacing it atomically."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary = self.path.with_suffix(".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(self._data, handle, indent=2, sort_keys=True)
        os.chmod(temporary, 0o600)
        os.replace(temporary, self.path)


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
