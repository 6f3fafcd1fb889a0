"""The group and the start-up path's commands make their own help option (no gettext at
start-up), and it stays click's help option: a usage error still points at it."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from kosmo_lua.cli import main


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        (["nosuch"], "Try 'kosmo --help' for help."),
        (["--bogus"], "Try 'kosmo --help' for help."),
        (["integrations:lua", "--bogus"], "Try 'kosmo integrations:lua --help' for help."),
        (["mcp:call", "--bogus"], "Try 'kosmo mcp:call --help' for help."),
    ],
)
def test_a_usage_error_says_where_help_is(args, hint):
    done = CliRunner().invoke(main, args, prog_name="kosmo")
    assert done.exit_code == 2
    usage, said, _, error = done.stderr.splitlines()[:4]
    assert usage.startswith("Usage: kosmo")
    assert said == hint
    assert error.startswith("Error: ")


@pytest.mark.parametrize("args", [["-h"], ["--help"], ["integrations:lua", "-h"]])
def test_help_is_shown_once(args):
    done = CliRunner().invoke(main, args, prog_name="kosmo")
    assert done.exit_code == 0
    assert len(re.findall(r"-h, --help +Show this message and exit\.", done.stdout)) == 1
