"""Every example workflow runs through the installed `kosmo` against the emulator."""

from __future__ import annotations

from conftest import REPO

EXAMPLES = REPO / "examples"


def run_example(kosmo, name: str, *options: str) -> dict:
    done = kosmo("integrations:lua", str(EXAMPLES / name), "--emulate", "--json", *options)
    envelope = done.json()
    assert envelope["meta"]["emulated"] is True
    return envelope


def test_every_example_is_tested():
    tested = {
        "hello.lua",
        "failed_builds_on_main.lua",
        "trigger_build.lua",
        "retry_latest_failed.lua",
        "pipelines_last_build_failed.lua",
        "ci_report.lua",
        "triage.lua",
        "wait_and_report.lua",
    }
    assert {p.name for p in EXAMPLES.glob("*.lua")} == tested


def test_hello(kosmo):
    done = kosmo("integrations:lua", str(EXAMPLES / "hello.lua"), "--json")
    assert done.json()["result"] == [
        '{"greeting":"hello from the kosmo-lua sandbox","lua":"Lua 5.4","words":["42","7"]}'
    ]


def test_failed_builds_on_main(kosmo):
    envelope = run_example(kosmo, "failed_builds_on_main.lua")
    assert envelope["success"], envelope["error"]
    (report,) = envelope["result"]
    assert report, "the demo data has failed builds on main"
    failing = report[0]["failing_jobs"][0]
    assert failing["exit_status"] == 1
    assert "FAILED" in failing["log_tail"] and "\x1b" not in failing["log_tail"]
    assert envelope["output"].startswith(f"#{report[0]['number']} ")


def test_trigger_build_needs_force(kosmo):
    refused = run_example(kosmo, "trigger_build.lua")
    assert "write requires approval" in refused["error"]
    envelope = run_example(kosmo, "trigger_build.lua", "--force")
    (build,) = envelope["result"]
    assert build["state"] == "scheduled"
    assert build["url"].endswith(f"/acme-inc/deploy/builds/{build['number']}")
    assert envelope["output"] == f"Build #{build['number']} is scheduled: {build['url']}"


def test_retry_latest_failed(kosmo):
    envelope = run_example(kosmo, "retry_latest_failed.lua", "--force")
    assert envelope["success"], envelope["error"]
    assert envelope["result"][0]["retried"] >= 1
    assert [c["tool"] for c in envelope["integration_calls"]] == [
        "buildkite.buildkite_list_builds",
        "buildkite.buildkite_retry_failed_jobs",
    ]


def test_pipelines_last_build_failed(kosmo):
    envelope = run_example(kosmo, "pipelines_last_build_failed.lua")
    assert [row["pipeline"] for row in envelope["result"][0]] == ["api", "deploy"]
    assert envelope["output"].startswith("api is red: ")


def test_ci_report(kosmo):
    envelope = run_example(kosmo, "ci_report.lua")
    report = envelope["result"][0]
    assert set(report["pipelines"]) >= {"web", "api", "deploy"}
    assert sum(report["totals"].values()) == sum(p["builds"] for p in report["pipelines"].values())


def test_triage(kosmo):
    envelope = run_example(kosmo, "triage.lua")
    assert envelope["success"], envelope["error"]
    (failures,) = envelope["result"]
    assert failures["build"]["number"] == 42 and failures["build"]["state"] == "failed"
    (job,) = failures["failed_jobs"]
    assert job["first_error"] == {"line": 15, "text": "FAIL: 1 of 2 smoke checks failed"}
    assert len(job["log_tail"].split("\n")) <= 30 and "\x1b" not in job["log_tail"]
    assert envelope["output"].startswith("deploy #42 failed: ")
    assert [c["tool"] for c in envelope["integration_calls"]][:2] == [
        "buildkite.buildkite_list_builds",
        "buildkite.buildkite_get_build_failures",
    ]


def test_wait_and_report(kosmo):
    done = kosmo(
        "integrations:lua", str(EXAMPLES / "wait_and_report.lua"), "--emulate", "--force", "--json"
    )
    envelope = done.json()
    assert envelope["success"], envelope["error"]
    (report,) = envelope["result"]
    assert report["state"] == "failed" and report["failed_jobs"] >= 1
    output = envelope["output"].split("\n")
    assert output[0].startswith("Started api #") and output[1].endswith(" failed")
    # progress went to stderr, one line per state, never to the script's output
    progress = [line for line in done.stderr.splitlines() if line.startswith("kosmo: api #")]
    assert progress[0].endswith("is scheduled (0 s)") and "is failed" in progress[-1]
    assert len(progress) == len({line.split(" is ")[1].split(" (")[0] for line in progress})
    assert not any(line.startswith("kosmo:") for line in output)
