"""Limits out of range are usage errors (exit 2, one line), never a worker that crashes:
each option has a documented maximum (kosmo_lua/limits.py)."""

from __future__ import annotations

import pytest

from kosmo_lua.limits import MAX_MEMORY_BYTES, MAX_OUTPUT_BYTES


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--memory-limit", "1e20", f"must be at most {MAX_MEMORY_BYTES} bytes (64 GiB)"),
        (
            "--memory-limit",
            "inf",
            "'inf' is not a size in bytes (examples: 33554432, 32M, 64MiB)",
        ),
        ("--output-limit", "1e20", f"must be at most {MAX_OUTPUT_BYTES} bytes (1 GiB)"),
        ("--cpu-limit", "1e30", "'1e30' must be at most 604800 seconds"),
        ("--timeout", "1e30", "'1e30' must be at most 604800 seconds"),
    ],
)
def test_a_limit_past_its_maximum_is_a_one_line_usage_error(kosmo, option, value, message):
    done = kosmo("integrations:lua", "-e", "return 1", option, value)
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.startswith("Error:")]
    assert errors == [f"Error: Invalid value for '{option}': {message}"]
    assert "Traceback" not in done.stderr
    envelope = kosmo("integrations:lua", "-e", "return 1", option, value, "--json")
    assert envelope.returncode == 2
    assert message in envelope.json()["error"]


def test_every_maximum_itself_is_a_limit_a_run_accepts(kosmo):
    done = kosmo(
        "integrations:lua",
        "-e",
        "return 1",
        "--json",
        *("--memory-limit", "64GiB", "--output-limit", "1GiB"),
        *("--cpu-limit", "604800", "--timeout", "604800"),
    )
    assert (done.returncode, done.json()["result"]) == (0, [1])
