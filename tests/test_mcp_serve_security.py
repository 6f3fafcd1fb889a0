"""``kosmo mcp:serve`` keeps its clients within bounds: run limits and caps, runs side by side,
read-only meaning read-only for MCP tools too, and a token off loopback (issue #11, points 5,
8 and 9). The server is the installed ``kosmo`` spoken to by the SDK's client, over stdio and
over HTTP on 127.0.0.1; the MCP servers it calls are real processes too."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import REPO, Completed
from helpers import free_port, kosmo_path, server_env, wait_for_port

pytest.importorskip("mcp")

import anyio
from mcp import Client, StdioServerParameters

from kosmo_lua.mcp.client import McpHub
from kosmo_lua.mcp.serve import HostTools, ReadOnlyDispatch, RunLimits, ToolFailed
from kosmo_lua.mcp.servers import ServerConfig

FAKE = str(REPO / "tests" / "mcp_fixtures" / "fake_server.py")
BUSY = "local t = os.clock() while os.clock() - t < {seconds} do end return 'done'"
TOKEN = "a-long-random-token-for-the-test"

Scenario = Callable[[Any], Awaitable[Any]]


def against(scenario: Scenario, *flags: str) -> Any:
    """``kosmo mcp:serve FLAGS`` over stdio: runs ``scenario(client)``, then shuts it down."""
    parameters = StdioServerParameters(
        command=kosmo_path(),
        args=["mcp:serve", *flags],
        env=server_env(),
    )

    async def main() -> Any:
        async with Client(parameters) as client:
            return await scenario(client)

    return anyio.run(main)


def execute(*calls: dict[str, Any]) -> Scenario:
    """A scenario that calls ``execute_lua`` with each argument set, in order."""

    async def scenario(client: Any) -> list[Any]:
        return [await client.call_tool("execute_lua", arguments) for arguments in calls]

    return scenario


def text(result: Any) -> str:
    (block,) = result.content
    return str(block.text)


@contextmanager
def http_server(*flags: str, **env: str) -> Iterator[str]:
    """``kosmo mcp:serve --http`` on a free loopback port; yields its /mcp URL."""
    port = free_port()
    server = subprocess.Popen(
        [kosmo_path(), "mcp:serve", "--http", "--port", str(port), *flags],
        env={**os.environ, **env},
    )
    try:
        wait_for_port(port, server)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        server.terminate()
        server.wait(10)


@pytest.fixture
def notes(tmp_path: Path, kosmo_home: Path) -> Path:
    """A global (trusted) fake MCP server whose write tool ``note`` appends to this file."""
    path = tmp_path / "notes.txt"
    definition = {"command": sys.executable, "args": [FAKE], "env": {"FAKE_MCP_NOTES": str(path)}}
    kosmo_home.mkdir(exist_ok=True)
    (kosmo_home / "mcp.json").write_text(json.dumps({"mcpServers": {"fake": definition}}))
    return path


# Point 5: limits, caps, runs side by side ------------------------------------------------------


def test_every_run_has_a_wall_clock_timeout_by_default():
    limits = HostTools().run_limits({"code": "return 1"})
    assert limits.timeout_seconds == 120
    assert (limits.memory_bytes, limits.cpu_seconds) == (32 * 1024 * 1024, 30)
    asked = HostTools().run_limits({"code": "", "timeout": 5, "cpuLimit": 2, "memoryLimit": 4e6})
    assert (asked.timeout_seconds, asked.cpu_seconds, asked.memory_bytes) == (5, 2, 4_000_000)


def test_the_timeout_stops_a_run_that_waits(notes: Path):
    started = time.monotonic()
    (result,) = against(
        execute({"code": "return app.mcp.fake.slow{seconds = 30}"}), "--timeout", "2"
    )
    envelope = result.structured_content
    assert envelope["error"].startswith("Time limit exceeded"), envelope["error"]
    assert envelope["meta"]["limit"] == "timeout"
    assert time.monotonic() - started < 20


def test_limits_a_client_asks_for_are_capped_by_the_server():
    code = "return 1"
    results = against(
        execute(
            {"code": code, "memoryLimit": 1e12},
            {"code": code, "cpuLimit": 1e6},
            {"code": code, "timeout": 1000},
            {"code": code, "memoryLimit": 64 * 1024 * 1024, "cpuLimit": 5, "timeout": 10},
            {"code": code, "memoryLimit": 64 * 1024 * 1024 + 1},
        ),
        "--max-memory-limit",
        "64M",
        "--max-cpu-limit",
        "5",
        "--timeout",
        "10",
    )
    memory, cpu, timeout, within, above = results
    assert memory.is_error and text(memory) == (
        "memoryLimit 1000000000000 is more than this server allows: at most 67108864 bytes"
        " (kosmo mcp:serve --max-memory-limit). Ask for less, or leave it out for the default."
    )
    assert cpu.is_error and "at most 5 seconds (kosmo mcp:serve --max-cpu-limit)" in text(cpu)
    assert timeout.is_error and "at most 10 seconds (kosmo mcp:serve --timeout)" in text(timeout)
    assert within.structured_content["result"] == [1]
    assert above.is_error


def test_the_default_caps_refuse_a_huge_memory_limit():
    async def scenario(client: Any) -> Any:
        listed = {tool.name: tool for tool in (await client.list_tools()).tools}
        refused = await client.call_tool("execute_lua", {"code": "", "memoryLimit": 1e12})
        return listed["execute_lua"].input_schema, refused

    schema, refused = against(scenario)
    assert schema["properties"]["memoryLimit"]["maximum"] == 256 * 1024 * 1024
    assert schema["properties"]["timeout"]["maximum"] == 120
    assert refused.is_error and "at most 268435456 bytes" in text(refused)


def test_a_slow_run_does_not_hold_up_another_sessions_run():
    finished: dict[str, float] = {}

    async def session(url: str, name: str, code: str, delay: float) -> Any:
        await anyio.sleep(delay)
        async with Client(url) as client:
            result = await client.call_tool("execute_lua", {"code": code})
        finished[name] = time.monotonic()
        return result

    with http_server() as url:

        async def main() -> list[Any]:
            results: list[Any] = [None, None]

            async def run(index: int, *args: Any) -> None:
                results[index] = await session(url, *args)

            async with anyio.create_task_group() as group:
                group.start_soon(run, 0, "slow", BUSY.format(seconds=6), 0)
                group.start_soon(run, 1, "quick", "return 'quick'", 1.5)
            return results

        started = time.monotonic()
        slow, quick = anyio.run(main)
    assert quick.structured_content["result"] == ["quick"]
    assert slow.structured_content["result"] == ["done"]
    assert finished["quick"] < finished["slow"]
    assert finished["quick"] - started < 5


def test_runs_at_once_are_bounded():
    tools = HostTools(limits=RunLimits(max_runs=1))
    code = BUSY.format(seconds=1)
    results: list[dict[str, Any]] = []
    threads = [
        threading.Thread(target=lambda: results.append(tools.execute_lua({"code": code})))
        for _ in range(2)
    ]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert [r["result"] for r in results] == [["done"], ["done"]]
    assert time.monotonic() - started >= 1.9  # one after the other


def test_checks_count_among_the_runs_at_once():
    # A check is done in the server's own process (a 4 MiB script takes hundreds of MiB
    # there): a client sending many at once must wait for a free run as runs do.
    tools = HostTools(limits=RunLimits(max_runs=1))
    finished: dict[str, float] = {}

    async def call(name: str, args: dict[str, Any], delay: float) -> None:
        await anyio.sleep(delay)
        await tools.execute_lua_async(args)
        finished[name] = time.monotonic()

    async def main() -> None:
        async with anyio.create_task_group() as group:
            group.start_soon(call, "run", {"code": BUSY.format(seconds=2)}, 0)
            group.start_soon(call, "check", {"code": "return 1", "mode": "check"}, 0.5)

    try:
        anyio.run(main)
    finally:
        tools.close()
    assert finished["run"] < finished["check"]


# Point 8: read-only means read-only; MCP writes follow the policy -------------------------------

WRITES = """
local by_path_ok, by_path = pcall(app.mcp.fake.note, {text = "by path"})
local by_call_ok, by_call = pcall(mcp.call, "fake.note", {text = "by call"})
return app.mcp.fake.echo{text = "read"}, tostring(by_path), tostring(by_call)
"""


def test_read_only_refuses_mcp_tools_not_annotated_read_only(notes: Path):
    (result,) = against(execute({"code": WRITES}), "--read-only", "--force")
    envelope = result.structured_content
    read, by_path, by_call = envelope["result"]
    assert read == "read"
    refusal = (
        "MCP tool fake.note may write (it is not annotated readOnlyHint), and this MCP server"
        " is read-only: it may not change anything"
    )
    assert by_path.endswith(refusal) and by_call.endswith(refusal)
    assert not notes.exists()
    # A successful run counts its calls per function, and the ones that failed apart.
    assert envelope["integration_calls"] == {"mcp.fake.note": 2, "mcp.fake.echo": 1}
    assert envelope["meta"]["failed_calls"] == {"mcp.fake.note": 2}


def test_read_only_holds_for_every_spelling_of_a_servers_name(notes: Path, kosmo_home: Path):
    """Found by review: with a server named "Fake", mcp.call("fake.note") (its Lua spelling)
    got past a read-only check that matched names itself; the hub now refuses it."""
    servers = json.loads((kosmo_home / "mcp.json").read_text())
    servers["mcpServers"] = {"Fake": servers["mcpServers"]["fake"]}
    (kosmo_home / "mcp.json").write_text(json.dumps(servers))
    code = (
        'local ok, err = pcall(mcp.call, "fake.note", {text = "sneaky"}) return ok, tostring(err)'
    )
    (result,) = against(execute({"code": code}), "--read-only", "--force")
    ok, err = result.structured_content["result"]
    assert not ok and "this MCP server is read-only" in err
    assert not notes.exists()


def test_mcp_writes_follow_the_permission_policy(notes: Path):
    (asked,) = against(execute({"code": WRITES}))
    _, by_path, by_call = asked.structured_content["result"]
    assert "write requires approval" in by_path and "write requires approval" in by_call
    assert not notes.exists()

    (forced,) = against(execute({"code": WRITES}), "--force")
    assert forced.structured_content["result"] == ["read", "noted", "noted"]
    assert notes.read_text() == "by path\nby call\n"


def test_the_read_only_dispatcher_closes_the_one_it_wraps():
    closed: list[bool] = []

    class Inner:
        def __call__(self, path: str, args: list[Any]) -> tuple[Any, ...]:
            return ()

        def close(self) -> None:
            closed.append(True)

    ReadOnlyDispatch(Inner(), lambda kind, value: None).close()  # type: ignore[arg-type]
    assert closed == [True]


# Point 9: a token off loopback ------------------------------------------------------------------


def test_refuses_to_listen_off_loopback_without_a_token(kosmo: Callable[..., Completed]):
    port = str(free_port())
    done = kosmo("mcp:serve", "--http", "--host", "0.0.0.0", "--port", port, timeout=20)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "Error: kosmo mcp:serve will not listen on 0.0.0.0 without authentication: put a"
        " token in an environment variable and pass --auth-token-env NAME, or serve on"
        " 127.0.0.1"
    )
    unset = kosmo("mcp:serve", "--http", "--auth-token-env", "KOSMO_TEST_UNSET_TOKEN", timeout=20)
    assert unset.returncode == 2 and "KOSMO_TEST_UNSET_TOKEN is not set" in unset.stderr


def test_http_needs_the_bearer_token_when_one_is_set():
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "test", "version": "1"},
        },
    }
    accept = {"Accept": "application/json, text/event-stream"}

    def post(url: str, **headers: str) -> httpx.Response:
        return httpx.post(url, json=initialize, headers={**accept, **headers}, timeout=10)

    flags = ("--auth-token-env", "KOSMO_TEST_MCP_TOKEN")
    with http_server(*flags, KOSMO_TEST_MCP_TOKEN=TOKEN) as url:
        missing = post(url)
        wrong = post(url, Authorization=f"Bearer {TOKEN}x")
        other_host = post(url, Authorization=f"Bearer {TOKEN}", Host="evil.example")
        server = ServerConfig(
            name="kosmo", type="http", url=url, headers={"Authorization": f"Bearer {TOKEN}"}
        )
        with McpHub([server], force=True, timeout=20) as hub:
            envelope = hub.call("kosmo.execute_lua", {"code": "return 'let in'"})
    assert missing.status_code == 401 and wrong.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    assert other_host.status_code == 421  # the Host check still holds
    assert envelope["result"] == ["let in"]


def test_a_memory_limit_below_the_sandboxs_own_is_refused_not_a_crash():
    """Found by review: memoryLimit 1000 crashed the worker (a Lua panic); the CLI's minimum
    holds for MCP clients too."""
    from kosmo_lua.limits import MIN_MEMORY

    with pytest.raises(ToolFailed, match=f"memoryLimit must be at least {MIN_MEMORY} bytes"):
        HostTools().run_limits({"code": "", "memoryLimit": 1000})


@pytest.mark.parametrize("host", ["127.0.0.2", "0.0.0.0"])
def test_only_the_guarded_loopback_names_go_without_a_token(host):
    """Found by review: the SDK guards 127.0.0.1, localhost and ::1 against DNS rebinding,
    not 127.0.0.2: anything else needs the bearer token."""
    from kosmo_lua.mcp.serve import _loopback

    assert not _loopback(host)
    assert all(_loopback(name) for name in ("127.0.0.1", "localhost", "::1"))


def test_exposed_integration_calls_run_side_by_side(kosmo_home: Path):
    """Found by review: one lock held for the whole HTTP call made every other session's
    tool call wait. Two calls now meet inside the API at once (a barrier both must reach)."""
    import respx

    from kosmo_lua.config import Config
    from kosmo_lua.integrations import load

    config = Config.load(kosmo_home)
    config.set_account("buildkite", "default", {"access_token": "t"})
    config.save()
    meeting = threading.Barrier(2, timeout=10)

    def both_inside(request: httpx.Request) -> httpx.Response:
        meeting.wait()  # breaks (and the call fails) if the calls take turns
        return httpx.Response(200, json={"name": "Ada"})

    tools = HostTools(expose_integrations=True)
    tool = load()[0].tool("get_current_user")
    results: list[Any] = []
    with respx.mock(base_url="https://api.buildkite.com/v2") as api:
        api.get("/user").mock(side_effect=both_inside)
        threads = [
            threading.Thread(target=lambda: results.append(tools.call_integration(tool, {})))
            for _ in range(2)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    tools.close()
    assert results == [{"name": "Ada"}, {"name": "Ada"}]
