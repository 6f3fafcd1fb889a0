"""Tokens travel only over TLS (or to loopback, or with the account's explicit opt-in), never
follow a redirect, and are scrubbed from what integrations:call prints and from what a
worker sends back, however the API echoes them."""

from __future__ import annotations

import json
import re
import socket

import pytest
import respx
from loopback import reply, servers

from kosmo_lua.catalog import Catalog
from kosmo_lua.config import Config
from kosmo_lua.errors import ApiError, ConfigError
from kosmo_lua.integrations import load
from kosmo_lua.invoker import Invoker
from kosmo_lua.redact import register, scrub
from kosmo_lua.rest import INSECURE_HTTP, check_base_url

TOKEN = "bkua_SECRET_never_printed_0123456789"
ODD_TOKEN = 'bkua_"quoted"\\slashed_SECRET_4567'
PLAIN = "http://api.example.test/v2"


@pytest.fixture
def server():
    with servers() as start:
        yield start


def _account(home, url: str, token: str = TOKEN, **settings: str) -> None:
    config = Config.load(home)
    config.set_account("buildkite", "default", {"access_token": token, "url": url, **settings})
    config.save()


def _invoker(home) -> Invoker:
    return Invoker(Catalog(load()), Config.load(home), force=True, report=lambda *_: None)


def _echo(connection: socket.socket, request: bytes) -> None:
    """Echoes the Authorization header: in the body for /user, in an error otherwise."""
    head = request.decode("latin-1")
    token = re.search(r"(?im)^authorization: (.*?)\r$", head).group(1)
    if " /v2/user " in head:
        connection.sendall(reply("200 OK", json.dumps({"echo": token}).encode()))
    else:
        body = json.dumps({"message": f"token {token} is not allowed"}).encode()
        connection.sendall(reply("403 Forbidden", body))


# TLS -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://api.buildkite.com/v2",
        "http://127.0.0.1:8080/v2",
        "http://127.9.9.9/",
        "http://localhost:1234",
        "http://LOCALHOST/v2",
        "http://[::1]:99/v2",
    ],
)
def test_tls_or_loopback_is_accepted(url):
    check_base_url(url, False)


@pytest.mark.parametrize(
    "url",
    [
        PLAIN,
        "http://10.0.0.1/v2",
        "http://127.0.0.1.evil.example/v2",
        "http://localhost.evil.example/v2",
        "HTTP://api.example.test",
    ],
)
def test_plain_http_elsewhere_is_refused_with_the_way_to_opt_in(url):
    with pytest.raises(ConfigError) as refused:
        check_base_url(url, False, configure="buildkite --account work")
    assert "over plain http the token would travel unencrypted" in str(refused.value)
    assert str(refused.value).endswith(
        "kosmo integrations:configure buildkite --account work --set allow_insecure_http=true"
    )
    check_base_url(url, True)  # the opt-in


@pytest.mark.parametrize("url", ["ftp://api.example.test", "api.example.test", "http://", ""])
def test_what_is_no_http_url_is_refused_whatever_the_opt_in(url):
    with pytest.raises(ConfigError, match="is not an http"):
        check_base_url(url, True)


def test_a_call_to_plain_http_is_refused_before_any_request(kosmo_home):
    _account(kosmo_home, PLAIN)
    with respx.mock(assert_all_mocked=False) as mock, pytest.raises(ConfigError) as refused:
        _invoker(kosmo_home).invoke("app.integrations.buildkite.get_current_user", [])
    assert mock.calls.call_count == 0
    assert "kosmo integrations:configure buildkite --set allow_insecure_http=true" in str(
        refused.value
    )


def test_an_account_that_opted_in_may_use_plain_http(kosmo_home):
    _account(kosmo_home, PLAIN, **{INSECURE_HTTP: "true"})
    with respx.mock(base_url=PLAIN) as mock:
        route = mock.get("/user").respond(200, json={"name": "ok"})
        data, _ = _invoker(kosmo_home).invoke("app.integrations.buildkite.get_current_user", [])
    assert data == {"name": "ok"}
    assert route.calls.last.request.headers["Authorization"] == f"Bearer {TOKEN}"


# Redirects -----------------------------------------------------------------------------------


def test_a_redirect_to_another_host_is_not_followed(kosmo_home, server):
    elsewhere = server(lambda c, _: c.sendall(reply("200 OK", b"{}")))
    api = server(
        lambda c, _: c.sendall(reply("302 Found", b"", Location=f"{elsewhere.url}/v2/user"))
    )
    _account(kosmo_home, f"{api.url}/v2")
    with pytest.raises(ApiError) as answered:
        _invoker(kosmo_home).invoke("app.integrations.buildkite.get_current_user", [])
    assert answered.value.status == 302
    assert elsewhere.connections == 0
    assert f"Bearer {TOKEN}".encode() in api.requests[0]


# Redaction -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        ["buildkite.get_current_user"],
        ["buildkite.get_current_user", "--json"],
        ["buildkite.get_organization", "--arg", "organization=acme-inc"],
        ["buildkite.get_organization", "--arg", "organization=acme-inc", "--json"],
    ],
    ids=["echo", "echo-json", "error", "error-json"],
)
def test_integrations_call_prints_no_token_the_api_echoes(kosmo, kosmo_home, server, call):
    api = server(_echo)
    _account(kosmo_home, f"{api.url}/v2")
    done = kosmo("integrations:call", *call)
    assert api.connections == 1
    assert TOKEN not in done.stdout + done.stderr
    assert "Bearer ***" in done.stdout + done.stderr


def test_a_token_json_would_escape_is_scrubbed_from_the_envelope(kosmo_home, server, lua):
    api = server(_echo)
    _account(kosmo_home, f"{api.url}/v2", token=ODD_TOKEN)
    result = lua("return app.integrations.buildkite.get_current_user()")
    envelope = json.dumps(result.envelope())
    assert result.result == [{"echo": "Bearer ***"}]
    assert ODD_TOKEN not in envelope
    assert json.dumps(ODD_TOKEN)[1:-1] not in envelope


def test_scrub_redacts_every_string_of_a_structured_result():
    register(TOKEN)
    data = {"user": {TOKEN: [f"Bearer {TOKEN}", 1, None, (TOKEN,)]}, "ok": True}
    assert scrub(data) == {"user": {"***": ["Bearer ***", 1, None, ["***"]]}, "ok": True}


def test_configure_refuses_a_plain_http_url_unless_opted_in(kosmo_home):
    from click.testing import CliRunner, Result

    from kosmo_lua.cli import main

    def configure(*settings: str) -> Result:
        args = ["integrations:configure", "buildkite", "--account", "lab"]
        for setting in settings:
            args += ["--set", setting]
        return CliRunner().invoke(main, args)

    refused = configure("url=http://ci.example.test/v2", "access_token=t")
    assert refused.exit_code == 2
    assert (
        "kosmo integrations:configure buildkite --account lab --set allow_insecure_http=true"
        in (refused.stderr)
    )
    assert (
        not (kosmo_home / "integrations.json").exists()
        or "ci.example.test" not in (kosmo_home / "integrations.json").read_text()
    )
    assert configure("url=http://ci.example.test/v2", "allow_insecure_http=true").exit_code == 0
    assert configure("url=http://127.0.0.1:8990/v2").exit_code == 0  # loopback: the emulator


def test_exposed_integration_tools_never_show_a_token(kosmo_home):
    """mcp:serve --expose-integrations hands results on as data: a token an API echoes back
    is scrubbed there too."""
    from kosmo_lua.mcp.serve import HostTools

    token = "bkua_echoed_SECRET_token_0123456789"
    config = Config.load(kosmo_home)
    config.set_account("buildkite", "default", {"access_token": token})
    config.save()
    tools = HostTools(expose_integrations=True)
    with respx.mock(base_url="https://api.buildkite.com/v2") as api:
        api.get("/user").respond(200, json={"name": "Ada", "note": f"your token is {token}"})
        data = tools.call_integration(load()[0].tool("get_current_user"), {})
    tools.close()
    assert token not in json.dumps(data)
    assert data["name"] == "Ada"


def test_a_redirect_to_a_malformed_url_is_a_clear_error() -> None:
    """httpx reads a 3xx's Location even when it does not follow it: a hostile one must end
    the call with an error that says so, not an internal error."""
    import respx

    from kosmo_lua.errors import ConnectionFailed
    from kosmo_lua.rest import RestClient

    client = RestClient("https://api.example.test/v2", {}, label="Example API")
    with respx.mock() as mock:
        mock.get("https://api.example.test/v2/x").respond(302, headers={"Location": "http://xn--/"})
        with pytest.raises(ConnectionFailed, match="redirect to an unusable URL"):
            client.request("GET", "/x", tool="t")
    client.close()
