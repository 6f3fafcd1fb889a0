"""The integrations that ship with kosmo-lua, loaded only when a script or command uses one."""

from __future__ import annotations

from ..tools import Integration


def load() -> list[Integration]:
    from .buildkite import INTEGRATION as buildkite

    return [buildkite]
