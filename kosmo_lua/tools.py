"""Integration functions declared as data: one record per function.

From these records come the Lua functions, argument validation, the ``docs.read`` pages,
JSON Schemas (``integrations:schema``, MCP tools) and the generated reference in docs/.
A new REST integration needs a table of ``Tool`` records and an overview, no host code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

Access = Literal["read", "write"]
Location = Literal["path", "query", "body", "auto", "option"]
"""Where an argument goes: into the path template, the query string, the JSON body,
``auto`` (query for GET, body otherwise), or ``option`` (read by the handler, never sent)."""

ParamType = Literal["string", "integer", "number", "boolean", "object", "array", "string|array"]

JSON_TYPES: dict[str, Any] = {
    "string": {"type": "string"},
    "integer": {"type": "integer"},
    "number": {"type": "number"},
    "boolean": {"type": "boolean"},
    "object": {"type": "object"},
    "array": {"type": "array"},
    "string|array": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
}


@dataclass(frozen=True)
class Param:
    name: str
    type: ParamType
    description: str
    required: bool = False
    location: Location = "auto"
    default: Any = None
    example: Any = None
    minimum: int | None = None
    enum: tuple[str, ...] | None = None
    keyword_only: bool = False
    """Only by name: never bound from a positional argument."""

    def schema(self) -> dict[str, Any]:
        """The JSON Schema of this parameter."""
        schema: dict[str, Any] = {**JSON_TYPES[self.type], "description": self.description}
        if self.default is not None:
            schema["default"] = self.default
        if self.minimum is not None:
            schema["minimum"] = self.minimum
        if self.enum:
            schema["enum"] = list(self.enum)
        if self.example is not None:
            schema["examples"] = [self.example]
        return schema


BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})

PAYLOAD = Param(
    "payload",
    "object",
    "The JSON request body, or part of it: merged with the named body fields (a key given"
    " both ways with different values is an error); keys no parameter names are sent as given.",
    location="body",
)
WITH_META = Param(
    "with_meta",
    "boolean",
    "Also return the response's metadata as a second value: `{status, next_page, last_page,"
    " rate_limit, pages}`.",
    location="option",
    keyword_only=True,
)
"""Every tool takes these two, added by ``Integration`` where the table does not declare
them: ``payload`` on tools that send a body, ``with_meta`` on all (see ``host_params``)."""


Handler = Callable[..., Any]
"""A handler for a tool a path template cannot express: ``handler(call) -> (data, meta)``."""


@dataclass(frozen=True)
class Tool:
    """One integration function.

    ``paths`` lists path templates, most specific first: the first whose parameters are all
    given is used (list_builds works per pipeline, per organization or across all).
    """

    name: str
    summary: str
    access: Access
    method: str
    paths: tuple[str, ...]
    params: tuple[Param, ...] = ()
    aliases: tuple[str, ...] = ()
    returns: str = ""
    example: str = ""
    paginated: bool = False
    handler: Handler | None = None
    notes: str = ""
    integration: str = field(default="", compare=False)

    @property
    def full_name(self) -> str:
        """``buildkite.buildkite_get_build``: the name MCP clients and the original use."""
        return f"{self.integration}.{self.integration}_{self.name}"

    @property
    def lua_path(self) -> str:
        return f"app.integrations.{self.integration}.{self.name}"

    @property
    def positional(self) -> tuple[Param, ...]:
        """The parameters a positional call binds, in order."""
        return tuple(p for p in self.params if not p.keyword_only)

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)

    def schema(self) -> dict[str, Any]:
        """The JSON Schema of the named-arguments table."""
        return {
            "type": "object",
            "properties": {p.name: p.schema() for p in self.params},
            "required": [p.name for p in self.params if p.required],
            "additionalProperties": False,
        }


def host_params(tool: Tool) -> tuple[Param, ...]:
    """The parameters the host adds to a tool: the same rule for every integration, so
    scripts written for the original (``payload = {...}`` on any write) run everywhere."""
    wanted = [WITH_META]
    if tool.method in BODY_METHODS:
        wanted.insert(0, PAYLOAD)
    return tuple(p for p in wanted if tool.param(p.name) is None)


@dataclass(frozen=True)
class CredentialField:
    name: str
    description: str
    secret: bool = False
    required: bool = False
    default: str | None = None
    env: str | None = None


@dataclass
class Integration:
    """An integration: its tools, credentials and agent-facing overview."""

    name: str
    title: str
    summary: str
    tools: tuple[Tool, ...]
    credentials: tuple[CredentialField, ...]
    overview: str = ""
    error_label: str = ""
    emulator: Callable[[Any], Any] | None = None
    """Builds an offline stand-in of the API (``--emulate``) from a data file path or None:
    an object with ``token``, ``transport()`` (an httpx transport to it in process) and
    ``serve(host, port)`` (a context manager serving it on loopback, with ``base_url``)."""

    def __post_init__(self) -> None:
        # Tools are declared without their integration's name; stamp it once here.
        self.tools = tuple(
            Tool(
                **{
                    **tool.__dict__,
                    "integration": self.name,
                    "params": (*tool.params, *host_params(tool)),
                }
            )
            for tool in self.tools
        )
        self._by_name: dict[str, Tool] = {}
        for tool in self.tools:
            for name in (tool.name, *tool.aliases, f"{self.name}_{tool.name}"):
                self._by_name[name] = tool

    def tool(self, name: str) -> Tool | None:
        """A tool by its name, an alias or its full name's last part."""
        return self._by_name.get(name)

    def names(self) -> list[str]:
        return sorted(self._by_name)
