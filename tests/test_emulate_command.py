"""``kosmo integrations:emulate`` refuses what it cannot serve: exit status 2, no traceback."""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from kosmo_lua import emulation
from kosmo_lua.cli import main


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A loopback port that another socket is listening on."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


def _in_use(port: int) -> str:
    return (
        f"Error: port {port} is in use; pick another with --port or use --port 0 (any free port)\n"
    )


def test_a_busy_port_in_process(busy_port: int) -> None:
    result = CliRunner().invoke(
        main, ["integrations:emulate", "buildkite", "--port", str(busy_port)]
    )
    assert result.exit_code == 2
    assert result.stderr == _in_use(busy_port)
    assert result.stdout == ""


def test_a_busy_port_from_the_installed_command(kosmo, busy_port: int) -> None:
    done = kosmo("integrations:emulate", "buildkite", "--port", str(busy_port), timeout=20)
    assert done.returncode == 2
    assert done.stderr == _in_use(busy_port)
    assert "Traceback" not in done.stdout + done.stderr


def test_any_other_bind_failure_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(emulation, "serve", refuse)
    result = CliRunner().invoke(main, ["integrations:emulate", "buildkite", "--port", "80"])
    assert result.exit_code == 2
    assert result.stderr == (
        "Error: cannot serve on port 80: Permission denied; "
        "pick another with --port or use --port 0\n"
    )


def test_a_bad_data_file(busy_port: int, tmp_path: Path) -> None:
    """The data is checked before the port (busy here, so a regression cannot hang)."""
    path = tmp_path / "bad.json"
    path.write_text('{"users": [{"email": "ada@example.com", "nmae": "Ada"}]}')
    arguments = ["integrations:emulate", "buildkite", "--data", str(path), "--port", str(busy_port)]
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 2
    last_line = result.stderr.splitlines()[-1]
    assert last_line.startswith(f"Error: Cannot load emulator data from {path}: ")
    assert last_line.endswith(
        'users[0]: unknown key "nmae"; allowed: name, email, id, created_at, avatar_url'
    )
