"""This host as an MCP server, spoken to by the SDK's own client over stdio (and HTTP)."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from helpers import configured_emulator, free_port, kosmo_path, server_env, wait_for_port

pytest.importorskip("mcp")

import anyio
from mcp import Client, MCPError, StdioServerParameters

from kosmo_lua.integrations import load
from kosmo_lua.mcp.reply import MAX_REPLY_BYTES

Scenario = Callable[[Any], Awaitable[Any]]


def serve_command(**options: Any) -> list[str]:
    """``kosmo mcp:serve`` with the given flags, as an MCP client's configuration runs it."""
    flags = {
        "read_only": "--read-only",
        "expose_integrations": "--expose-integrations",
        "force": "--force",
    }
    return [kosmo_path(), "mcp:serve", *(flags[key] for key, on in options.items() if on)]


def against(scenario: Scenario, **options: Any) -> Any:
    """Starts the server over stdio, runs ``scenario(client)`` and shuts it down."""
    command, *args = serve_command(**options)
    # The SDK passes only a safe set of variables to the server; KOSMO_HOME is the test's.
    parameters = StdioServerParameters(command=command, args=args, env=server_env())

    async def main() -> Any:
        async with Client(parameters) as client:
            return await scenario(client)

    return anyio.run(main)


def text(result: Any) -> str:
    (block,) = result.content
    return block.text


def test_lists_the_host_tools_and_runs_lua():
    async def scenario(client: Any) -> dict[str, Any]:
        listed = {tool.name: tool for tool in (await client.list_tools()).tools}
        two = await client.call_tool(
            "execute_lua",  # null options are options not given, as clients mean them
            {"code": "print('hi') return 1 + 1", "cpuLimit": None, "maxReplyBytes": None},
        )
        failed = await client.call_tool("execute_lua", {"code": "error('boom')"})
        tight = await client.call_tool(
            "execute_lua", {"code": "while true do end", "cpuLimit": 0.3}
        )
        small = await client.call_tool(
            "execute_lua",
            {"code": "local t = {} for i = 1, 1e7 do t[i] = i end", "memoryLimit": 2_000_000},
        )
        return {"listed": listed, "two": two, "failed": failed, "tight": tight, "small": small}

    got = against(scenario)
    listed = got["listed"]
    assert set(listed) == {"execute_lua", "lua_read_doc", "lua_list_docs", "lua_search_docs"}
    schema = listed["execute_lua"].input_schema
    assert schema["required"] == ["code"]
    assert set(schema["properties"]) == {
        "code",
        "memoryLimit",
        "cpuLimit",
        "timeout",
        "maxCalls",
        "maxReplyBytes",
        "mode",
    }
    assert schema["properties"]["mode"]["enum"] == ["run", "check"]
    assert listed["lua_read_doc"].input_schema["required"] == ["page"]
    assert listed["lua_search_docs"].input_schema["required"] == ["query"]
    assert listed["lua_read_doc"].annotations.read_only_hint is True

    two = got["two"]
    assert not two.is_error
    assert two.structured_content["success"] is True
    assert two.structured_content["result"] == [2]
    assert two.structured_content["output"] == "hi"
    assert json.loads(text(two)) == two.structured_content

    failed = got["failed"].structured_content
    assert got["failed"].is_error
    assert failed["success"] is False and "boom" in failed["error"]
    assert "result" not in failed

    assert "CPU limit exceeded" in got["tight"].structured_content["error"]
    assert "Memory limit exceeded" in got["small"].structured_content["error"]


def test_reads_lists_and_searches_the_docs():
    async def scenario(client: Any) -> dict[str, Any]:
        return {
            "page": text(
                await client.call_tool("lua_read_doc", {"page": "integrations.buildkite.get_build"})
            ),
            "missing": text(await client.call_tool("lua_read_doc", {"page": "nope.nothing"})),
            "index": text(await client.call_tool("lua_list_docs", {})),
            "found": text(await client.call_tool("lua_search_docs", {"query": "retry"})),
            "none": text(await client.call_tool("lua_search_docs", {"query": "zzzqqq"})),
            "bad": await client.call_tool("lua_read_doc", {}),
        }

    got = against(scenario)
    assert got["page"].startswith("# buildkite.get_build")
    assert "No integration docs found for 'nope.nothing'" in got["missing"]
    assert got["index"].startswith("# Lua reference")
    assert "buildkite.get_build - " in got["index"]
    assert got["found"].splitlines()[0].startswith("buildkite.retry_job - ")
    assert got["none"] == "No functions match 'zzzqqq'."
    assert got["bad"].is_error and "'page' must be a string" in text(got["bad"])


def test_exposes_integration_functions_as_tools():
    async def scenario(client: Any) -> dict[str, Any]:
        listed = {tool.name: tool for tool in (await client.list_tools()).tools}
        write = await client.call_tool(
            "buildkite_create_build",
            {"organization": "acme", "pipeline": "deploy", "commit": "HEAD", "branch": "main"},
        )
        invalid = await client.call_tool("buildkite_get_build", {"organization": "acme"})
        return {"listed": listed, "write": write, "invalid": invalid}

    got = against(scenario, expose_integrations=True)
    listed = got["listed"]
    (buildkite,) = load()
    for tool in buildkite.tools:
        exposed = listed[f"buildkite_{tool.name}"]
        schema = dict(exposed.input_schema)
        properties = schema.pop("properties")
        assert properties.pop("account")["enum"] == ["default"]
        assert properties.pop("maxReplyBytes")["maximum"] == MAX_REPLY_BYTES
        assert schema == {key: value for key, value in tool.schema().items() if key != "properties"}
        assert exposed.description == tool.summary
        assert exposed.annotations.read_only_hint is (tool.access == "read")
        assert exposed.annotations.destructive_hint is (tool.access == "write")
    assert "execute_lua" in listed
    # Writes follow the permission policy: "ask" by default, and the server has no --force.
    assert got["write"].is_error
    assert "requires approval" in text(got["write"])
    assert got["invalid"].is_error
    assert "Missing required argument 'pipeline'" in text(got["invalid"])


def test_read_only_hides_write_tools_and_refuses_writes_from_lua():
    code = (
        "return app.integrations.buildkite.create_build{organization = 'acme',"
        " pipeline = 'deploy', commit = 'HEAD', branch = 'main'}"
    )

    async def scenario(client: Any) -> dict[str, Any]:
        listed = {tool.name for tool in (await client.list_tools()).tools}
        lua = await client.call_tool("execute_lua", {"code": code})
        return {"listed": listed, "lua": lua}

    got = against(scenario, expose_integrations=True, read_only=True, force=True)
    (buildkite,) = load()
    reads = {f"buildkite_{t.name}" for t in buildkite.tools if t.access == "read"}
    writes = {f"buildkite_{t.name}" for t in buildkite.tools if t.access == "write"}
    assert reads <= got["listed"]
    assert not writes & got["listed"]
    envelope = got["lua"].structured_content
    assert got["lua"].is_error and envelope["success"] is False
    assert "read-only" in envelope["error"]
    assert envelope["integration_calls"][0]["status"] == "error"


def test_an_unknown_tool_is_a_protocol_error():
    async def scenario(client: Any) -> MCPError | None:
        try:
            await client.call_tool("no_such_tool", {})
        except MCPError as exc:
            return exc
        return None

    error = against(scenario)
    assert error is not None and error.message == "Unknown tool: no_such_tool"


def test_serves_streamable_http():
    port = free_port()
    server = subprocess.Popen([*serve_command(), "--http", "--port", str(port)])
    try:
        wait_for_port(port, server)

        async def main() -> Any:
            async with Client(f"http://127.0.0.1:{port}/mcp") as client:
                names = {tool.name for tool in (await client.list_tools()).tools}
                result = await client.call_tool("execute_lua", {"code": "return 'over http'"})
                return names, result

        names, result = anyio.run(main)
    finally:
        server.terminate()
        server.wait(10)
    assert "execute_lua" in names
    assert result.structured_content["result"] == ["over http"]


def test_integration_tools_share_one_invoker_per_session(monkeypatch):
    """Every exposed-tool call used to build an invoker, and HTTP clients nobody closed."""
    from kosmo_lua import dispatch
    from kosmo_lua.mcp.serve import HostTools

    built, closed = [], []

    def run_invoker(**options: Any) -> Any:
        invoker = build(**options)
        built.append(invoker)
        close = invoker.close
        monkeypatch.setattr(invoker, "close", lambda: closed.append(close()))
        return invoker

    build = dispatch.run_invoker
    monkeypatch.setattr(dispatch, "run_invoker", run_invoker)
    with configured_emulator("bk-session-token") as emulator:
        tools = HostTools(expose_integrations=True)
        first = tools.call("buildkite_get_current_user", {}).text
        second = tools.call("buildkite_list_pipelines", {"organization": "acme-inc"}).text
        tools.close()
    assert json.loads(first)["name"] == "Ada Lovelace"
    assert "web" in second
    assert len(built) == 1
    assert len(closed) == 1
    assert len(emulator.requests) == 2


def test_hostile_doc_queries_are_refused_or_answered_quickly():
    """A 100 KB query or page name is refused before any matching (the page's suggestions
    compare it with every name), and is never echoed back; metacharacters, stop words only,
    unicode and the empty query are answered as words."""
    long = "retry " * 20_000
    queries = [r".*+?[](){}\^$|" * 10, "the of a an", "ビルド 失敗 \x00", ""]

    async def scenario(client: Any) -> dict[str, Any]:
        return {
            "search": await client.call_tool("lua_search_docs", {"query": long}),
            "read": await client.call_tool("lua_read_doc", {"page": "x" * 100_000}),
            "odd": [text(await client.call_tool("lua_search_docs", {"query": q})) for q in queries],
        }

    started = time.monotonic()
    got = against(scenario)
    assert time.monotonic() - started < 30
    for refused in (got["search"], got["read"]):
        assert refused.is_error and "at most 1000 characters" in text(refused)
        assert len(text(refused)) < 300
    assert got["odd"] == [f"No functions match '{q}'." for q in queries]
