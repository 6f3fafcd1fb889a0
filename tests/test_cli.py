"""End to end: the installed `kosmo` command in a subprocess, as users and CI jobs run it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest
from conftest import ENVELOPE_KEYS, REPO
from helpers import kosmo_path


def test_eval_prints_output_then_results(kosmo):
    done = kosmo("integrations:lua", "--eval", 'print("hi") return "text", {a = 1}')
    assert done.returncode == 0
    assert done.stdout == 'hi\ntext\n{\n    "a": 1\n}\n'
    assert done.stderr == ""


def test_short_eval_option(kosmo):
    assert kosmo("integrations:lua", "-e", "return 41 + 1").stdout == "42\n"


def test_json_envelope_is_one_object(kosmo):
    done = kosmo("integrations:lua", "-e", 'print("a") print("b") return 1, "a"', "--json")
    envelope = json.loads(done.stdout)
    assert set(envelope) == set(ENVELOPE_KEYS)
    assert envelope["success"] is True
    assert envelope["output"] == "a\nb"
    assert envelope["result"] == [1, "a"]
    assert envelope["error"] is None
    assert envelope["meta"]["permission_bypassed"] is False


def test_no_return_gives_an_empty_result(kosmo):
    assert kosmo("integrations:lua", "-e", "local x = 1", "--json").json()["result"] == []


def test_script_error_exits_1_with_the_error_on_stderr(kosmo):
    done = kosmo("integrations:lua", "-e", 'print("before") error("boom")')
    assert done.returncode == 1
    assert done.stdout == "before\n"
    assert done.stderr == "Error: eval:1: boom\n"


def test_script_error_in_json(kosmo):
    done = kosmo("integrations:lua", "-e", 'error("boom")', "--json")
    assert done.returncode == 1
    envelope = done.json()
    assert envelope["success"] is False
    assert envelope["error"] == "eval:1: boom"
    assert envelope["result"] is None


def test_file_argument(kosmo, tmp_path):
    script = tmp_path / "workflow.lua"
    script.write_text('print("from file")\nreturn 7\n')
    done = kosmo("integrations:lua", str(script), "--json")
    assert done.json()["output"] == "from file"
    assert done.json()["result"] == [7]


def test_file_errors_name_the_file(kosmo, tmp_path):
    script = tmp_path / "broken.lua"
    script.write_text("\n\nerror('line three')\n")
    assert kosmo("integrations:lua", str(script), "--json").json()["error"] == (
        "broken.lua:3: line three"
    )


def test_dash_reads_stdin(kosmo):
    assert kosmo("integrations:lua", "-", input="return 'dash'").stdout == "dash\n"


def test_piped_stdin_without_arguments(kosmo):
    done = kosmo("integrations:lua", "--json", input="print('piped')")
    assert done.json()["output"] == "piped"


@pytest.mark.parametrize("json_flag", [False, True])
def test_no_code_is_a_usage_error(kosmo, json_flag):
    done = kosmo("integrations:lua", *(["--json"] if json_flag else []))
    assert done.returncode == 2
    if json_flag:
        assert done.json()["error"].startswith("No Lua code given")
        assert done.json()["success"] is False
    else:
        assert "No Lua code given" in done.stderr


def test_missing_file_is_a_usage_error(kosmo):
    done = kosmo("integrations:lua", "missing.lua", "--json")
    assert done.returncode == 2
    assert done.json()["error"] == "File not found: missing.lua"


def test_bad_option_with_json_still_prints_the_envelope(kosmo):
    done = kosmo("integrations:lua", "--json", "--cpu-limit", "soon")
    assert done.returncode == 2
    envelope = done.json()
    assert set(envelope) == set(ENVELOPE_KEYS)
    assert "--cpu-limit" in envelope["error"]


def test_eval_and_file_together_are_refused(kosmo, tmp_path):
    script = tmp_path / "a.lua"
    script.write_text("return 1")
    assert kosmo("integrations:lua", str(script), "-e", "return 2").returncode == 2


@pytest.mark.parametrize(
    ("code", "options", "prefix"),
    [
        ("while true do end", ["--cpu-limit", "0.5"], "CPU limit exceeded"),
        (
            "local t = {} for i = 1, 1e9 do t[i] = i end",
            ["--memory-limit", "8M"],
            "Memory limit exceeded",
        ),
        ("while true do end", ["--timeout", "0.5"], "Time limit exceeded"),
        ("while true do print('x') end", ["--output-limit", "10k"], "Output limit exceeded"),
        (
            'string.find(string.rep("a", 400), ".-.-.-.-.-b$")',
            ["--cpu-limit", "0.5"],
            "CPU limit exceeded",
        ),
    ],
)
def test_limits_end_with_a_valid_envelope(kosmo, code, options, prefix):
    done = kosmo("integrations:lua", "-e", code, "--json", *options)
    assert done.returncode == 1
    envelope = done.json()
    assert set(envelope) == set(ENVELOPE_KEYS)
    assert envelope["error"].startswith(prefix)
    assert envelope["success"] is False


def test_repl_keeps_state_and_quits(kosmo):
    done = kosmo(
        "integrations:lua",
        "--repl",
        input="x = 20\nx * 2 + 2\nfor i = 1, 2 do\nprint(i)\nend\nerror('oops')\n"
        ":quit\nprint('never')\n",
    )
    assert done.returncode == 0
    assert done.stdout.count("lua> ") >= 5
    assert "42\n" in done.stdout
    assert "1\n2\n" in done.stdout
    assert "never" not in done.stdout
    assert "Error: repl:1: oops" in done.stderr


def test_repl_refuses_json_with_an_envelope(kosmo):
    done = kosmo("integrations:lua", "--repl", "--json")
    assert done.returncode == 2
    assert done.json()["error"] == "--repl takes no code, FILE or --json"


def test_shebang_bom_and_latin1_files_run(kosmo, tmp_path):
    script = tmp_path / "run.lua"
    script.write_bytes(b'\xef\xbb\xbf#!/usr/bin/env kosmo\nprint("caf\xe9")\nerror("line 3")\n')
    done = kosmo("integrations:lua", str(script), "--json")
    assert done.json()["output"] == "caf\ufffd"
    assert done.json()["error"] == "run.lua:3: line 3"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--memory-limit", "1000"], "must be at least 1048576 bytes"),
        (["--timeout", "nan"], "must be a positive, finite number of seconds"),
        (["--cpu-limit", "inf"], "must be a positive, finite number of seconds"),
        (["--emulate-data", "README.md"], "--emulate-data goes with --emulate"),
    ],
)
def test_bad_options_are_usage_errors_in_json_too(kosmo, options, message, monkeypatch):
    monkeypatch.chdir(REPO)
    done = kosmo("integrations:lua", "-e", "return 1", "--json", *options)
    assert done.returncode == 2
    assert message in done.json()["error"]


def test_a_directory_is_not_a_script(kosmo, tmp_path):
    assert kosmo("integrations:lua", str(tmp_path), "--json").json()["error"] == (
        f"Not a file: {tmp_path}"
    )


def test_broken_emulator_data_is_a_usage_error(kosmo, tmp_path):
    data = tmp_path / "world.json"
    data.write_text("{broken")
    done = kosmo("integrations:lua", "-e", "return 1", "--emulate", "--emulate-data", str(data))
    assert done.returncode == 2
    assert done.stderr == (
        f"Error: Cannot load emulator data from {data}: not valid JSON (line 1, column 2):"
        " Expecting property name enclosed in double quotes\n"
    )


def test_configure_checks_its_input(kosmo):
    bad_url = kosmo("integrations:configure", "buildkite", "--set", "url=ftp://x")
    assert bad_url.returncode == 2 and "is not an http(s) URL" in bad_url.stderr
    no_value = kosmo("integrations:configure", "buildkite", "--set", "access_token")
    assert no_value.returncode == 2 and "is not NAME=VALUE" in no_value.stderr


def test_help_shows_examples(kosmo):
    for args in (["--help"], ["integrations:lua", "--help"]):
        done = kosmo(*args)
        assert done.returncode == 0
        assert "Examples:" in done.stdout
        assert "kosmo integrations:lua" in done.stdout


def test_python_dash_m(kosmo_home):
    proc = subprocess.run(
        [sys.executable, "-m", "kosmo_lua", "integrations:lua", "-e", "return 'm'"],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert proc.stdout == "m\n"


def test_version(kosmo):
    from kosmo_lua import __version__

    assert kosmo("--version").stdout.strip() == f"kosmo, version {__version__}"


def test_ctrl_c_in_the_repl_stops_the_script_not_the_repl(kosmo_home):
    repl = subprocess.Popen(
        [kosmo_path(), "integrations:lua", "--repl"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    repl.stdin.write("x = 1\nwhile true do end\n")
    repl.stdin.flush()
    time.sleep(1.0)
    repl.send_signal(signal.SIGINT)
    out, err = repl.communicate("x == nil\n:quit\n", timeout=20)
    assert repl.returncode == 0
    assert "Interrupted; state starts afresh." in err
    assert out.rstrip().endswith("true\nlua>")
