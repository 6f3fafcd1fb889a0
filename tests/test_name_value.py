"""NAME=VALUE options: one parser and one message for every command; values typed by the
JSON Schema the command knows (a tool's, an MCP tool's input schema)."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner

from kosmo_lua.cli import main
from kosmo_lua.cli.name_value import typed, typed_arguments

STRING_OR_LIST = {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}


@pytest.mark.parametrize(
    ("args", "option", "value"),
    [
        (["integrations:call", "buildkite.get_build", "--arg", "number"], "--arg", "number"),
        (["mcp:call", "files.read", "--arg", "path"], "--arg", "path"),
        (["integrations:configure", "buildkite", "--set", "access_token"], "--set", "access_token"),
        (["mcp:add", "files", "--env", "TOKEN", "--", "echo"], "--env", "TOKEN"),
        (["mcp:add", "api", "--url", "https://mcp.test/", "--header", "Auth"], "--header", "Auth"),
    ],
    ids=["call --arg", "mcp:call --arg", "configure --set", "mcp:add --env", "mcp:add --header"],
)
def test_every_name_value_option_fails_alike_before_anything_runs(args, option, value):
    """mcp:call says so before it looks for the server (none is configured here)."""
    done = CliRunner().invoke(main, args)
    assert done.exit_code == 2
    assert f"Error: Invalid value for '{option}': '{value}' is not NAME=VALUE\n" in done.stderr


@pytest.mark.parametrize(
    ("schema", "text", "value"),
    [
        ({"type": "integer"}, "42", 42),
        ({"type": "integer"}, "4.0", "4.0"),  # left for validation to report
        ({"type": "integer"}, "x", "x"),
        ({"type": "number"}, "1.5", 1.5),
        ({"type": "boolean"}, "1", True),
        ({"type": "boolean"}, "False", False),
        ({"type": "boolean"}, "yes", "yes"),
        ({"type": "object"}, '{"A": "1"}', {"A": "1"}),
        ({"type": "object"}, "[1]", "[1]"),
        ({"type": "array"}, "[1, 2]", [1, 2]),
        ({"type": "string"}, "007", "007"),
        ({"type": "string"}, "true", "true"),
        (STRING_OR_LIST, '["a", "b"]', ["a", "b"]),
        (STRING_OR_LIST, "main", "main"),
        (STRING_OR_LIST, '"main"', '"main"'),
        ({}, "5", 5),
        ({}, '"007"', "007"),
        ({}, "not json", "not json"),
    ],
)
def test_values_are_typed_by_their_schema(schema: dict[str, Any], text: str, value: Any):
    assert typed(schema, text) == value
    assert type(typed(schema, text)) is type(value)


def test_a_tools_arguments_are_typed_by_its_schema():
    from kosmo_lua.cli.catalog_commands import find_tool

    pairs = [("organization", "007"), ("number", "42"), ("job_states", '["failed"]')]
    assert typed_arguments(pairs, find_tool("buildkite.get_build").schema()) == {
        "organization": "007",
        "number": 42,
        "job_states": ["failed"],
    }
    pairs = [("env", '{"A": "1"}'), ("clean_checkout", "true"), ("unknown", "1")]
    assert typed_arguments(pairs, find_tool("buildkite.create_build").schema()) == {
        "env": {"A": "1"},
        "clean_checkout": True,
        "unknown": 1,
    }
