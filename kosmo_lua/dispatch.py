"""Where ``app.*`` calls go: built lazily, so a script that calls nothing imports nothing.

The CLI hands ``AppDispatcher.factory(...)`` to the worker; the worker builds one dispatcher
per process and the first ``app.integrations.*`` call loads the integrations and the HTTP
stack.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from .runtime.supervisor import DispatchFactory, Report


class AppDispatcher:
    def __init__(
        self,
        report: Report,
        *,
        force: bool = False,
        emulate: bool = False,
        emulate_data: str | None = None,
    ) -> None:
        self._report = report
        self._force = force
        self._emulate = emulate
        self._emulate_data = emulate_data
        self._invoker: Callable[[str, list[Any]], tuple[Any, ...]] | None = None

    @classmethod
    def factory(
        cls, *, force: bool = False, emulate: bool = False, emulate_data: str | None = None
    ) -> DispatchFactory:
        return lambda report: cls(report, force=force, emulate=emulate, emulate_data=emulate_data)

    def __call__(self, path: str, args: list[Any]) -> tuple[Any, ...]:
        if self._invoker is None:
            self._invoker = self._build_invoker()
        return self._invoker(path, args)

    def _build_invoker(self) -> Callable[[str, list[Any]], tuple[Any, ...]]:
        from .catalog import Catalog
        from .config import Config
        from .integrations import load
        from .invoker import Invoker

        return Invoker(
            Catalog(load()),
            Config.load(),
            force=self._force,
            report=self._report,
            emulate=self._emulate,
            emulate_data=self._emulate_data,
            environ=dict(os.environ),
        )
