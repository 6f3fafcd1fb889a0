"""A parallel branch's call whose outcome has no room left in the script's memory ends the
run at the memory limit, as the same call on the script's thread does: never as a runtime
error a script could catch. Through the installed `kosmo` and a real MCP server."""

from __future__ import annotations

import sys

import pytest
from conftest import REPO

pytest.importorskip("mcp")

FAKE = str(REPO / "tests" / "mcp_fixtures" / "fake_server.py")

# The fake server's `fail` raises with the reason it is given: an error of 1.5 MB, whose
# text fits in the 4 MiB the script has but not with its fields (the text again as detail).
FAILS = """\
local reason = string.rep("x", 1500000)
local function call()
  local ok, err = pcall(app.mcp.fake.fail, {reason = reason})
  return #tostring(err)
end
local found = %s
return found
"""


@pytest.fixture
def project(tmp_path, kosmo, monkeypatch):
    folder = tmp_path / "project"
    folder.mkdir()
    monkeypatch.chdir(folder)
    assert kosmo("mcp:add", "fake", "--", sys.executable, FAKE).returncode == 0
    assert kosmo("mcp:trust", "fake").returncode == 0
    return folder


@pytest.mark.usefixtures("project")
@pytest.mark.parametrize("where", ["call()", 'app.map({1}, call, {errors = "collect"})'])
def test_an_error_past_the_memory_left_is_the_memory_limit_in_a_branch_too(kosmo, where):
    done = kosmo("integrations:lua", "-e", FAILS % where, "--json", "--memory-limit", "4M")
    envelope = done.json()
    assert envelope["meta"].get("limit") == "memory", envelope["error"]
    assert envelope["result"] is None
