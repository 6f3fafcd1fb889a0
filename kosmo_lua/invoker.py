"""Runs one ``app.integrations.*`` call: bind, validate, check permission, send, record.

Every refusal (unknown argument, wrong type, permission) happens before any request, so a
bad call costs nothing and changes nothing.
"""

from __future__ import annotations

import os
import re
import urllib.parse
from dataclasses import dataclass
from typing import Any

from . import redact
from .calls import Report, recorded
from .catalog import Catalog, closest
from .config import DEFAULT_ACCOUNT, Config
from .errors import ArgumentError, ConfigError, HostError, PermissionDenied
from .rest import Response, RestClient, safe_path
from .tools import BODY_METHODS, Integration, Param, Tool

EMULATED_URL = "http://emulator.invalid/v2"

DEFAULT_MAX_PAGES = 100
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)


@dataclass
class Call:
    """One validated call, as handlers see it."""

    tool: Tool
    args: dict[str, Any]
    client: RestClient
    requests: int = 0
    last_status: int | None = None

    def send(
        self,
        method: str | None = None,
        path: str | None = None,
        *,
        query: list[tuple[str, str]] | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
        text: bool = False,
    ) -> Response:
        """Sends a request; by default the tool's own, built from its arguments."""
        if path is None:
            path, query, body = build_request(self.tool, self.args)
        sent_before = self.client.sent
        try:
            response = self.client.request(
                method or self.tool.method,
                path,
                query=query,
                body=body,
                headers=headers,
                text=text,
                tool=self.tool.full_name,
            )
        except HostError as exc:
            self.last_status = exc.status
            raise
        finally:
            self.requests += self.client.sent - sent_before
        self.last_status = response.status
        return response


def rest_call(call: Call) -> tuple[Any, dict[str, Any]]:
    """The handler of every tool a path template can express, with Link pagination."""
    response = call.send()
    args = call.args
    if not (call.tool.paginated and (args.get("all_pages") or args.get("max_pages"))):
        return response.data, response.meta()
    pages = args.get("max_pages") or DEFAULT_MAX_PAGES
    items = list(response.data) if isinstance(response.data, list) else [response.data]
    fetched = 1
    while fetched < pages and "next" in response.links:
        response = call.send(path=_relative(call.client, response.links["next"]))
        items.extend(response.data if isinstance(response.data, list) else [response.data])
        fetched += 1
    meta = response.meta()
    meta["pages"] = fetched
    return items, meta


class Invoker:
    """Dispatches ``app.*`` calls for one run. ``force`` bypasses the permission policy;
    ``emulate`` sends every account's requests to the integration's in-process emulator
    (loaded from ``emulate_data`` when given)."""

    def __init__(
        self,
        catalog: Catalog,
        config: Config,
        *,
        force: bool = False,
        report: Report,
        emulate: bool = False,
        emulate_data: str | None = None,
        environ: dict[str, str] | None = None,
    ) -> None:
        self.catalog = catalog
        self.config = config
        self.force = force
        self._report = report
        self._emulate = emulate
        self._emulate_data = emulate_data
        self._emulators: dict[str, Any] = {}
        self._environ = environ if environ is not None else {}
        self._clients: dict[tuple[str, str], RestClient] = {}

    @classmethod
    def for_run(
        cls,
        *,
        report: Report,
        force: bool = False,
        emulate: bool = False,
        emulate_data: str | None = None,
    ) -> Invoker:
        """The shipped integrations, the user's configuration and environment."""
        from .integrations import load

        return cls(
            Catalog(load()),
            Config.load(),
            force=force,
            report=report,
            emulate=emulate,
            emulate_data=emulate_data,
            environ=dict(os.environ),
        )

    def __call__(self, path: str, args: list[Any]) -> tuple[Any, ...]:
        """A call from Lua: one value, as in the original; ``with_meta = true`` adds the
        response's metadata as a second."""
        data, meta, with_meta = self._invoke(path, args)
        return (data, meta) if with_meta else (data,)

    def invoke(self, path: str, args: list[Any]) -> tuple[Any, dict[str, Any]]:
        """A call from Python (``integrations:call``): the data and its metadata."""
        data, meta, _ = self._invoke(path, args)
        return data, meta

    def _invoke(self, path: str, args: list[Any]) -> tuple[Any, dict[str, Any], bool]:
        call: Call | None = None
        with recorded(self._report, path.removeprefix("app.")) as entry:
            try:
                integration, account, tool = self.catalog.resolve(path)
                entry.update(tool=tool.full_name, account=account, method=tool.method)
                named = bind(tool, args)
                bypassed = self._check_permission(integration, tool)
                call = Call(tool, named, self._client(integration, account))
                data, meta = (tool.handler or rest_call)(call)
                entry["response"] = meta
            finally:
                if call is not None:
                    entry.update(http_status=call.last_status, requests=call.requests)
                    if bypassed and call.requests:
                        entry["permission_bypassed"] = True
                        self._report("meta", {"permission_bypassed": True})
        return data, meta, named.get("with_meta", False)

    def describe(self, path: str, args: list[Any]) -> dict[str, Any]:
        """The request a call would send, validated but not sent (``--dry-run``)."""
        integration, account, tool = self.catalog.resolve(path)
        request_path, query, body = build_request(tool, bind(tool, args))
        stored = self.config.account(integration.name, account) or {}
        base = stored.get("url") or next(
            (f.default for f in integration.credentials if f.name == "url" and f.default), ""
        )
        url = base.rstrip("/") + request_path
        if query:
            url += ("&" if "?" in url else "?") + urllib.parse.urlencode(query)
        return {
            "tool": tool.full_name,
            "account": account,
            "method": tool.method,
            "url": url,
            "headers": {"Authorization": "Bearer ***"},
            "body": body,
            "permission": self.config.permission(integration.name, tool.access),
        }

    def _check_permission(self, integration: Integration, tool: Tool) -> bool:
        """Raises when the policy refuses the call; True when only ``--force`` lets it
        through (``meta.permission_bypassed`` is then set once a request is sent)."""
        policy = self.config.permission(integration.name, tool.access)
        if policy == "allow":
            return False
        if self.force:
            return True
        name = integration.name
        if policy == "deny":
            raise PermissionDenied(
                f"Integration '{name}' {tool.access} access denied.", tool=tool.full_name
            )
        raise PermissionDenied(
            f"Integration '{name}' {tool.access} requires approval. Run with --force to allow"
            f" it for this run, or allow it for good: kosmo integrations:configure {name}"
            f" --{tool.access} allow",
            tool=tool.full_name,
        )

    def _client(self, integration: Integration, account: str) -> RestClient:
        key = (integration.name, account)
        if key not in self._clients:
            self._check_account(integration, account)
            if self._emulate:
                emulator = self.emulator(integration)
                self._clients[key] = RestClient(
                    EMULATED_URL,
                    emulator.token,
                    label=integration.error_label,
                    transport=emulator.transport(),
                )
            else:
                values = self._credentials(integration, account)
                self._clients[key] = RestClient(
                    values["url"], values["access_token"], label=integration.error_label
                )
        return self._clients[key]

    def emulator(self, integration: Integration) -> Any:
        """The run's emulator of an integration: one per run, shared by every account."""
        if integration.emulator is None:
            raise ConfigError(f"{integration.title} has no emulator; run without --emulate")
        if integration.name not in self._emulators:
            self._emulators[integration.name] = integration.emulator(self._emulate_data)
        return self._emulators[integration.name]

    def _check_account(self, integration: Integration, account: str) -> None:
        """The default account always exists; others only when configured (also under
        ``--emulate``, so a typo fails there exactly as it would for real)."""
        if account != DEFAULT_ACCOUNT and self.config.account(integration.name, account) is None:
            configured = self.config.accounts(integration.name)
            known = ", ".join([DEFAULT_ACCOUNT, *(a for a in configured if a != DEFAULT_ACCOUNT)])
            close = closest(account, configured)
            hint = f" Did you mean: {close[0]}?" if close else ""
            raise ConfigError(
                f"Unknown {integration.title} account '{account}'.{hint} Accounts: {known}."
                f" Configure it: kosmo integrations:configure {integration.name}"
                f" --account {account} --set access_token=TOKEN"
            )

    def _credentials(self, integration: Integration, account: str) -> dict[str, str]:
        values = dict(self.config.account(integration.name, account) or {})
        for field in integration.credentials:
            if field.secret and values.get(field.name):
                redact.register(values[field.name])
            if not values.get(field.name) and field.env and account == DEFAULT_ACCOUNT:
                values[field.name] = self._environ.get(field.env, "")
                if field.secret and values[field.name]:
                    redact.register(values[field.name])
            if not values.get(field.name) and field.default:
                values[field.name] = field.default
            if field.required and not values.get(field.name):
                env_hint = f"Set {field.env} or run" if field.env else "Run"
                account_option = "" if account == DEFAULT_ACCOUNT else f" --account {account}"
                raise ConfigError(
                    f"No {integration.title} {field.name} for account '{account}'. {env_hint}:"
                    f" kosmo integrations:configure {integration.name}{account_option}"
                    f" --set {field.name}=…"
                )
        return values


# Binding and validation ------------------------------------------------------------------


def bind(tool: Tool, args: list[Any]) -> dict[str, Any]:
    """Turns Lua call arguments into validated named arguments, defaults applied.

    One table argument means named arguments; anything else is positional, in the order
    the parameters are declared.
    """
    if len(args) == 1 and isinstance(args[0], dict):
        named = dict(args[0])
    elif len(args) == 1 and args[0] == []:  # `f({})`: an empty table is an empty list in Lua
        named = {}
    else:
        while args and args[-1] is None:
            args = args[:-1]
        positional = tool.positional
        if len(args) > len(positional):
            raise ArgumentError(
                f"{tool.full_name} takes at most {len(positional)} positional arguments"
                f" ({', '.join(p.name for p in positional)}), got {len(args)}",
                tool=tool.full_name,
            )
        named = {p.name: v for p, v in zip(positional, args, strict=False) if v is not None}
    for name in named:
        if tool.param(name) is None:
            raise ArgumentError(_unknown_argument(tool, name), tool=tool.full_name)
    if "payload" in named:
        named.update(_hoist_payload(tool, named))
    bound: dict[str, Any] = {}
    for param in tool.params:
        if param.name in named:
            bound[param.name] = _check(tool, param, named[param.name])
        elif param.required:
            raise ArgumentError(
                f"Missing required argument '{param.name}' for {tool.full_name}:"
                f" {param.description}",
                tool=tool.full_name,
            )
        elif param.default is not None:
            bound[param.name] = param.default
    return bound


def _hoist_payload(tool: Tool, named: dict[str, Any]) -> dict[str, Any]:
    """Moves the payload's keys that name body parameters out into named arguments.

    They are then validated and defaulted like named ones, and handlers read them in one
    place (``retry_failed_jobs`` reads ``states`` whether it came named or in the payload).
    What is left stays the payload, sent as given. Returns the arguments to update.
    """
    payload = _check(tool, tool.param("payload"), named["payload"])  # type: ignore[arg-type]
    hoisted: dict[str, Any] = {}
    rest: dict[str, Any] = {}
    for key, value in payload.items():
        param = tool.param(key) if key != "payload" else None
        if param is None or not _in_body(tool, param):
            rest[key] = value
        elif key in named and named[key] != value:
            raise ArgumentError(
                f"{tool.full_name}: '{key}' is given both as a named argument"
                f" ({_describe(named[key])}) and in payload ({_describe(value)}); give it once",
                tool=tool.full_name,
            )
        else:
            hoisted[key] = value
    return {**hoisted, "payload": rest}


def _in_body(tool: Tool, param: Param) -> bool:
    return param.location == "body" or (param.location == "auto" and tool.method != "GET")


def _unknown_argument(tool: Tool, name: str) -> str:
    names = [p.name for p in tool.params]
    close = closest(str(name), names)
    hint = f" Did you mean: {close[0]}?" if close else ""
    return (
        f"Unknown argument '{name}' for {tool.full_name}.{hint}"
        f" Parameters: {', '.join(names) or 'none'}"
    )


def _check(tool: Tool, param: Param, value: Any) -> Any:
    def fail(expected: str) -> ArgumentError:
        return ArgumentError(
            f"Argument '{param.name}' of {tool.full_name} must be {expected},"
            f" got {_describe(value)}",
            tool=tool.full_name,
        )

    kind = param.type
    if kind == "string":
        if not isinstance(value, str):
            raise fail("a string")
        if param.location == "path" and value.strip() in ("", ".", ".."):
            # Encoding keeps "." and "..", and the URL would collapse to another endpoint.
            raise fail("a slug or id (not empty, '.' or '..')")
    elif kind == "integer":
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if isinstance(value, str) and _UUID.match(value.strip()):
            raise ArgumentError(
                f"Argument '{param.name}' of {tool.full_name} must be a build number (the"
                f" number in the build's URL); {value!r} is a build UUID: use the build number",
                tool=tool.full_name,
            )
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise fail("a whole number")
    elif kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise fail("a number")
    elif kind == "boolean":
        if not isinstance(value, bool):
            raise fail("true or false")
    elif kind == "object":
        if value == []:
            value = {}
        if not isinstance(value, dict):
            raise fail("a table of named fields")
    elif kind == "array":
        if value == {}:
            value = []
        if not isinstance(value, list):
            raise fail("a list")
    elif kind == "string|array":
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
        if not isinstance(value, str):
            raise fail("a string or a list of strings")
    if param.minimum is not None and value < param.minimum:
        raise fail(f"at least {param.minimum}")
    if param.enum and value not in param.enum:
        raise fail(f"one of {', '.join(param.enum)}")
    return value


def _describe(value: Any) -> str:
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return f"the number {value:g}" if isinstance(value, float) else f"the number {value}"
    if isinstance(value, str):
        return f"the string {value!r}"
    return "a table"


# Requests ------------------------------------------------------------------------------


def build_request(tool: Tool, args: dict[str, Any]) -> tuple[str, list[tuple[str, str]], Any]:
    """The path, query and body of a tool's request, from its validated arguments."""
    path = _expand(tool, args)
    query: list[tuple[str, str]] = []
    body: dict[str, Any] = {}
    for param in tool.params:
        if param.name not in args or param.location in ("path", "option"):
            continue
        value = args[param.name]
        if param.name == "query":
            query.extend(_query_pairs(value))
        elif not _in_body(tool, param):
            query.extend(_query_pairs({param.name: value}))
        elif param.name != "payload":
            body[param.name] = value
    body.update(args.get("payload") or {})
    return path, query, (body if body or tool.method in BODY_METHODS else None)


def _expand(tool: Tool, args: dict[str, Any]) -> str:
    for template in tool.paths:
        names = re.findall(r"{(\w+)}", template)
        if all(name in args for name in names):
            if names == ["path"]:
                return safe_path(args["path"])
            return re.sub(
                r"{(\w+)}",
                lambda m: urllib.parse.quote(str(args[m.group(1)]), safe=""),
                template,
            )
    needed = re.findall(r"{(\w+)}", tool.paths[-1])
    raise ArgumentError(f"{tool.full_name} needs {', '.join(needed)}", tool=tool.full_name)


def _query_pairs(values: dict[str, Any]) -> list[tuple[str, str]]:
    """Buildkite's query style: lists as ``key[]=``, tables as ``key[sub]=``."""
    pairs: list[tuple[str, str]] = []
    for key, value in values.items():
        if isinstance(value, list):
            pairs.extend((f"{key}[]", _scalar(v)) for v in value)
        elif isinstance(value, dict):
            pairs.extend((f"{key}[{sub}]", _scalar(v)) for sub, v in value.items())
        else:
            pairs.append((key, _scalar(value)))
    return pairs


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _relative(client: RestClient, url: str) -> str:
    """A Link URL as a path under the client's base URL; anything else is refused."""
    if not url.startswith(client.base_url + "/"):
        raise HostError(f"Refused to follow a pagination link outside the API: {url}")
    return url[len(client.base_url) :]
