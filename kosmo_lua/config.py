"""Settings on disk: integration accounts (with their secrets) and permissions.

Everything lives in ``$KOSMO_HOME/integrations.json`` (``~/.kosmo`` when KOSMO_HOME is unset),
written owner-only (0600) because it holds tokens::

    {"integrations": {"buildkite": {
        "permissions": {"read": "allow", "write": "ask"},
        "accounts": {"default": {"access_token": "…", "url": "…"}, "work": {…}}}}}
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

Policy = Literal["allow", "ask", "deny"]
POLICIES: tuple[Policy, ...] = ("allow", "ask", "deny")
DEFAULT_PERMISSIONS: dict[str, Policy] = {"read": "allow", "write": "ask"}
DEFAULT_ACCOUNT = "default"


def kosmo_home() -> Path:
    return Path(os.environ.get("KOSMO_HOME") or Path.home() / ".kosmo")


class Config:
    def __init__(self, path: Path, data: dict[str, Any]) -> None:
        self.path = path
        self._data = data

    @classmethod
    def load(cls, home: Path | None = None) -> Config:
        path = (home or kosmo_home()) / "integrations.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            data = {}
        except (OSError, ValueError) as exc:
            raise ValueError(f"Cannot read {path}: {exc}") from None
        return cls(path, data if isinstance(data, dict) else {})

    def _integration(self, name: str) -> dict[str, Any]:
        return self._data.setdefault("integrations", {}).setdefault(name, {})

    def permission(self, integration: str, access: str) -> Policy:
        stored = self._integration(integration).get("permissions", {}).get(access)
        return stored if stored in POLICIES else DEFAULT_PERMISSIONS[access]

    def set_permission(self, integration: str, access: str, policy: Policy) -> None:
        self._integration(integration).setdefault("permissions", {})[access] = policy

    def account(self, integration: str, name: str) -> dict[str, str] | None:
        return self._integration(integration).get("accounts", {}).get(name)

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
