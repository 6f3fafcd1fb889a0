"""Runs one ``app.integrations.*`` call: resolve, bind, check permission, send, record.

The invoker keeps policy and accounts: which account a call uses, whether the permission
policy lets it through, and where its requests go (the account's base URL, or the run's
emulator). Arguments are ``arguments.py``'s job, requests ``request.py``'s. Every refusal
(unknown argument, wrong type, permission, unknown account) happens before any request, so
a bad call costs nothing and changes nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from . import redact
from .advice import approval
from .arguments import bind
from .calls import CALL_SITE, recorded
from .catalog import Catalog, closest
from .config import DEFAULT_ACCOUNT, Config, configure_args
from .errors import ArgumentError, ConfigError, PermissionDenied
from .limits import CONCURRENCY, MEMORY_BYTES
from .pages import Pages
from .request import Call, build_request, rest_call, with_query
from .rest import INSECURE_HTTP, RestClient, check_base_url
from .result import Report
from .tools import Integration, Tool

if TYPE_CHECKING:
    import httpx

    from .emulation import Emulation

Asker = Callable[[dict[str, Any]], str]
"""Asks a human whether to send a write under the ``ask`` policy (``mcp:serve``, through MCP
elicitation): given the plan step, answers ``accept``, ``decline`` or ``plan`` (nobody can
be asked: plan the write instead)."""

Verdict = Literal["send", "bypass", "plan"]


class Invoker:
    """Dispatches ``app.integrations.*`` calls for one run. ``force`` bypasses the
    permission policy. Requests go to each account's base URL through ``transport`` (httpx's
    own when None), or, with ``emulation``, to the run's emulators (every account alike).
    A reply body may hold ``max_body_bytes`` once decoded (``Limits.body_bytes``); one call
    may have ``concurrency`` requests in flight (the pages of ``all_pages``).

    ``plan`` sends no write: each is recorded (``report("plan", step)``) and returns a
    placeholder (plan.py); reads are sent. ``ask`` is asked about a write the policy says
    ``ask`` for, unless ``force``. ``for_agent``: refusals say what an agent can do
    (``advice.py``), not which option to pass."""

    def __init__(
        self,
        catalog: Catalog,
        config: Config,
        *,
        report: Report,
        force: bool = False,
        environ: dict[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
        emulation: Emulation | None = None,
        max_body_bytes: int = MEMORY_BYTES,
        concurrency: int = CONCURRENCY,
        plan: bool = False,
        ask: Asker | None = None,
        for_agent: bool = False,
    ) -> None:
        self.catalog = catalog
        self.plan = plan
        self._planned_any = False  # a write was planned: placeholders may come back in args
        self._ask = ask
        self._for_agent = for_agent
        self.config = config
        self.force = force
        self._report = report
        self._environ = environ if environ is not None else {}
        self._transport = transport
        self._emulation = emulation
        self._max_body_bytes = max_body_bytes
        self._concurrency = concurrency
        self._clients: dict[tuple[str, str], RestClient] = {}
        # Calls may come from several threads (mcp:serve's tools): one client per account,
        # made once. The clients themselves (httpx) are safe to share.
        self._clients_lock = threading.Lock()

    def close(self) -> None:
        """Closes every HTTP client the run opened."""
        with self._clients_lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()

    def __enter__(self) -> Invoker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __call__(self, path: str, args: list[Any]) -> tuple[Any, ...]:
        """A call from Lua: one value, as in the original; ``with_meta = true`` adds the
        response's metadata as a second. A listing's pages come as ``Pages``, which the
        engine converts a page at a time."""
        data, meta, with_meta = self._invoke(path, args)
        return (data, meta) if with_meta else (data,)

    def invoke(self, path: str, args: list[Any]) -> tuple[Any, dict[str, Any]]:
        """A call from Python (``integrations:call``): the data and its metadata."""
        data, meta, _ = self._invoke(path, args)
        return (data.plain() if isinstance(data, Pages) else data), meta

    def _invoke(self, path: str, args: list[Any]) -> tuple[Any, dict[str, Any], bool]:
        call: Call | None = None
        with recorded(self._report, path.removeprefix("app.")) as entry:
            try:
                integration, account, tool = self.catalog.resolve(path)
                entry.update(tool=tool.full_name, account=account, method=tool.method)
                named = self._bind(tool, args)
                # Before the policy: a write is neither planned nor put to a human for an
                # account the run could not send it with.
                self._check_account(integration, account)
                verdict = self._check_permission(integration, account, tool, named)
                if verdict == "plan":
                    entry["planned"] = True
                    return self._planned(integration, account, tool, named)
                bypassed = verdict == "bypass"
                client = self._client(integration, account)
                call = Call(integration, tool, named, client, concurrency=self._concurrency)
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
        request_path, query, body = build_request(integration, tool, bind(tool, args))
        self._check_account(integration, account)
        url = with_query(self._base_url(integration, account).rstrip("/") + request_path, query)
        token = integration.credential("token")
        return {
            "tool": tool.full_name,
            "account": account,
            "method": tool.method,
            "url": url,
            "headers": integration.auth.headers("***") if token else {},
            "body": body,
            "permission": self.config.permission(integration.name, tool.access),
        }

    def _base_url(self, integration: Integration, account: str) -> str:
        if self._emulation is not None:
            return self._emulation.base_url(integration)
        field = integration.credential("base_url")
        if field is None:
            return ""
        stored = self.config.account(integration.name, account) or {}
        return stored.get(field.name) or field.default or ""

    def _bind(self, tool: Tool, args: list[Any]) -> dict[str, Any]:
        """``bind``; under ``--plan``, once a write was planned, a call that fails on one of
        its placeholder values says so, and a read given a placeholder string is not sent
        (it would ask the API about something that does not exist)."""
        if not self._planned_any:
            return bind(tool, args)
        from .plan import PLACEHOLDER_NOTE, holds_placeholder

        try:
            named = bind(tool, args)
        except ArgumentError as exc:
            raise ArgumentError(
                f"{str(exc).rstrip('.')}. {PLACEHOLDER_NOTE}", tool=exc.tool
            ) from None
        if tool.access == "read" and holds_placeholder(named):
            raise ArgumentError(
                f"{tool.full_name} was given a planned write's result. {PLACEHOLDER_NOTE}",
                tool=tool.full_name,
            )
        return named

    def _planned(
        self, integration: Integration, account: str, tool: Tool, named: dict[str, Any]
    ) -> tuple[Any, dict[str, Any], bool]:
        """Records the write as a step of the plan, sends nothing; its placeholder result."""
        from .plan import placeholder

        self._planned_any = True
        self._report("plan", self._plan_step(integration, account, tool, named))
        return placeholder(tool, integration.records), {}, named.get("with_meta", False)

    def _plan_step(
        self, integration: Integration, account: str, tool: Tool, named: dict[str, Any]
    ) -> dict[str, Any]:
        from .plan import plan_step

        policy = self.config.permission(integration.name, tool.access)
        return plan_step(integration, tool, account, named, line=CALL_SITE.line, permission=policy)

    def _check_permission(
        self, integration: Integration, account: str, tool: Tool, named: dict[str, Any]
    ) -> Verdict:
        """Raises when the policy refuses the call. ``bypass`` when only ``--force`` lets
        it through (``meta.permission_bypassed`` is then set once a request is sent);
        ``plan`` when the write is to be planned, not sent."""
        if self.plan and tool.access == "write":
            return "plan"
        policy = self.config.permission(integration.name, tool.access)
        if policy == "allow":
            return "send"
        if self.force:
            return "bypass"
        name = integration.name
        if policy == "deny":
            raise PermissionDenied(
                f"Integration '{name}' {tool.access} access denied.", tool=tool.full_name
            )
        if self._ask is not None:
            answer = self._ask(self._plan_step(integration, account, tool, named))
            if answer in ("accept", "plan"):
                return "send" if answer == "accept" else "plan"
            raise PermissionDenied(
                f"The user declined this {name} {tool.access} ({tool.full_name}): it was not"
                " sent. Ask the user before trying it again.",
                tool=tool.full_name,
            )
        raise PermissionDenied(
            f"Integration '{name}' {tool.access} requires approval."
            f" {approval(name, tool.access, agent=self._for_agent)}",
            tool=tool.full_name,
        )

    def _client(self, integration: Integration, account: str) -> RestClient:
        with self._clients_lock:
            return self._client_of(integration, account)

    def _client_of(self, integration: Integration, account: str) -> RestClient:
        key = (integration.name, account)
        if key not in self._clients:  # its account was checked before the policy
            token, transport = self._token_and_transport(integration, account)
            base_url = self._base_url(integration, account)
            if self._emulation is None:  # an emulator is in process: nothing goes on a wire
                stored = self.config.account(integration.name, account) or {}
                check_base_url(
                    base_url,
                    str(stored.get(INSECURE_HTTP, "")).lower() == "true",
                    configure=configure_args(integration.name, account),
                )
            self._clients[key] = RestClient(
                base_url,
                integration.auth.headers(token) if token else {},
                label=integration.error_label,
                rate_limit=integration.rate_limit,
                transport=transport,
                max_body_bytes=self._max_body_bytes,
            )
        return self._clients[key]

    def _token_and_transport(
        self, integration: Integration, account: str
    ) -> tuple[str | None, httpx.BaseTransport | None]:
        if self._emulation is not None:
            app = self._emulation.app(integration)
            return app.token, self._emulation.transport(integration)
        values = self._credentials(integration, account)
        field = integration.credential("token")
        return (values.get(field.name) if field else None), self._transport

    def _check_account(self, integration: Integration, account: str) -> None:
        """The default account always exists; others only when configured (also under
        ``--emulate``, so a typo fails there exactly as it would for real)."""
        if account != DEFAULT_ACCOUNT and self.config.account(integration.name, account) is None:
            configured = self.config.accounts(integration.name)
            known = ", ".join([DEFAULT_ACCOUNT, *(a for a in configured if a != DEFAULT_ACCOUNT)])
            close = closest(account, configured)
            hint = f" Did you mean: {close[0]}?" if close else ""
            token = integration.credential("token")
            setting = f" --set {token.name}=TOKEN" if token else ""
            raise ConfigError(
                f"Unknown {integration.title} account '{account}'.{hint} Accounts: {known}."
                " Configure it: kosmo integrations:configure"
                f" {configure_args(integration.name, account)}{setting}"
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
                raise ConfigError(
                    f"No {integration.title} {field.name} for account '{account}'. {env_hint}:"
                    f" kosmo integrations:configure {configure_args(integration.name, account)}"
                    f" --set {field.name}=…"
                )
        return values
