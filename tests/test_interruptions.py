"""Signals, a closed stdout and a dying parent: the installed `kosmo` in real subprocesses.

The worker must never outlive `kosmo`, an interrupted --json run still prints its one
envelope, and output nobody can read ends the run instead of hanging it. At the end, the
REPL's :help.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

import pytest
from helpers import (
    alive,
    children,
    cpu_seconds,
    descendants,
    free_port,
    kosmo_path,
    server_env,
    server_of,
    wait_for,
)

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="finds processes through Linux's /proc"
)

LOOP = "--cpu-limit=1000", "-e", "print('marker') while true do end"


def kosmo_command(*args: str) -> list[str]:
    return [kosmo_path(), *args]


def looping_worker(parent: int) -> int:
    """The worker under ``parent`` (its child; under ``mcp:serve`` its zygote's), once it has
    been spinning in its loop (so past its print)."""

    def spinning() -> int | None:
        for pid in descendants(parent):
            with suppress(OSError):
                if not children(pid) and cpu_seconds(pid) > 0.2:
                    return pid
        return None

    worker: int = wait_for(spinning, "the worker to loop")
    return worker


def assert_gone_soon(pid: int) -> None:
    wait_for(lambda: not alive(pid), f"worker {pid} to die", timeout=3)


@contextmanager
def started(*args: str, **popen: Any) -> Iterator[subprocess.Popen[str]]:
    """``kosmo args...`` in a process group of its own, killed afterwards with any worker
    left behind (a worker stays in the group when its parent dies)."""
    options = {"stdin": subprocess.DEVNULL, **popen}
    process = subprocess.Popen(kosmo_command(*args), text=True, start_new_session=True, **options)
    try:
        yield process
    finally:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


@pytest.mark.parametrize(
    ("sig", "code"),
    [(signal.SIGTERM, 143), (signal.SIGHUP, 129), (signal.SIGKILL, -signal.SIGKILL)],
)
def test_the_worker_dies_with_kosmo(sig, code):
    with started("integrations:lua", *LOOP, stdout=subprocess.DEVNULL) as kosmo:
        worker = looping_worker(kosmo.pid)
        kosmo.send_signal(sig)
        assert kosmo.wait(10) == code
        assert_gone_soon(worker)


@pytest.mark.parametrize(
    ("sig", "code", "error"),
    [(signal.SIGINT, 130, "Interrupted (Ctrl-C)"), (signal.SIGTERM, 143, "Interrupted (SIGTERM)")],
)
def test_an_interrupted_json_run_prints_one_envelope(sig, code, error):
    with started(
        "integrations:lua", *LOOP, "--json", stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as kosmo:
        worker = looping_worker(kosmo.pid)
        kosmo.send_signal(sig)
        out, err = kosmo.communicate(timeout=10)
    envelope = json.loads(out)
    assert (envelope["success"], envelope["error"], envelope["output"]) == (False, error, "marker")
    assert envelope["meta"]["error"]["kind"] == "interrupted"
    assert kosmo.returncode == code
    assert err == ""
    assert not alive(worker)


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupted_plain_run_says_so(sig, code):
    with started(
        "integrations:lua", *LOOP, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as kosmo:
        assert kosmo.stdout.readline() == "marker\n"  # streamed as it was printed
        looping_worker(kosmo.pid)
        kosmo.send_signal(sig)
        out, err = kosmo.communicate(timeout=10)
    assert (out, err, kosmo.returncode) == ("", "Interrupted.\n", code)


def test_sigterm_leaves_the_repl_and_stops_its_script():
    with started(
        "integrations:lua",
        "--repl",
        "--cpu-limit=1000",
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    ) as repl:
        repl.stdin.write("while true do end\n")
        repl.stdin.flush()
        worker = wait_for(lambda: children(repl.pid), "the worker to start")[0]
        repl.send_signal(signal.SIGTERM)
        assert repl.wait(10) == 143
        assert not alive(worker)


PRINT_MANY = "integrations:lua", "-e", "for i = 1, 200000 do print(i) end"


def test_a_closed_pipe_ends_the_run():
    """`kosmo ... | head -1`: once head leaves, kosmo stops too (it used to hang)."""
    with started(*PRINT_MANY, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as kosmo:
        head = subprocess.run(
            ["head", "-1"], stdin=kosmo.stdout, capture_output=True, text=True, timeout=10
        )
        kosmo.stdout.close()
        assert kosmo.wait(10) == 141
        assert kosmo.stderr.read() == ""
    assert head.stdout == "1\n"


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("as_json", [False, True])
def test_a_full_disk_ends_the_run_with_one_line(as_json):
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            kosmo_command(*PRINT_MANY, *(["--json"] if as_json else [])),
            stdin=subprocess.DEVNULL,
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=20,
        )
    assert done.returncode == 1
    assert done.stderr == "kosmo: cannot write output: No space left on device\n"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGKILL])
def test_killing_mcp_serve_mid_run_kills_its_worker(sig):
    pytest.importorskip("mcp")
    import anyio
    from mcp import Client, MCPError, StdioServerParameters

    kosmo, *args = kosmo_command("mcp:serve")
    parameters = StdioServerParameters(command=kosmo, args=args, env=server_env())
    found: list[int] = []

    def kill_the_server_mid_run() -> None:
        server = wait_for(lambda: server_of(os.getpid()), "the server to start")
        looping_worker(server)
        # And every other process under it: the zygote, the worker it keeps ready.
        found.extend([server, *descendants(server)])
        assert len(found) >= 4, found
        os.kill(server, sig)
        for pid in found:
            assert_gone_soon(pid)

    async def run_forever(client: Any) -> None:
        with suppress(MCPError):  # the connection closes with the server
            await client.call_tool("execute_lua", {"code": LOOP[2], "cpuLimit": 60})

    async def main() -> None:
        async with Client(parameters) as client, anyio.create_task_group() as tasks:
            tasks.start_soon(run_forever, client)
            await anyio.to_thread.run_sync(kill_the_server_mid_run)

    try:
        anyio.run(main)
    finally:
        for pid in found:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def listening(port: int) -> bool:
    with suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
        return True
    return False


def stop_mid_run(server: subprocess.Popen[str]) -> None:
    worker = looping_worker(server.pid)
    server.send_signal(signal.SIGTERM)
    assert_gone_soon(worker)


def test_sigterm_stops_an_http_mcp_server_mid_run():
    """uvicorn would wait for the run to end before it stops; the run ends at once instead."""
    pytest.importorskip("mcp")
    import anyio
    from mcp import Client

    port = free_port()
    with started("mcp:serve", "--http", "--port", str(port)) as server:
        wait_for(lambda: listening(port), "the HTTP server to start")

        async def main() -> Any:
            url = f"http://127.0.0.1:{port}/mcp"
            result = None
            try:
                async with Client(url) as client, anyio.create_task_group() as tasks:
                    tasks.start_soon(anyio.to_thread.run_sync, stop_mid_run, server)
                    result = await client.call_tool(
                        "execute_lua", {"code": LOOP[2], "cpuLimit": 60}
                    )
            except Exception:  # ending the session can find the server already gone
                if result is None:
                    raise
            return result

        result = anyio.run(main)
        assert server.wait(10) == -signal.SIGTERM
    assert "stopped unexpectedly (signal 9)" in result.structured_content["error"]


# The REPL's :help ----------------------------------------------------------------------------


def test_repl_help_lists_the_commands_and_the_sandbox():
    from click.testing import CliRunner

    from kosmo_lua.cli import main

    done = CliRunner().invoke(main, ["integrations:lua", "--repl"], input=":help\nx = 1\n:quit\n")
    assert done.exit_code == 0
    assert "Type :help" in done.stderr
    for topic in (":help", ":quit", "app.integrations.", "docs.read", "json", "regex", "dump"):
        assert topic in done.stdout, topic
    assert "kept between" in done.stdout


@pytest.mark.parametrize("as_json", [False, True])
def test_ctrl_c_while_reading_the_script_exits_130(as_json):
    """Before a run starts (kosmo waits for a script on stdin), Ctrl-C is an interruption
    like any other: 130 and one clear line or envelope, not click's "Aborted!" with 1."""
    args = ("integrations:lua", "-", *(["--json"] if as_json else []))
    with started(
        *args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as kosmo:
        wait_for(lambda: "pipe_read" in read_text(f"/proc/{kosmo.pid}/wchan"), "a read of stdin")
        kosmo.send_signal(signal.SIGINT)
        out, err = kosmo.communicate(timeout=10)
    assert kosmo.returncode == 130
    if as_json:
        envelope = json.loads(out)
        assert envelope["error"] == "Interrupted; nothing was run."
        assert envelope["meta"]["error"]["kind"] == "interrupted"
        assert err == ""
    else:
        assert (out, err) == ("", "Error: Interrupted; nothing was run.\n")


def read_text(path: str) -> str:
    with suppress(OSError), open(path, encoding="utf-8") as file:
        return file.read()
    return ""
