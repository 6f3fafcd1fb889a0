"""Result types in the tool table: the grammar, the checks made when an Integration is made,
and the emulator's payloads against the Buildkite records."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from kosmo_lua import shapes
from kosmo_lua.catalog import Catalog
from kosmo_lua.config import Config
from kosmo_lua.emulation import Emulation
from kosmo_lua.integrations import load
from kosmo_lua.invoker import Invoker
from kosmo_lua.tools import Field, Integration, Record, Tool, record_table

BUILDKITE = load()[0]


# The grammar ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Build",
        "Build[]",
        "string?",
        "{bytes: integer}",
        "JobLog|string",
        "table<string, string>",
        "{a?: (Job|string)[], b: {c: integer}}",
        "{}",
        "Job[]?",
    ],
)
def test_type_expressions_read_back_as_written(text):
    assert shapes.render(shapes.parse(text)) == text


def test_the_compact_form_and_renamed_records():
    shape = shapes.parse("{jobs: Job[], env: table<string, string>}")
    assert shapes.render(shape, space="") == "{jobs:Job[],env:table<string,string>}"
    assert shapes.render(shape, rename=lambda n: f"bk.{n}") == (
        "{jobs: bk.Job[], env: table<string, string>}"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "expected a type, found the end at column 1"),
        ("Build[", "unexpected '[' at column 6"),
        ("{a integer}", "expected :, found 'integer' at column 4"),
        ("x y", "unexpected 'y' at column 3"),
        ("{a: integer, a: string}", "field 'a' twice"),
        ("$", "unexpected '$' at column 1"),
        ("|string", "expected a type, found '|'"),
        ("table<string>", "expected ,, found '>'"),
    ],
)
def test_malformed_type_expressions_say_where(text, message):
    with pytest.raises(ValueError, match=r"^type '") as raised:
        shapes.parse(text)
    assert message in str(raised.value)


def test_hostile_nesting_is_refused_without_recursing_away():
    with pytest.raises(ValueError, match="nested more than 16 deep") as raised:
        shapes.parse("(" * 100_000 + "string" + ")" * 100_000)
    assert len(str(raised.value)) < 200  # the text is cut, not echoed whole


# Checks when an Integration is made ----------------------------------------------------------

BUILD = Record("Build", "A build.", (Field("number", "integer"), Field("jobs", "Job[]")))
JOB = Record("Job", "A job.", (Field("id", "string"),))


def _integration(result: str = "Build", *records: Record) -> Integration:
    tool = Tool("get_build", "Get a build.", "read", "GET", ("/builds",), result=result)
    return Integration(
        name="ci",
        title="CI",
        summary="A CI service.",
        tools=(tool,),
        credentials=(),
        records=record_table(*(records or (BUILD, JOB))),
    )


def test_records_and_results_are_kept_by_name():
    integration = _integration("Build[]")
    assert integration.records["Build"] is BUILD
    assert integration.tools[0].result == "Build[]"


@pytest.mark.parametrize(
    ("result", "records", "message"),
    [
        ("Buld", (BUILD, JOB), "ci.get_build result: type 'Buld' names Buld, which is not"),
        ("Build", (BUILD,), "ci.Build.jobs: type 'Job[]' names Job, which is not a record"),
        ("Build[", (BUILD, JOB), "ci.get_build result: type 'Build['"),
        (
            "any",
            (Record("build", "lower case.", ()),),
            "record 'build' must be filed under its own name, which starts with a capital",
        ),
        (
            "any",
            (Record("Twice", "x.", (Field("a", "string"), Field("a", "integer"))),),
            "ci.Twice: field 'a' twice",
        ),
    ],
)
def test_table_mistakes_fail_when_the_integration_is_made(result, records, message):
    with pytest.raises(ValueError) as raised:
        _integration(result, *records)
    assert message in str(raised.value)


def test_a_featured_function_must_be_a_tool():
    tool = Tool("get_build", "Get a build.", "read", "GET", ("/builds",))
    with pytest.raises(ValueError, match="ci: featured function 'get_bulid' is not a tool"):
        Integration("ci", "CI", "A CI service.", (tool,), (), featured=("get_bulid",))


def test_two_records_of_one_name_are_refused():
    with pytest.raises(ValueError, match="two records are named Job"):
        record_table(JOB, Record("Job", "Another.", ()))


def test_every_buildkite_function_declares_its_result():
    assert [t.name for t in BUILDKITE.tools if not t.result] == []
    assert {"Build", "Job", "Pipeline", "Organization", "Agent", "Annotation", "Artifact"} <= set(
        BUILDKITE.records
    )


# The emulator's payloads carry every declared field -----------------------------------------


def _conforms(value: Any, shape: shapes.Shape, seen: set[str], where: str) -> list[str]:
    """What in ``value`` departs from ``shape``; ``seen`` collects ``Record.field`` names
    that held a value, so no declared field goes unexercised."""
    records = BUILDKITE.records
    match shape:
        case shapes.Nullable(item):
            return [] if value is None else _conforms(value, item, seen, where)
        case shapes.ListOf(item):
            if not isinstance(value, list):
                return [f"{where}: not a list: {value!r:.60}"]
            return [p for v in value for p in _conforms(v, item, seen, f"{where}[]")]
        case shapes.Union(items):
            for item in items:
                if not _conforms(value, item, set(), where):
                    _conforms(value, item, seen, where)  # counts its fields as seen
                    return []
            return [f"{where}: none of {shapes.render(shape)}: {value!r:.60}"]
        case shapes.MapOf(_, item):
            if not isinstance(value, dict):
                return [f"{where}: not a table: {value!r:.60}"]
            return [p for k, v in value.items() for p in _conforms(v, item, seen, f"{where}.{k}")]
        case shapes.Table(entries):
            if not isinstance(value, dict):
                return [f"{where}: not a table: {value!r:.60}"]
            problems = []
            for entry in entries:
                if entry.name not in value and not entry.optional:
                    problems.append(f"{where}: no {entry.name}")
                elif entry.name in value:
                    problems += _conforms(
                        value[entry.name], entry.shape, seen, f"{where}.{entry.name}"
                    )
            return problems
        case shapes.Name(name) if name in records:
            record = records[name]
            if not isinstance(value, dict):
                return [f"{where}: {name} is not a table: {value!r:.60}"]
            problems = []
            for field in record.fields:
                field_shape = shapes.parse(field.type)
                if field.name not in value and not isinstance(field_shape, shapes.Nullable):
                    problems.append(f"{where}: {name} has no {field.name}")
                    continue
                held = value.get(field.name)
                if held is not None:
                    seen.add(f"{name}.{field.name}")
                problems += _conforms(held, field_shape, seen, f"{where}.{field.name}")
            return problems
        case shapes.Name(name):
            kinds: dict[str, Any] = {
                "string": str,
                "integer": int,
                "number": (int, float),
                "boolean": bool,
                "table": (dict, list),
            }
            ok = name == "any" or (
                isinstance(value, kinds[name])
                and not (name in ("integer", "number") and isinstance(value, bool))
            )
            return [] if ok else [f"{where}: not {name}: {value!r:.60}"]
    raise AssertionError(shape)


@pytest.fixture
def emulated(kosmo_home) -> Iterator[Invoker]:
    invoker = Invoker(
        Catalog([BUILDKITE]),
        Config.load(kosmo_home),
        force=True,
        report=lambda *_: None,
        emulation=Emulation(),
    )
    yield invoker
    invoker.close()


def test_the_emulator_returns_every_declared_field(emulated):
    """Every function, driven against the demo data: each result is of its declared type,
    and every field of every record holds a value in some result."""
    results: dict[str, list[Any]] = {}

    def call(name: str, /, **args: Any) -> Any:
        value = emulated.invoke(f"app.integrations.buildkite.{name}", [args])[0]
        results.setdefault(name, []).append(value)
        return value

    org = {"organization": "acme-inc"}
    api = {**org, "pipeline": "api"}
    call("get_current_user")
    call("get_access_token")
    call("list_organizations")
    call("get_organization", **org)
    call("list_pipelines", **org)
    call("get_pipeline", **api)
    failed = call("list_builds", **api, state="failed")[0]
    build = {**api, "number": failed["number"]}
    call("get_build", **build)
    call("wait_for_build", **build, interval=1)
    call("get_build_failures", **build, log_lines=3)
    call("list_builds", **org, branch="main", per_page=50)
    job = next(j for j in failed["jobs"] if j["state"] == "failed")
    on_job = {**build, "job_id": job["id"]}
    call("get_job", **on_job)
    call("list_jobs", **build)
    call("get_job_log", **on_job)
    call("get_job_log", **on_job, tail=3)
    call("search_job_log", **on_job, pattern="/error|fail/i", context=1)
    call("get_job_log_info", **on_job)
    call("get_job_environment", **on_job)
    call("list_annotations", **build, scope="all")
    artifacts = call("list_artifacts", **build)
    web = {**org, "pipeline": "web"}
    web_build = {**web, "number": call("list_builds", **web, state="passed")[0]["number"]}
    for where in (build, web_build):  # JUnit XML (text) and a tarball (base64)
        for artifact in call("list_artifacts", **where):
            one = {**where, "job_id": artifact["job_id"], "artifact_id": artifact["id"]}
            call("get_artifact", **one)
            call("download_artifact", **one)
    for agent in call("list_agents", **org):
        call("get_agent", **org, agent_id=agent["id"])
    for cluster in call("list_clusters", **org):
        call("get_cluster", **org, cluster_id=cluster["id"])
        for queue in call("list_cluster_queues", **org, cluster_id=cluster["id"]):
            call("get_cluster_queue", **org, cluster_id=cluster["id"], queue_id=queue["id"])
    suite = {**org, "suite": call("list_test_suites", **org)[0]["slug"]}
    for run in call("list_test_runs", **suite):
        call("get_test_run", **suite, run_id=run["id"])
        call("list_failed_executions", **suite, run_id=run["id"], include_failure_expanded=True)
    # Writes, each on what the reads found.
    call("create_annotation", **build, body="Broken", style="error", context="t")
    call("delete_annotation", **build, annotation_id=results["create_annotation"][0]["id"])
    call("retry_job", **on_job)
    retried = call("retry_failed_jobs", **build)
    rebuilt = call("rebuild_build", **{**api, "number": retried["number"]})
    call("cancel_build", **{**api, "number": rebuilt["number"]})
    new = call("create_build", **api, branch="main", message="Records")
    queued = {**api, "number": new["number"]}
    waiting = next(j for j in call("get_build", **queued)["jobs"] if j["type"] == "script")
    call("reprioritize_job", **queued, job_id=waiting["id"], priority=5)
    release = call("create_build", organization="acme-inc", pipeline="release", branch="main")
    block = {"organization": "acme-inc", "pipeline": "release", "number": release["number"]}
    blocked = call("wait_for_build", **block, interval=1)
    step = next(j for j in blocked["jobs"] if j["type"] == "manual")
    call("unblock_job", **block, job_id=step["id"])
    created = call(
        "create_pipeline",
        **org,
        cluster_id=results["list_clusters"][0][0]["id"],
        name="Scratch",
        repository="git@github.com:acme-inc/scratch.git",
        configuration="steps:\n  - command: make",
    )
    scratch = {**org, "pipeline": created["slug"]}
    call("update_pipeline", **scratch, description="Scratch")
    call("archive_pipeline", **scratch)
    call("unarchive_pipeline", **scratch)
    call("delete_pipeline", **scratch)
    agent_id = results["list_agents"][0][0]["id"]
    call("pause_agent", **org, agent_id=agent_id)
    call("resume_agent", **org, agent_id=agent_id)
    call("stop_agent", **org, agent_id=agent_id)
    art = artifacts[0]
    call("delete_artifact", **build, job_id=art["job_id"], artifact_id=art["id"])
    call("api_get", path="/organizations/acme-inc")
    for raw in ("api_post", "api_put", "api_patch", "api_delete"):
        results[raw] = []  # any: nothing to check beyond the call itself

    seen: set[str] = set()
    problems = []
    for tool in BUILDKITE.tools:
        assert tool.name in results, f"{tool.name} was not driven"
        shape = shapes.parse(tool.result)
        for i, value in enumerate(results[tool.name]):
            problems += _conforms(value, shape, seen, f"{tool.name}#{i}")
    assert problems == []
    declared = {f"{r.name}.{f.name}" for r in BUILDKITE.records.values() for f in r.fields}
    assert declared - seen == set(), "declared fields no payload ever filled"
