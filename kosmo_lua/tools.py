"""Integrations declared as data: the records an integration author writes.

From these records come the Lua functions, argument validation, the ``docs.read`` pages,
JSON Schemas (``integrations:schema``, MCP tools) and the generated reference in docs/.
A REST integration is an ``Integration`` holding ``Tool`` records, its credentials and the
conventions of its API (``Auth``, ``RateLimit``, ``Pagination``, the query style): no host
code. Mistakes a table can make (a path parameter the template does not name, two tools
with one name) fail when the ``Integration`` is made, not when a script calls it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from . import shapes

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

    from .request import Call

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
class Mistake:
    """A value that matches ``pattern`` (a regular expression, searched case-insensitively)
    is refused with ``message``; ``{value}`` in it stands for the value given."""

    pattern: str
    message: str

    def check(self, value: object) -> str | None:
        """The message when ``value`` is this mistake, else None."""
        if isinstance(value, str) and re.search(self.pattern, value.strip(), re.IGNORECASE):
            return self.message.format(value=repr(value))
        return None


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
    maximum: int | None = None
    enum: tuple[str, ...] | None = None
    """The values allowed; for a list, the values its items may take."""
    keyword_only: bool = False
    """Only by name: never bound from a positional argument."""
    mistakes: tuple[Mistake, ...] = ()
    """Values that are a known confusion (a build's UUID where its number belongs), each
    refused with a message that says what to give instead."""

    def schema(self) -> dict[str, Any]:
        """The JSON Schema of this parameter."""
        schema: dict[str, Any] = {**JSON_TYPES[self.type], "description": self.description}
        if self.default is not None:
            schema["default"] = self.default
        if self.minimum is not None:
            schema["minimum"] = self.minimum
        if self.maximum is not None:
            schema["maximum"] = self.maximum
        if self.enum:
            _constrain(schema, list(self.enum))
        if self.example is not None:
            schema["examples"] = [self.example]
        return schema


def _constrain(schema: dict[str, Any], choices: list[str]) -> None:
    """Puts ``choices`` where the values go: on a string, or on a list's items."""
    if schema.get("type") == "array":
        schema["items"] = {"type": "string", "enum": choices}
    elif "anyOf" in schema:
        schema["anyOf"] = [
            {"type": "string", "enum": choices},
            {"type": "array", "items": {"type": "string", "enum": choices}},
        ]
    else:
        schema["enum"] = choices


BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})

PAYLOAD = Param(
    "payload",
    "object",
    "The JSON request body, or part of it: merged with the named body fields (a key given"
    " both ways with different values is an error); keys no parameter names are sent as given.",
    location="body",
)
META_KEYS = ("status", "next_page", "last_page", "rate_limit", "pages")
"""What ``with_meta = true`` returns as a second value (``pages`` only after following)."""

WITH_META = Param(
    "with_meta",
    "boolean",
    f"Also return the response's metadata as a second value: `{{{', '.join(META_KEYS)}}}`.",
    location="option",
    keyword_only=True,
)
"""Every tool takes these two, added by ``Integration`` where the table does not declare
them: ``payload`` on tools that send a body, ``with_meta`` on all (see ``host_params``)."""

SERVER_ARGUMENTS = ("account", "maxReplyBytes")
"""What ``mcp:serve --expose-integrations`` adds to each function's arguments (which account,
how big a reply): no parameter of a tool may take these names."""


@dataclass(frozen=True)
class Field:
    """One field of a record: its name, its type expression (``shapes.py``: ``string``,
    ``integer?`` when the API may send null, ``Job[]``) and what it holds."""

    name: str
    type: str
    description: str = ""


@dataclass(frozen=True)
class Record:
    """A named shape results share (``Build``, ``Job``): declared once per integration, named
    by tools' ``result`` and by other records' fields. ``fields`` are the main ones, not all
    the API sends; docs, the quick sheet and LuaCATS stubs show them."""

    name: str
    summary: str
    fields: tuple[Field, ...]


def record_table(*records: Record) -> dict[str, Record]:
    """``Integration.records`` from records: name → record, each name once."""
    table: dict[str, Record] = {}
    for record in records:
        if table.setdefault(record.name, record) is not record:
            raise ValueError(f"two records are named {record.name}")
    return table


Handler = Callable[["Call"], tuple[Any, dict[str, Any]]]
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
    result: str = ""
    """What it returns, as a type expression over the integration's records (``shapes.py``):
    ``Build``, ``Build[]``, ``{bytes: integer}``. Empty: not declared (``any``)."""
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

    def in_body(self, param: Param) -> bool:
        """Whether an argument goes into the JSON body (``auto``: unless the method is GET)."""
        return param.location == "body" or (param.location == "auto" and self.method != "GET")

    def schema(self) -> dict[str, Any]:
        """The JSON Schema of the named-arguments table."""
        return {
            "type": "object",
            "properties": {p.name: p.schema() for p in self.params},
            "required": [p.name for p in self.params if p.required],
            "additionalProperties": False,
        }


def host_params(tool: Tool, pagination: Pagination) -> tuple[Param, ...]:
    """The parameters the host adds to a tool, by one rule for every integration: so
    scripts written for the original (``payload = {...}`` on any write) run everywhere, and
    every list function pages the same way."""
    wanted = [*(pagination.params() if tool.paginated else ()), WITH_META]
    if tool.method in BODY_METHODS:
        wanted.insert(0, PAYLOAD)
    return tuple(p for p in wanted if tool.param(p.name) is None)


# The conventions of an API. Each default is a real convention (RFC 6750 bearer tokens, the
# IETF RateLimit headers, RFC 8288 Link pagination); an API that differs says so.


@dataclass(frozen=True)
class Auth:
    """How the token travels: ``Authorization: Bearer <token>``, or ``header`` with the bare
    token when ``scheme`` is None (``Auth(header="X-Api-Key", scheme=None)``)."""

    header: str = "Authorization"
    scheme: str | None = "Bearer"

    def headers(self, token: str) -> dict[str, str]:
        return {self.header: f"{self.scheme} {token}" if self.scheme else token}


@dataclass(frozen=True)
class RateLimit:
    """Where an API says how many requests are left, and how it says "too many".

    ``reset`` is ``"seconds"`` (seconds until the window resets) or ``"epoch"`` (the Unix
    time it does). A reply is a throttle when its status is in ``throttle_statuses``, or in
    ``exhausted_statuses`` with the remaining count at zero (GitHub answers 403 so).
    """

    limit_header: str = "RateLimit-Limit"
    remaining_header: str = "RateLimit-Remaining"
    reset_header: str = "RateLimit-Reset"
    reset: Literal["seconds", "epoch"] = "seconds"
    throttle_statuses: tuple[int, ...] = (429,)
    exhausted_statuses: tuple[int, ...] = ()

    def describe(self) -> str:
        """The throttling statuses as the Errors section names them: ``429, or 403 with
        no requests left``."""
        text = ", ".join(str(s) for s in self.throttle_statuses)
        if self.exhausted_statuses:
            statuses = ", ".join(str(s) for s in self.exhausted_statuses)
            text += f", or {statuses} with no requests left"
        return text


@dataclass(frozen=True)
class Pagination:
    """Page-number pagination whose ``Link`` header (rel ``next``, ``last``) says where the
    next page is. Every paginated tool gets ``page``, ``per_page``, ``all_pages`` and
    ``max_pages`` from here."""

    page: str = "page"
    per_page: str = "per_page"
    default_per_page: int | None = None
    max_per_page: int | None = None
    max_pages: int = 100
    """What ``all_pages = true`` follows at most: a bound, so no listing is endless."""

    def params(self) -> tuple[Param, ...]:
        sizes = []
        if self.default_per_page:
            sizes.append(f"default {self.default_per_page}")
        if self.max_per_page:
            sizes.append(f"at most {self.max_per_page}")
        size_note = f" ({', '.join(sizes)})" if sizes else ""
        return (
            Param(self.page, "integer", "Page to fetch (default 1).", location="query", minimum=1),
            Param(
                self.per_page,
                "integer",
                f"Items per page{size_note}.",
                location="query",
                minimum=1,
                maximum=self.max_per_page,
            ),
            Param(
                "all_pages",
                "boolean",
                "Follow the Link header and return every page as one list (at most"
                f" {self.max_pages} pages, or max_pages).",
                location="option",
                keyword_only=True,
            ),
            Param(
                "max_pages",
                "integer",
                "Follow the Link header for at most this many pages and return them as one list.",
                location="option",
                minimum=1,
                keyword_only=True,
            ),
        )


QueryArrays = Literal["repeat", "brackets", "comma"]
"""How a list goes into a query string: ``key=a&key=b``, Rails-style ``key[]=a&key[]=b``
(tables as ``key[sub]=v``), or ``key=a,b``."""

DEFAULT_STATUS_NOTES: Mapping[int, str] = {
    401: "the credentials are missing, wrong or expired.",
    403: "the credentials do not allow this.",
    404: "nothing at that path, or the credentials cannot see it.",
    422: "validation failed; the message lists the fields.",
}
"""What each error status means, as function pages say it; an integration may say it in
its API's own words (``Integration.status_notes``)."""


@dataclass(frozen=True)
class CredentialField:
    """One setting of an account. ``role`` tells the host what it is for, whatever its
    name: ``"token"`` (sent as ``Auth`` says) or ``"base_url"`` (requests go only there)."""

    name: str
    description: str
    secret: bool = False
    required: bool = False
    default: str | None = None
    env: str | None = None
    role: Literal["token", "base_url"] | None = None


class EmulatorApp(Protocol):
    """An offline stand-in of an API: a WSGI application plus the token it accepts. The
    host runs it in process for ``--emulate`` and on loopback for ``integrations:emulate``;
    its API lives under ``base_path`` (``/v2``)."""

    token: str
    base_path: str

    def __call__(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]: ...


@dataclass
class Integration:
    """An integration: its tools, credentials, the conventions of its API and its
    agent-facing overview."""

    name: str
    title: str
    summary: str
    tools: tuple[Tool, ...]
    credentials: tuple[CredentialField, ...]
    overview: str = ""
    error_label: str = ""
    """Names the API in errors: ``Buildkite API error (404): …`` (default: title + " API")."""
    auth: Auth = Auth()
    rate_limit: RateLimit = RateLimit()
    pagination: Pagination = Pagination()
    query_arrays: QueryArrays = "repeat"
    status_notes: Mapping[int, str] = field(default_factory=dict)
    """What error statuses mean for this API, over ``DEFAULT_STATUS_NOTES``."""
    emulator: Callable[[str | None], EmulatorApp] | None = None
    """Builds the emulator from a data file path, or None for its own demo data."""
    records: Mapping[str, Record] = field(default_factory=dict)
    """The shapes its tools return, by name (``record_table``)."""
    featured: tuple[str, ...] = ()
    """The functions most tasks start from, by name: first on the signature sheet, with
    their options, so an agent that reads only the sheet calls them right."""

    def __post_init__(self) -> None:
        self.error_label = self.error_label or f"{self.title} API"
        # Tools are declared without their integration's name; stamp it once here.
        self.tools = tuple(
            Tool(
                **{
                    **tool.__dict__,
                    "integration": self.name,
                    "params": (*tool.params, *host_params(tool, self.pagination)),
                }
            )
            for tool in self.tools
        )
        self._by_name: dict[str, Tool] = {}
        for tool in self.tools:
            _check_paths(self.name, tool)
            for param in tool.params:
                if param.name in SERVER_ARGUMENTS:
                    raise ValueError(
                        f"{self.name}.{tool.name}: a parameter may not be named {param.name!r}:"
                        " mcp:serve --expose-integrations adds it to every function"
                    )
            for name in dict.fromkeys((tool.name, *tool.aliases, f"{self.name}_{tool.name}")):
                other = self._by_name.setdefault(name, tool)
                if other is not tool:
                    raise ValueError(
                        f"{self.name}: '{name}' names both {other.name} and {tool.name}"
                    )
        _check_records(self)
        for name in self.featured:
            if name not in self._by_name:
                raise ValueError(f"{self.name}: featured function {name!r} is not a tool")
        for role in ("token", "base_url"):
            if sum(f.role == role for f in self.credentials) > 1:
                raise ValueError(f"{self.name}: more than one credential has the role {role}")

    def tool(self, name: str) -> Tool | None:
        """A tool by its name, an alias or its full name's last part."""
        return self._by_name.get(name)

    def names(self) -> list[str]:
        return sorted(self._by_name)

    def credential(self, role: str) -> CredentialField | None:
        """The credential with this role (``token``, ``base_url``), if any."""
        return next((f for f in self.credentials if f.role == role), None)

    def status_note(self, status: int) -> str:
        return self.status_notes.get(status) or DEFAULT_STATUS_NOTES.get(status, "")


def _check_paths(integration: str, tool: Tool) -> None:
    """Every ``{name}`` in a path template is a path parameter, and every path parameter
    appears in some template: a mismatch would send a wrong URL, so it fails here."""
    named = {n for template in tool.paths for n in re.findall(r"{(\w+)}", template)}
    declared = {p.name for p in tool.params if p.location == "path"}
    for name in sorted(named - declared):
        raise ValueError(
            f"{integration}.{tool.name}: the path names {{{name}}}, which is not a parameter"
            ' with location="path"'
        )
    for name in sorted(declared - named):
        raise ValueError(
            f'{integration}.{tool.name}: parameter {name!r} has location="path" but no path'
            " names it"
        )


def _check_records(integration: Integration) -> None:
    """Every type expression parses and names only primitives and declared records: a
    result naming a record nobody declared fails here, not in a stub or a plan."""
    known = frozenset(integration.records)

    def check(where: str, text: str) -> None:
        try:
            unknown = shapes.unknown_names(text, known)
        except ValueError as exc:
            raise ValueError(f"{integration.name}.{where}: {exc}") from None
        if unknown:
            declared = ", ".join(sorted(known)) or "none"
            raise ValueError(
                f"{integration.name}.{where}: type {text!r} names {', '.join(unknown)}, which is"
                f" not a record (records: {declared})"
            )

    for key, record in integration.records.items():
        if key != record.name or not shapes.RECORD_NAME.match(record.name):
            raise ValueError(
                f"{integration.name}: record {key!r} must be filed under its own name, which"
                " starts with a capital letter (Build, TestRun)"
            )
        seen: set[str] = set()
        for item in record.fields:
            if item.name in seen:
                raise ValueError(f"{integration.name}.{record.name}: field {item.name!r} twice")
            seen.add(item.name)
            check(f"{record.name}.{item.name}", item.type)
    for tool in integration.tools:
        if tool.result:
            check(f"{tool.name} result", tool.result)
