"""The reference is complete, exact and generated from the tool table."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from conftest import REPO

from kosmo_lua.integrations import load
from kosmo_lua.reference import load_reference
from kosmo_lua.reference.render import reference_document

BUILDKITE = load()[0]
TOOLS = BUILDKITE.tools


def test_every_tool_and_parameter_is_described():
    for tool in TOOLS:
        assert tool.summary.endswith("."), tool.name
        assert tool.returns, tool.name
        assert tool.example, tool.name
        for param in tool.params:
            assert len(param.description) > 10, (tool.name, param.name)


@pytest.mark.parametrize("tool", TOOLS, ids=[t.name for t in TOOLS])
def test_function_page_is_complete(tool):
    page = load_reference().read(f"buildkite.{tool.name}")
    assert page.startswith(f"# buildkite.{tool.name}\n")
    assert tool.summary in page
    assert ("Access: Read" if tool.access == "read" else "Access: Write") in page
    assert f"`{tool.lua_path}(...)`" in page
    assert f"`{tool.full_name}`" in page
    assert "```lua" in page and "## Returns" in page and "## Errors" in page
    assert f"`{tool.result}`" in page.split("## Returns")[1]
    assert 'docs.read("buildkite.errors")' in page and "401" not in page  # said once, there
    assert ("No parameters." in page) == (not tool.params)
    for param in tool.params:
        assert f"| `{param.name}` |" in page


@pytest.mark.parametrize(
    "name",
    [
        "buildkite.get_build",
        "integrations.buildkite.get_build",
        "buildkite.get",
        "buildkite.buildkite_get_build",
        "integrations.buildkite.buildkite_get_build",
    ],
)
def test_every_name_of_a_function_reaches_its_page(name):
    assert load_reference().read(name).startswith("# buildkite.get_build\n")


def test_integration_page_has_the_overview_and_groups_functions():
    page = load_reference().read("integrations.buildkite")
    for section in (
        "## Common workflow",
        "## Triggering a build",
        "## Job diagnostics",
        "## Raw helpers",
        "## Authentication and scopes",
        "## How responses come back",
        "### Read",
        "### Write",
        'docs.read("buildkite.quick")',
    ):
        assert section in page
    assert "## Agents and clusters" not in page  # the function index lists them
    read, write = page.split("### Read")[1].split("### Write")
    assert "buildkite.get_build" in read and "buildkite.create_build" not in read
    assert "buildkite.create_build" in write


def test_errors_and_records_pages_say_what_function_pages_point_to():
    errors = load_reference().read("buildkite.errors")
    assert errors.startswith("# buildkite errors\n")
    assert "Buildkite API error (403)`: the token lacks a scope" in errors
    assert "--write allow" in errors
    records = load_reference().read("integrations.buildkite.records")
    for record in BUILDKITE.records.values():
        assert f"## {record.name}\n\n{record.summary}" in records
        for field in record.fields:
            assert f"| `{field.name}` |" in records


def test_the_quick_sheet_fits_its_budget_and_says_what_it_left_out():
    from kosmo_lua.reference.quick import BUDGET

    sheet = load_reference().read("buildkite.quick")
    assert len(sheet.encode()) <= BUDGET == 1536
    lines = sheet.splitlines()
    assert "o=organization p=pipeline n=number j=job_id" in lines[1]
    # The featured functions first, with their first options: a triage needs no docs read.
    assert lines[2] == "list_builds(o?,p?,branch?,commit?,state?,…)Build[]"
    assert "get_build_failures(o,p,n,log_lines?,error_pattern?)BuildFailures" in lines
    assert next(line for line in lines if line.startswith("Job{")).startswith("Job{id,type,")
    shown = {line.split("(")[0].split("{")[0] for line in lines[2:-1]}
    assert set(BUILDKITE.featured) <= shown
    functions, records = re.match(r"\+(\d+) functions, (\d+) records: ", lines[-1]).groups()
    assert lines[-1].endswith('docs.read("buildkite") lists all, "buildkite.records" has fields')
    assert len(shown) + int(functions) + int(records) == len(TOOLS) + len(BUILDKITE.records)


def test_the_quick_sheet_of_a_small_integration_holds_everything():
    from kosmo_lua.reference.quick import quick_sheet

    sheet = quick_sheet(BUILDKITE, budget=10_000)
    assert "Not here" not in sheet
    assert all(f"\n{t.name}(" in sheet for t in TOOLS)
    assert all(f"\n{name}{{" in sheet for name in BUILDKITE.records)


def test_unknown_page_says_so_and_suggests():
    text = load_reference().read("buildkite.get_bild")
    assert text.startswith("No integration docs found for 'buildkite.get_bild'.")
    assert "buildkite.get_build" in text


def test_search_ranks_the_best_match_first():
    assert load_reference().search("retry")[0] == (
        "buildkite.retry_job - Retry a failed, timed-out or canceled job."
    )
    assert load_reference().search("log")[0].startswith("buildkite.get_job_log - ")
    assert load_reference().search("zzzz") == []
    assert load_reference().search("the of a") == []  # words that say nothing find nothing


@pytest.mark.parametrize(
    ("phrase", "first"),
    [
        ("tail log of failed job", {"get_job_log", "search_job_log"}),
        ("wait for build to finish", {"wait_for_build"}),
        ("retry a job", {"retry_job"}),
        ("list failed builds on main", {"list_builds"}),
        ("restart failed jobs", {"retry_failed_jobs"}),
        ("rerun a build", {"rebuild_build"}),
        ("last lines of a job's log", {"get_job_log"}),
        ("what failed in a build", {"get_build_failures"}),
        ("Download Artifacts", {"download_artifact"}),
        ("artifact file", {"download_artifact"}),  # the record it returns: ArtifactFile
    ],
)
def test_search_finds_the_function_for_a_natural_phrase(phrase: str, first: set[str]):
    """Agents ask in their words: stems, stop words, parameter names (``tail``) and the
    share of a function's name the phrase covers decide, and not every word must match."""
    best = load_reference().search(phrase)[0].split(" - ")[0]
    assert best.removeprefix("buildkite.") in first, load_reference().search(phrase)[:3]


def test_search_stems_plurals_and_tenses():
    from kosmo_lua.reference.search import terms

    assert terms("Builds failed, retries finishing") == ["build", "fail", "retry", "finish"]
    assert terms("of the job_id") == ["job", "id"]


def test_committed_reference_is_up_to_date():
    committed = (REPO / "docs" / "reference" / "buildkite.md").read_text()
    assert committed == reference_document(BUILDKITE), (
        "docs/reference/buildkite.md is stale: run "
        "kosmo integrations:docs buildkite --full > docs/reference/buildkite.md"
    )


def test_docs_in_lua(lua):
    result = lua(
        'return docs.read("buildkite.get"), docs.search("retry"), docs.list(), docs.read("x")'
    )
    page, search, index, missing = result.result
    assert page.startswith("# buildkite.get_build")
    assert search.startswith("buildkite.retry_job - ")
    assert "buildkite.list_builds - " in index and "- lua" in index
    assert missing.startswith("No integration docs found for 'x'.")


def test_docs_in_lua_refuse_a_100_kb_query_or_page_name(lua):
    result = lua(
        'local ok, err = pcall(docs.search, string.rep("retry ", 20000))'
        ' local ok2, err2 = pcall(docs.read, string.rep("x", 100000))'
        " return ok, err, ok2, err2"
    )
    ok, message, ok2, message2 = result.result
    assert ok is False and ok2 is False
    for text in (message, message2):
        assert "at most 1000 characters" in text and len(text) < 300


@pytest.mark.parametrize("page", ["lua", "json", "regex", "mcp"])
def test_host_pages(lua, page):
    text = lua(f'return docs.read("{page}")').result[0]
    assert text.startswith("# ")
    assert len(text) > 500


def test_docs_need_no_http_stack():
    probe = (
        "import sys\nfrom kosmo_lua.reference import load_reference\n"
        "load_reference().read('buildkite')\nprint('httpx' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "False"


# Commands -----------------------------------------------------------------------------------


def test_docs_command(kosmo):
    assert kosmo("integrations:docs").stdout.startswith("# Lua reference")
    assert kosmo("integrations:docs", "buildkite.get_build").stdout.startswith(
        "# buildkite.get_build"
    )
    quick = kosmo("integrations:docs", "buildkite", "--quick").stdout
    assert quick == load_reference().read("buildkite.quick")
    assert kosmo("integrations:docs", "--quick").returncode == 2
    data = json.loads(kosmo("integrations:docs", "buildkite.get", "--json").stdout)
    assert data["full_name"] == "buildkite.buildkite_get_build"
    assert data["schema"]["required"] == ["organization", "pipeline", "number"]
    missing = kosmo("integrations:docs", "nope")
    assert missing.returncode == 1 and "No integration docs found" in missing.stdout


def test_search_and_schema_commands(kosmo):
    assert kosmo("integrations:search", "retry").stdout.startswith("buildkite.retry_job")
    schema = json.loads(kosmo("integrations:schema", "buildkite.create_build").stdout)
    assert schema["title"] == "buildkite.buildkite_create_build"
    assert schema["properties"]["env"]["type"] == "object"
    assert "branch" in schema["required"]
    assert kosmo("integrations:schema", "buildkite.nope").returncode == 2


def test_list_and_status_never_show_secrets(kosmo):
    kosmo("integrations:configure", "buildkite", "--set", "access_token=sekret-value-123")
    listed = json.loads(kosmo("integrations:list", "--json").stdout)
    assert listed[0]["name"] == "buildkite" and listed[0]["configured"] is True
    status = kosmo("integrations:status", "--json", BUILDKITE_API_TOKEN="env-secret-456")
    assert "sekret-value-123" not in status.stdout and "env-secret-456" not in status.stdout
    assert json.loads(status.stdout)["integrations"][0]["environment"] == {
        "BUILDKITE_API_TOKEN": "set (hidden)"
    }


def test_call_dry_run_sends_nothing_and_masks_the_token(kosmo):
    done = kosmo(
        "integrations:call",
        "buildkite.create_build",
        "--arg",
        "organization=acme-inc",
        "--arg",
        "pipeline=deploy",
        "--arg",
        "branch=main",
        "--arg",
        'env={"A": "1"}',
        "--dry-run",
        BUILDKITE_API_TOKEN="tok-should-not-show",
    )
    request = json.loads(done.stdout)
    assert request["method"] == "POST"
    assert request["url"].endswith("/organizations/acme-inc/pipelines/deploy/builds")
    assert request["body"] == {"commit": "HEAD", "branch": "main", "env": {"A": "1"}}
    assert request["headers"]["Authorization"] == "Bearer ***"
    assert "tok-should-not-show" not in done.stdout


def test_call_validates_before_sending(kosmo):
    done = kosmo(
        "integrations:call",
        "buildkite.get_build",
        "--arg",
        "organization=a",
        "--arg",
        "pipeline=b",
        "--arg",
        "number=x",
        "--json",
    )
    assert done.returncode == 1
    assert "must be a whole number" in json.loads(done.stdout)["error"]


@pytest.mark.parametrize("tool", TOOLS, ids=[t.name for t in TOOLS])
def test_every_example_runs_against_the_emulator(tool):
    """A function page's example is runnable: it runs as it is, against the demo data."""
    from kosmo_lua.dispatch import AppDispatcher
    from kosmo_lua.limits import Limits
    from kosmo_lua.runtime.supervisor import Worker

    with Worker(Limits(), AppDispatcher.factory(force=True, emulate=True)) as worker:
        result = worker.run(tool.example, tool.name)
    assert result.success, f"{tool.name}: {result.error}"
    assert any(call["tool"] == tool.full_name for call in result.integration_calls)


def test_prose_quotes_the_meta_keys_as_the_host_declares_them():
    """Hand-written docs that list with_meta's keys list exactly tools.META_KEYS."""
    import re

    from kosmo_lua.tools import META_KEYS

    sources = [
        *REPO.glob("docs/*.md"),
        REPO / "README.md",
        *(REPO / "kosmo_lua").rglob("*.md"),
    ]
    quoted = 0
    for source in sources:
        for found in re.findall(r"\{status, next_page[^`]*\}", source.read_text()):
            keys = re.sub(r"\{[^{}]*\}", "", found[1:-1])  # rate_limit = {...} → rate_limit
            names = [k.split("=")[0].strip() for k in keys.split(",")]
            assert tuple(names) == META_KEYS, f"{source.name}: {found}"
            quoted += 1
    assert quoted >= 4


def test_the_limits_table_quotes_the_defaults_as_the_host_declares_them():
    """docs/sandbox.md's table of limits states the defaults and maxima of limits.py."""
    import re

    from kosmo_lua.limits import MAX_CALLS, MAX_CONCURRENCY, Limits, size_text

    defaults = Limits()
    table = (REPO / "docs" / "sandbox.md").read_text()
    rows = dict(re.findall(r"^\| `(--[a-z-]+)[^`]*` \| ([^|]+) \|", table, re.MULTILINE))
    assert rows["--memory-limit"].strip() == size_text(defaults.memory_bytes)
    assert rows["--cpu-limit"].strip() == f"{defaults.cpu_seconds:g}"
    assert rows["--output-limit"].strip() == size_text(defaults.output_bytes)
    assert rows["--concurrency"].strip() == str(defaults.concurrency)
    assert f"at most {MAX_CONCURRENCY})" in table
    assert f"a run may make (at most {MAX_CALLS:,})" in table


def test_the_lua_pages_fan_out_example_runs_against_the_emulator():
    """The first Lua block of "Many calls at once" in docs.read("lua") runs as written."""
    from kosmo_lua.dispatch import AppDispatcher
    from kosmo_lua.limits import Limits
    from kosmo_lua.reference import load_reference
    from kosmo_lua.runtime.supervisor import Worker

    page = load_reference().read("lua")
    section = page.split("## Many calls at once", 1)[1]
    code = section.split("```lua\n", 1)[1].split("```", 1)[0]
    with Worker(Limits(), AppDispatcher.factory(emulate=True)) as worker:
        result = worker.run(code + "\nreturn #builds, user.name, #orgs", "lua.md")
    assert result.success, result.error
    assert result.result == [3, "Ada Lovelace", 1]


def test_the_guide_quotes_the_agent_budgets_as_the_host_declares_them():
    """The guide's figures for the reply budget and the signature sheet are the constants."""
    from kosmo_lua.mcp.reply import MAX_REPLY_BYTES, REPLY_BYTES
    from kosmo_lua.reference.quick import BUDGET

    guide = (REPO / "docs" / "guide.md").read_text()
    assert f"({REPLY_BYTES:,} by default, at most {MAX_REPLY_BYTES:,})" in guide
    assert f"in at most {BUDGET / 1024:g} KB" in guide


def test_the_docs_quote_the_decoder_switch_as_the_host_declares_it():
    """The guide's and the benchmarks' switch for the C decoder of pages, and the depth past
    which the benchmarks say it refuses, are native.py's and engine.py's constants."""
    from kosmo_lua.runtime.engine import MAX_DEPTH
    from kosmo_lua.runtime.native import SWITCH

    guide = (REPO / "docs" / "guide.md").read_text()
    benchmarks = (REPO / "benchmarks" / "README.md").read_text()
    assert f"`{SWITCH}=0` turns the decoder off" in guide
    assert f"sets `{SWITCH}=0`" in benchmarks
    assert f"nesting past {MAX_DEPTH})" in benchmarks


def test_the_integration_guide_names_the_arguments_mcp_serve_adds():
    from kosmo_lua.tools import SERVER_ARGUMENTS

    account, budget = SERVER_ARGUMENTS
    guide = (REPO / "docs" / "writing-an-integration.md").read_text()
    assert f"adds `{account}`\nand `{budget}` to each function it exposes" in guide
