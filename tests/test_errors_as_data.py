"""What failed, as data: every error names the script's line, and ``meta.error`` says
what kind of failure ended the run (runs in process through click's runner)."""

from __future__ import annotations

from typing import Any

import pytest
from helpers import envelope_of


def run(code: str, *options: str) -> tuple[int, dict[str, Any]]:
    return envelope_of("integrations:lua", "--json", "-e", code, *options)


@pytest.mark.parametrize(
    ("code", "options", "error", "meta_error"),
    [
        (
            'local bk = app.integrations.buildkite\nbk.get_build("acme-inc", "web", 999)',
            ("--emulate",),
            "eval:2: Buildkite API error (404): No build found",
            {
                "kind": "integration",
                "message": "Buildkite API error (404): No build found",
                "file": "eval",
                "line": 2,
                "tool": "buildkite.buildkite_get_build",
                "status": 404,
            },
        ),
        (
            "\n\napp.integrations.buildkite.get_build{organization = 'a'}",
            ("--emulate",),
            "eval:3: Missing required argument 'pipeline' for buildkite.buildkite_get_build:"
            " Pipeline slug, as in buildkite.com/<organization>/<pipeline>.",
            {
                "kind": "argument",
                "message": "Missing required argument 'pipeline' for"
                " buildkite.buildkite_get_build: Pipeline slug, as in"
                " buildkite.com/<organization>/<pipeline>.",
                "file": "eval",
                "line": 3,
                "tool": "buildkite.buildkite_get_build",
            },
        ),
        (
            "app.integrations.buildkite.wrok_typo()",
            ("--emulate",),
            None,
            {"kind": "argument", "file": "eval", "line": 1},
        ),
        (
            'app.integrations.buildkite.cancel_build("acme-inc", "web", 1)',
            ("--emulate",),
            None,
            {"kind": "permission", "file": "eval", "line": 1},
        ),
        (
            "local x = 1\nlocal y = = 2",
            (),
            "eval:2: unexpected symbol near '='",
            {"kind": "syntax", "message": "unexpected symbol near '='", "file": "eval", "line": 2},
        ),
        (
            "local x\n\nfor _ in ipairs(x) do end",
            (),
            "eval:3: attempt to index a nil value",
            {
                "kind": "runtime",
                "message": "attempt to index a nil value",
                "file": "eval",
                "line": 3,
            },
        ),
        ('error("plain", 0)', (), "plain", {"kind": "runtime", "message": "plain"}),
        (
            "while true do end",
            ("--cpu-limit", "0.2"),
            None,
            {"kind": "limit", "limit": "cpu"},
        ),
    ],
)
def test_the_envelope_says_what_failed(code, options, error, meta_error):
    exit_code, envelope = run(code, *options)
    assert exit_code == 1
    assert not envelope["success"]
    if error is not None:
        assert envelope["error"] == error
    found = envelope["meta"]["error"]
    assert {k: found.get(k) for k in meta_error} == meta_error
    assert isinstance(envelope["error"], str)


def test_a_usage_error_is_data_too():
    code, envelope = envelope_of("integrations:lua", "--json", "missing.lua")
    assert code == 2
    assert envelope["meta"]["error"]["kind"] == "usage"


def test_success_has_no_error_data():
    assert "error" not in run("return 1")[1]["meta"]


def test_caught_errors_are_strings_as_in_the_original():
    """What scripts written for the original do with a caught error works unchanged."""
    code = """
    local ok, err = pcall(app.integrations.buildkite.get_build, "acme-inc", "web", 999)
    assert(not ok)
    return type(err), err:match("%((%d+)%)"), string.find(err, "404", 1, true) ~= nil,
      tostring(err) == err, err .. "" == err, #err == #tostring(err),
      err.status, err.kind, err.message, err.tool
    """
    exit_code, envelope = run(code, "--emulate")
    assert exit_code == 0, envelope["error"]
    assert envelope["result"] == [
        "string",
        "404",
        True,
        True,
        True,
        True,
        404,
        "api",
        "No build found",
        "buildkite.buildkite_get_build",
    ]


def test_rethrown_errors_keep_their_data():
    """error(err, 0) after a pcall keeps the text, so meta.error still knows it."""
    code = """local ok, err = pcall(app.integrations.buildkite.get_build, "acme-inc", "web", 999)
    error(err, 0)"""
    _, envelope = run(code, "--emulate")
    assert envelope["error"] == "eval:1: Buildkite API error (404): No build found"
    assert envelope["meta"]["error"]["status"] == 404


def test_emulate_knows_the_configured_accounts(kosmo_home):
    """A typo in an account name fails under --emulate as it would for real; the default
    account and configured ones are emulated."""
    from kosmo_lua.config import Config

    config = Config.load(kosmo_home)
    config.set_account("buildkite", "work", {"access_token": "t"})
    config.save()
    exit_code, envelope = run(
        "return app.integrations.buildkite.work.get_current_user().name,"
        " app.integrations.buildkite.default.get_current_user().name",
        "--emulate",
    )
    assert exit_code == 0, envelope["error"]
    exit_code, envelope = run("app.integrations.buildkite.wrok.get_current_user()", "--emulate")
    assert exit_code == 1
    assert envelope["error"].startswith(
        "eval:1: Unknown Buildkite account 'wrok'. Did you mean: work? Accounts: default, work."
    )
    assert envelope["integration_calls"][0]["status"] == "error"
