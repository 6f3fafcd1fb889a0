"""Shell completion: click's protocol, the bash script with words split at ':', laziness."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO
from helpers import kosmo_path

from kosmo_lua.cli import COMMANDS

BASH = shutil.which("bash")
KOSMO = kosmo_path()


def test_the_protocol_completes_command_names(kosmo):
    done = kosmo(_KOSMO_COMPLETE="bash_complete", COMP_WORDS="kosmo integrations:l", COMP_CWORD="1")
    assert done.returncode == 0
    assert done.stdout.split() == ["plain,integrations:list", "plain,integrations:lua"]


def test_the_protocol_completes_options_of_a_command(kosmo):
    done = kosmo(
        _KOSMO_COMPLETE="bash_complete",
        COMP_WORDS="kosmo integrations:lua --memory",
        COMP_CWORD="2",
    )
    assert done.stdout.split() == ["plain,--memory-limit"]


def complete_in_bash(kosmo_home: Path, line: str, words: list[str]) -> list[str]:
    """What bash's COMPREPLY holds after the generated script's function runs, with
    COMP_WORDS split as bash splits them (at ':' too) and the cursor at the end."""
    script = subprocess.run(
        [KOSMO],
        env={**os.environ, "_KOSMO_COMPLETE": "bash_source"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    quoted = " ".join(f"'{word}'" for word in words)
    probe = f"""{script}
COMP_LINE='{line}'
COMP_POINT=${{#COMP_LINE}}
COMP_WORDS=({quoted})
COMP_CWORD={len(words) - 1}
_kosmo_completion kosmo
printf '%s\\n' "${{COMPREPLY[@]}}"
"""
    done = subprocess.run(
        [BASH, "--norc", "--noprofile", "-c", probe],
        env={
            **os.environ,
            "PATH": f"{Path(KOSMO).parent}{os.pathsep}{os.environ['PATH']}",
            "KOSMO_HOME": str(kosmo_home),
        },
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.split()


INTEGRATIONS = sorted(name for name in COMMANDS if name.startswith("integrations:"))


@pytest.mark.skipif(BASH is None, reason="needs bash")
@pytest.mark.parametrize(
    "line, words, expected",
    [
        ("kosmo integrations:l", ["kosmo", "integrations", ":", "l"], ["list", "lua"]),
        ("kosmo mcp:t", ["kosmo", "mcp", ":", "t"], ["tools", "trust"]),
        (
            "kosmo integrations:",
            ["kosmo", "integrations", ":"],
            [name.partition(":")[2] for name in INTEGRATIONS],
        ),
        ("kosmo integ", ["kosmo", "integ"], INTEGRATIONS),
        (
            "kosmo integrations:lua --memory",
            ["kosmo", "integrations", ":", "lua", "--memory"],
            ["--memory-limit"],
        ),
    ],
)
def test_bash_completes_words_with_a_colon(kosmo_home, line, words, expected):
    assert complete_in_bash(kosmo_home, line, words) == expected


PROBE = """
import json, os, sys
from kosmo_lua.cli import main
os.environ.update(_KOSMO_COMPLETE="bash_complete", COMP_WORDS="kosmo ", COMP_CWORD="1")
try:
    main(prog_name="kosmo")
except SystemExit:
    pass
print(json.dumps(sorted(m for m in sys.modules if m.startswith("kosmo_lua.cli."))))
"""


def test_completing_command_names_loads_no_command():
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, check=True
    )
    *candidates, modules = done.stdout.strip().splitlines()
    assert len(candidates) == len(COMMANDS)
    assert json.loads(modules) == ["kosmo_lua.cli.completion"]


@pytest.mark.parametrize("shell, marker", [("zsh", "compdef"), ("fish", "complete --no-files")])
def test_the_documented_scripts_exist_for_zsh_and_fish(kosmo, shell, marker):
    done = kosmo(_KOSMO_COMPLETE=f"{shell}_source")
    assert done.returncode == 0
    assert marker in done.stdout
    documented = f"_KOSMO_COMPLETE={shell}_source kosmo"
    assert documented in (REPO / "README.md").read_text()
