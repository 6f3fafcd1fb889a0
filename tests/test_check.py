"""``integrations:lua --check``: problems found without running the script or sending
anything, each with its line; the scanner it uses (luascan.py) on the forms scripts call
with; and hostile scripts (huge, deeply nested) that must not hang or crash it."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import REPO
from helpers import configured_emulator

from kosmo_lua.checker import MAX_CHECK_BYTES, check
from kosmo_lua.cli import main
from kosmo_lua.integrations import load
from kosmo_lua.integrations.buildkite.emulator import Emulator
from kosmo_lua.luascan import UNKNOWN, Table, call_sites, tokenize

BAD = """\
local bk = app.integrations.buildkite
local b = bk.list_builds{organization = 1, pipeline = "web", per_page = n}
local ok, e = pcall(bk.get_biuld, {number = 1})
docs.read "buildkite.get_bild"
bk.get_build("acme-inc")
local get = app.integrations.buildkite.get_build
get{organization = "a", pipeline = "b", number = 3, colour = "red"}
mcp.tool()
return bk.cancel_build{organization = "a", pipeline = "b", number = 1}
"""


def checked(*args: str, input: str | None = None) -> tuple[int, str]:
    done = CliRunner().invoke(main, ["integrations:lua", "--check", *args], input=input)
    return done.exit_code, done.stdout


def test_findings_each_with_its_line(tmp_path: Path):
    script = tmp_path / "workflow.lua"
    script.write_text(BAD)
    code, out = checked(str(script))
    assert code == 1
    assert out.splitlines() == [
        "workflow.lua:2: Argument 'organization' of buildkite.buildkite_list_builds must be a"
        " string, got the number 1",
        "workflow.lua:3: Unknown function: app.integrations.buildkite.get_biuld. Did you mean:"
        " get_build",
        "workflow.lua:4: No integration docs found for 'buildkite.get_bild'. Closest pages:"
        " buildkite.get_build. See docs.list().",
        "workflow.lua:5: Missing required argument 'pipeline' for buildkite.buildkite_get_build:"
        " Pipeline slug, as in buildkite.com/<organization>/<pipeline>.",
        "workflow.lua:5: Missing required argument 'number' for buildkite.buildkite_get_build:"
        " Build number (the number in the build's URL, not its UUID).",
        "workflow.lua:7: Unknown argument 'colour' for buildkite.buildkite_get_build. Parameters:"
        " organization, pipeline, number, include_retried_jobs, exclude_jobs, exclude_pipeline,"
        " job_states, with_meta",
        "workflow.lua:8: Unknown function: mcp.tool. Did you mean: mcp.tools? Available:"
        " mcp.servers, mcp.tools, mcp.schema, mcp.call, mcp.resources, mcp.read_resource,"
        " mcp.prompts, mcp.get_prompt",
    ]


def test_json_envelope_lists_the_findings():
    code, out = checked("-e", BAD, "--json")
    envelope = json.loads(out)
    assert code == 1 and envelope["success"] is False
    findings = envelope["meta"]["check"]["findings"]
    assert [(f["line"], f["kind"]) for f in findings] == [
        (2, "invalid_arguments"),
        (3, "unknown_function"),
        (4, "unknown_page"),
        (5, "invalid_arguments"),
        (5, "invalid_arguments"),
        (7, "invalid_arguments"),
        (8, "unknown_function"),
    ]
    assert envelope["meta"]["error"]["kind"] == "check"
    assert envelope["meta"]["error"]["line"] == 2
    assert envelope["error"].startswith("eval:2: Argument 'organization'")
    assert envelope["error"].endswith("(and 6 more problems: see meta.check)")


def test_syntax_errors_come_from_lua_with_their_line():
    code, out = checked("-e", "local x = 1\nif x then\n  print(x\nend", "--json")
    envelope = json.loads(out)
    assert code == 1
    (finding,) = envelope["meta"]["check"]["findings"]
    assert finding["kind"] == "syntax" and finding["line"] == 4
    assert finding["message"] == "eval:4: ')' expected (to close '(' at line 3) near 'end'"


def test_clean_script_from_stdin_exits_0():
    code, out = checked("-", input='return app.integrations.buildkite.get_build("a", "b", 1)')
    assert code == 0
    assert out == "stdin: no problems found (1 calls checked; nothing was run).\n"


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with configured_emulator("bkua_check_token") as served:
        yield served


def test_check_sends_nothing_and_runs_nothing(emulator: Emulator):
    script = """
    print("ran")
    local bk = app.integrations.buildkite
    local b = bk.list_builds{organization = "acme-inc", pipeline = "web", per_page = 1}[1]
    bk.cancel_build{organization = "acme-inc", pipeline = "web", number = b.number}
    return bk.api_post("/organizations/acme-inc/pipelines/web/builds",
      {commit = "HEAD", branch = "main"})
    """
    code, out = checked("-e", script, "--json")
    envelope = json.loads(out)
    assert code == 0, envelope["error"]
    assert envelope["output"] == "" and envelope["meta"]["check"] == {"findings": [], "calls": 3}
    assert emulator.requests == []
    # the same script, run, does reach the API
    done = CliRunner().invoke(main, ["integrations:lua", "-e", script, "--force"])
    assert done.exit_code == 0, done.output
    assert [r.method for r in emulator.requests] == ["GET", "PUT", "POST"]


def every_example() -> list[tuple[str, str]]:
    examples = [
        (f"{tool.integration}.{tool.name}", tool.example)
        for integration in load()
        for tool in integration.tools
        if tool.example
    ]
    examples += [(p.name, p.read_text()) for p in sorted((REPO / "examples").glob("*.lua"))]
    return examples


def test_no_false_findings_on_any_documented_example():
    for name, code in every_example():
        findings, _ = check(code, name)
        assert findings == [], (name, findings)


def test_aliases_shadowing_and_dynamic_calls_are_not_guessed():
    code = """
    local bk = app.integrations.buildkite
    local function f(bk) return bk.anything() end          -- a parameter, not the alias
    for _, bk in ipairs({}) do bk.whatever() end
    local t = {bk = 1, app = 2}
    local name = "get_build"
    local fn = bk[name]                                     -- dynamic: not seen
    bk.get_build(table.unpack(args))                        -- open-ended: no missing-arg guess
    bk.list_builds(opts)                                    -- a table or a value: unknown
    bk.list_builds{organization = org, per_page = 2, state = json.null}
    app.integrations.buildkite.work.get_build{organization = "a", pipeline = "b", number = 1}
    return app.integrations.buildkite.get_biuld
    """
    assert check(code, "eval") == ([], 4)


def test_scanner_reads_literal_arguments():
    sites = call_sites(
        """local bk = app.integrations.buildkite
        bk.f{a = "x", b = -2, c = 0x10, d = true, e = {1, 2}, f = {g = 'y\\n'}, h = [[long]]}
        bk.g("a", n, 3.5, ...)
        bk.h{a = x, [k] = 1}
        bk.i "s"
        """,
        frozenset({"app"}),
    )
    prefix = "app.integrations.buildkite."
    assert [(s.path.removeprefix(prefix), s.line) for s in sites] == [
        ("f", 2),
        ("g", 3),
        ("h", 4),
        ("i", 5),
    ]
    assert sites[0].args == [
        {"a": "x", "b": -2, "c": 16, "d": True, "e": [1, 2], "f": {"g": "y\n"}, "h": "long"}
    ]
    assert sites[1].args == ["a", UNKNOWN, 3.5, UNKNOWN] and sites[1].open_ended
    assert sites[2].args == [Table({"a": UNKNOWN}, 0, computed=True)]
    assert sites[3].args == ["s"]


def test_huge_and_deeply_nested_scripts_are_bounded():
    calls = 'app.integrations.buildkite.get_build{organization = "a", pipeline = "b", number = 1}\n'
    huge = calls * (MAX_CHECK_BYTES // len(calls) - 1)
    started = time.monotonic()
    findings, count = check(huge, "huge")
    assert findings == [] and count == huge.count("\n")
    assert time.monotonic() - started < 60
    findings, _ = check(huge + calls * 2, "huge")
    assert [f.kind for f in findings] == ["too_large"]
    for deep in (
        "return " + "{" * 100_000 + "}" * 100_000,
        "return " + "(" * 100_000 + "1" + ")" * 100_000,
        "x = " + "-" * 100_000 + "1",
        "return " + '"' + "\\" * 3,
    ):
        (finding,) = check(deep, "deep")[0]
        assert finding.kind == "syntax" and finding.line in (1, None), finding
        assert "\n" not in finding.message
    nested = "bk = app.integrations.buildkite\nbk.get_build{organization = " + "{" * 150
    nested += "}" * 150 + ', pipeline = "b", number = 1}'
    (finding,) = check(nested, "nested")[0]
    assert finding.line == 2 and "must be a string, got a table" in finding.message


def test_a_local_declared_without_a_value_does_not_hide_the_next_statement():
    # `local a` then a call on the next line: `app` is no name of that `local`, so the
    # call (and every later one through `app`) is still seen.
    code = "local result\napp.integrations.buildkite.get_biuld{}\nlocal a, b\napp.x.y()\n"
    sites = call_sites(code, frozenset({"app"}))
    assert [(s.path, s.line) for s in sites] == [
        ("app.integrations.buildkite.get_biuld", 2),
        ("app.x.y", 4),
    ]
    (finding,) = check(code, "eval")[0]
    assert finding.kind == "unknown_function" and finding.line == 2


def test_strings_lua_continues_across_lines_stay_strings():
    # `\z` skips the line break and the spaces after it; `\` before CR LF is one newline.
    # Read as code, the string's end would turn the rest of the script inside out.
    code = (
        'local s = "skip \\z\n   spaces" app.integrations.buildkite.get_biuld{} local v = "c"\n'
        'local t = "a\\\r\nb" app.integrations.buildkite.get_bulid{}\n'
        'local u = "app.integrations.buildkite.hidden{}"\n'
    )
    sites = call_sites(code, frozenset({"app"}))
    assert [(s.path.rpartition(".")[2], s.line) for s in sites] == [
        ("get_biuld", 2),
        ("get_bulid", 4),
    ]
    strings = [t.value for t in tokenize(code) if t.kind == "string"]
    assert strings[:3] == ["skip spaces", "c", "a\nb"]


def test_lines_are_counted_as_lua_counts_them():
    # A lone CR ends a line (and a line comment) for Lua: MCP clients send code as is.
    code = "-- a comment\rlocal a = 1\r\rapp.integrations.buildkite.get_biuld{}\n"
    (finding,) = check(code, "eval")[0]
    assert finding.kind == "unknown_function" and finding.line == 4


def test_nested_tables_are_read_without_copying_the_script_at_each_level():
    # Each level of a nested table held a copy of its tokens while reading the next one
    # in: 32 levels around a big table took 32 times its tokens (a 4 MiB script, ~500 MiB).
    import tracemalloc

    code = "app.f" + "{a = " * 30 + "{" + "1," * 100_000 + "}" + "}" * 30
    tracemalloc.start()
    try:
        tokenize(code)
        tokens_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        (site,) = call_sites(code, frozenset({"app"}))
        scan_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert scan_peak < tokens_peak + 8_000_000, (tokens_peak, scan_peak)
    value = site.args[0]
    for _ in range(30):
        value = value["a"]
    assert len(value) == 100_000


def test_strings_that_are_not_utf8_are_shown_as_the_run_would_see_them(tmp_path: Path):
    # A lone surrogate (\u{D800}), a byte escape and a raw byte that is not UTF-8: the
    # findings quote them as the run decodes them (U+FFFD), and printing them cannot fail.
    script = tmp_path / "odd.lua"
    script.write_bytes(
        b'docs.read("\\u{D800}")\n'
        b'docs.read("\\xff\\65")\n'
        b'docs.read("raw \xff byte")\n'
        b"docs.read([[long \xfe]])\n"
    )
    for as_json in ((), ("--json",)):
        done = CliRunner().invoke(main, ["integrations:lua", "--check", str(script), *as_json])
        assert done.exit_code == 1 and not isinstance(done.exception, UnicodeError), done
    strings = [t.value for t in tokenize(script.read_bytes().decode("utf-8", "surrogateescape"))]
    assert [s for s in strings if isinstance(s, str)] == [
        "\ufffd" * 3,
        "\ufffdA",
        "raw \ufffd byte",
        "long \ufffd",
    ]


def test_an_assignment_in_a_block_outlives_the_block():
    # `x = ...` (no `local`) changes the outer x for good: after the block x is no longer
    # what it was before it, so it is not read as that (a false finding on a valid script).
    code = """
    local x = mcp
    do x = app.integrations.buildkite end
    x.get_build{organization = "a", pipeline = "b", number = 1}
    local bk = app.integrations.buildkite
    if os.time() > 0 then bk = mcp end
    bk.tool("x")
    local kept = app.integrations.buildkite
    do local kept = mcp; kept = 1 end                       -- the block's own kept
    kept.get_biuld{}
    """
    sites = call_sites(code, frozenset({"app", "mcp"}))
    assert [(s.path, s.line) for s in sites] == [("app.integrations.buildkite.get_biuld", 10)]
    (finding,) = check(code, "eval")[0]
    assert finding.line == 10


def test_names_given_new_values_together_are_no_longer_what_they_were():
    # `n, bk = ...` assigns both: neither is the alias (or root) it was, so calls through
    # them are not checked; a table constructor's `{a, b = 1}` assigns nothing.
    code = """
    local bk = app.integrations.buildkite
    n, bk = 1, {get_biuld = print}
    bk.get_biuld{}
    x, app = 1, {integrations = {}}
    app.integrations.buildkite.get_biuld{}
    local t = {a, b = 1}
    mcp.tools()
    """
    sites = call_sites(code, frozenset({"app", "mcp"}))
    assert [(s.path, s.line) for s in sites] == [("mcp.tools", 8)]
    assert check(code, "eval")[0] == []
