"""Sandbox escape attempts: every technique a script could use to leave the sandbox must fail.

Each test tries one technique (or a family, one parametrized case per variant) and asserts the
precise way it fails: an exact error text, a nil, a value of a known type. The holes this
file found when it was written (memory errors swallowed by load readers and coroutine.close,
a Lua panic on exhausted memory at return, broken __tostring, deep values, a looping xpcall
handler, dump depending on print) are fixed; their tests keep them fixed.
"""

from __future__ import annotations

import contextlib
import faulthandler
import json
import re
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from kosmo_lua.limits import Limits
from kosmo_lua.runtime.supervisor import Worker

CPU = 0.3  # seconds: runaway cases only need to prove the soft limit fires
CPU_ERROR = Limits(cpu_seconds=CPU).message("cpu")
MEMORY_ERROR = Limits().message("memory")
BINARY_REFUSED = "attempt to load a binary chunk (mode is 't')"
WORKER_DIED = "The Lua worker stopped unexpectedly"

# The sandbox's global names, read off prelude.lua: the whitelist copied from the real _G plus
# every `env.<name> =` the prelude assigns and the libraries it makes (json, regex, docs).
# Anything else is an escape route.
GLOBALS = {
    "assert", "error", "ipairs", "next", "pairs", "rawequal", "rawget", "rawlen", "rawset",
    "select", "tonumber", "tostring", "type", "getmetatable", "_VERSION", "unpack", "_G",
    "string", "table", "math", "utf8", "os", "setmetatable", "pcall", "xpcall",
    "collectgarbage", "load", "coroutine", "print", "dump", "json", "regex", "docs", "app", "mcp",
    "sleep",
}  # fmt: skip

LIBRARIES = {
    "string": "byte char find format gmatch gsub len lower match pack packsize rep reverse sub"
    " unpack upper",
    "table": "concat insert move pack remove sort unpack",
    "math": "abs acos asin atan ceil cos deg exp floor fmod huge log max maxinteger min"
    " mininteger modf pi rad random randomseed sin sqrt tan tointeger type ult",
    "utf8": "char charpattern codepoint codes len offset",
    "os": "clock date time",
    "coroutine": "close create isyieldable resume running status wrap yield",
    "json": "array decode encode null object",
    "regex": "gsub match match_all",
    "docs": "list read search",
    "mcp": "call get_prompt prompts read_resource resources schema servers tools",
}


def returns(lua: Callable[..., Any], code: str, **limits: Any) -> list[Any]:
    """Runs code that must succeed and gives its return values."""
    result = lua(code, **limits)
    assert result.success, result.error
    return result.result


@pytest.fixture
def supervised(new_worker: Callable[..., Worker]) -> Callable[..., tuple[Any, bool]]:
    """Like ``lua`` but also says whether the supervisor had to kill the worker."""

    def run(code: str, **limits: Any) -> tuple[Any, bool]:
        worker = new_worker(**limits)
        return worker.run(code, "test"), worker.restarted

    return run


# --------------------------------------------------------------------------- what exists


@pytest.mark.parametrize(
    "name",
    [
        "require", "dofile", "loadfile", "loadstring", "io", "debug", "package", "python",
        "module", "setfenv", "getfenv", "newproxy", "jit", "ffi", "bit32", "arg",
    ],
)  # fmt: skip
def test_dangerous_global_is_absent(lua, name):
    """Reading the name directly, through rawget and through _ENV all give nil."""
    code = f'return type({name}), rawget(_G, "{name}"), _ENV["{name}"], _G.{name}'
    assert returns(lua, code) == ["nil", None, None, None]


@pytest.mark.parametrize(
    "name", ["execute", "getenv", "remove", "rename", "exit", "tmpname", "setlocale", "difftime"]
)
def test_os_function_is_absent(lua, name):
    """os keeps only time/clock/date."""
    assert returns(lua, f"return type(os.{name}), rawget(os, '{name}')") == ["nil", None]


def test_globals_are_exactly_the_whitelist(lua):
    """next(_G) enumerates only the names the prelude puts there."""
    code = "local names = {} for k in next, _G do names[#names + 1] = k end return names"
    names = returns(lua, code)[0]
    assert len(names) == len(GLOBALS)
    assert set(names) == GLOBALS


@pytest.mark.parametrize("library", sorted(LIBRARIES))
def test_library_tables_hold_exactly_the_expected_names(lua, library):
    """No library table carries extra members (string.dump, os.execute, ...)."""
    code = f"local names = {{}} for k in next, {library} do names[#names + 1] = k end return names"
    assert sorted(returns(lua, code)[0]) == LIBRARIES[library].split()


def test_library_functions_are_declared_once():
    """The prelude makes json, regex and docs from the engine's LIBRARIES, each function
    backed by runtime/library.py's of that name, and mcp from dispatch.py's MCP_FUNCTIONS:
    with json's own null, array and object, those are exactly the tables checked above."""
    from kosmo_lua.dispatch import MCP_FUNCTIONS
    from kosmo_lua.runtime import library
    from kosmo_lua.runtime.engine import LIBRARIES as DECLARED

    declared = {**DECLARED, "mcp": tuple(MCP_FUNCTIONS)}
    declared["json"] += ("null", "array", "object")
    assert {name: sorted(names) for name, names in declared.items()} == {
        name: LIBRARIES[name].split() for name in declared
    }
    for name, functions in DECLARED.items():
        for function in functions:
            assert callable(getattr(library, f"{name}_{function}"))


def test_library_functions_ignore_extra_arguments(lua):
    """As a Lua function with that many parameters would."""
    code = 'return json.decode("[1]", nil, 0), docs.list(5) ~= nil, regex.gsub("a", "a", "b", 1, 2)'
    assert returns(lua, code) == [[1], True, "b", 1]


def test_no_reachable_value_is_userdata(lua):
    """Walking every table and metatable reachable from _G finds no userdata (Python objects)."""
    code = """
    local seen, types = {}, {}
    local function visit(v)
      local t = type(v)
      types[t] = true
      if t == "table" or t == "function" or t == "thread" then
        if seen[v] then return end
        seen[v] = true
      end
      local mt = getmetatable(v)
      if mt ~= nil then types["metatable:" .. type(mt)] = true visit(mt) end
      if t == "table" then for k, x in next, v do visit(k) visit(x) end end
    end
    for _, v in ipairs({_G, "", 0, true, print, coroutine.running()}) do visit(v) end
    local out = {} for k in pairs(types) do out[#out + 1] = k end
    table.sort(out)
    return table.concat(out, " ")
    """
    assert returns(lua, code) == ["boolean function metatable:boolean number string table thread"]


def test_debug_getregistry_is_unreachable(lua):
    """No debug library means no registry (where lupa keeps its Python objects)."""
    code = "return pcall(function() return debug.getregistry() end)"
    assert returns(lua, code) == [False, "test:1: attempt to index a nil value (global 'debug')"]


# --------------------------------------------------------------------------- string metatable


def test_string_metatable_is_protected(lua):
    """getmetatable("") gives false, not the shared metatable."""
    assert returns(lua, 'return getmetatable(""), getmetatable("abc")') == [False, False]


def test_string_metatable_index_is_unreachable(lua):
    """getmetatable("").__index indexes a boolean."""
    result = lua('return getmetatable("").__index')
    assert result.error == "test:1: attempt to index a boolean value"


def test_string_dump_is_gone_through_methods_too(lua):
    """("").dump and string.dump are nil: no bytecode to forge."""
    assert returns(lua, 'return ("").dump, string.dump, type(("x").rep)') == [
        None,
        None,
        "function",
    ]


def test_setmetatable_on_a_string_is_refused(lua):
    """Strings cannot be given a new metatable."""
    ok, err = returns(lua, 'return pcall(setmetatable, "", {})')
    assert ok is False
    assert err.endswith("bad argument #1 to 'setmetatable' (table expected, got string)")


# --------------------------------------------------------------------------- load


@pytest.mark.parametrize(
    "call",
    [
        pytest.param('load("\\27LuaT\\0")', id="binary-string"),
        pytest.param('load("\\27LuaT\\0", "x", "b")', id="binary-string-mode-b"),
        pytest.param('load("\\27LuaT\\0", "x", "bt")', id="binary-string-mode-bt"),
        pytest.param('load("\\27LuaT\\0", "x", "b", _G)', id="binary-string-with-env"),
        pytest.param(
            'load(coroutine.wrap(function() coroutine.yield("\\27Lu") coroutine.yield("aT") end))',
            id="binary-via-reader",
        ),
    ],
)
def test_binary_chunks_are_refused(lua, call):
    """load is text-only whatever mode is asked for."""
    assert returns(lua, f"return {call}") == [None, BINARY_REFUSED]


def test_load_mode_b_still_compiles_text(lua):
    """Asking for mode "b" cannot be used to probe binary loading: the mode is forced to "t"."""
    assert returns(lua, 'return load("return 41 + 1", "x", "b")()') == [42]


def test_load_default_env_is_the_sandbox(lua):
    """A loaded chunk sees the sandbox, not the real _G (with or without an explicit nil env)."""
    code = """
    return load("return io")(), load("return python")(), load("return _ENV")() == _G,
      load("return _ENV", "x", "t", nil)() == _G, load("return debug", "x", "t")()
    """
    assert returns(lua, code) == [None, None, True, True, None]


def test_load_chunkname_does_not_read_files(lua):
    """A chunk named "@/etc/passwd" only borrows the name; nothing is read."""
    code = 'local _, e = pcall(load("error(\'x\')", "@/etc/passwd")) return e'
    assert returns(lua, code) == ["/etc/passwd:1: x"]


# --------------------------------------------------------------------------- _ENV and _G


def test_env_is_g_and_has_no_hidden_metatable(lua):
    """_ENV is the sandbox table itself, with no metatable leading to the real globals."""
    assert returns(lua, "return _ENV == _G, _G._G == _G, getmetatable(_G)") == [True, True, None]


def test_local_env_proxy_finds_nothing_new(lua):
    """A fresh _ENV that falls back to _G still sees no io/python/debug/package."""
    code = """
    local _ENV = setmetatable({}, {__index = _G})
    return type(io), type(python), type(debug), type(package), type(print)
    """
    assert returns(lua, code) == ["nil", "nil", "nil", "nil", "function"]


def test_setmetatable_on_g_exposes_nothing_and_host_never_reads_g(lua):
    """A recording __index on _G sees only the script's own lookups, none from host functions."""
    code = """
    local seen = {}
    setmetatable(_G, {__index = function(_, k) seen[#seen + 1] = k end,
                      __newindex = function(_, k) seen[#seen + 1] = "set " .. k end})
    local missing = io
    print({a = 1}) dump(2)
    local encoded = json.encode({1}, {pretty = false})
    pcall(app.nothing)
    return seen, encoded, missing
    """
    result = lua(code)
    assert result.success, result.error
    assert result.result == [["io"], "[1]", None]
    assert result.output == ['{\n    "a": 1\n}', "2"]


# --------------------------------------------------------------------------- coroutines


def test_coroutine_running_gives_no_handle_on_the_host(lua):
    """The main thread is visible but cannot be resumed or closed."""
    code = """
    local main, is_main = coroutine.running()
    return type(main), is_main, select(2, coroutine.resume(main)),
      select(2, pcall(coroutine.close, main)), coroutine.status(main)
    """
    assert returns(lua, code) == [
        "thread",
        True,
        "cannot resume non-suspended coroutine",
        "cannot close a running coroutine",
        "running",
    ]


@pytest.mark.parametrize(
    "code",
    [
        pytest.param(
            "local co = coroutine.create(function() while true do end end)"
            " while true do coroutine.resume(co) end",
            id="coroutine.create",
        ),
        pytest.param(
            "local f = coroutine.wrap(function() while true do end end) while true do pcall(f) end",
            id="coroutine.wrap",
        ),
        pytest.param(
            "coroutine.wrap(function() coroutine.wrap(function() while true do end end)() end)()",
            id="nested-coroutines",
        ),
        pytest.param(
            "local f = coroutine.wrap(function() while true do coroutine.yield() end end)"
            " while true do pcall(f) end",
            id="yield-between-pcalls",
        ),
        pytest.param(
            "regex.gsub('a', '/a/', function()"
            " return coroutine.wrap(function() while true do end end)() end)",
            id="coroutine-inside-host-callback",
        ),
        pytest.param(
            "while true do pcall(json.decode, '{}',"
            " setmetatable({}, {__index = function() while true do end end})) end",
            id="lua-called-back-from-python",
        ),
        pytest.param("while true do load(function() while true do end end) end", id="load-reader"),
        pytest.param(
            "do local x <close> = setmetatable({}, {__close = function() while true do end end})"
            " while true do end end",
            id="close-metamethod",
        ),
    ],
)
def test_runaway_code_cannot_hide_from_the_hook(supervised, code):
    """The count hook stops it (no supervisor kill needed), wherever the loop runs."""
    result, killed = supervised(code, cpu_seconds=CPU)
    assert result.error == CPU_ERROR
    assert result.meta["limit"] == "cpu"
    assert killed is False


def test_os_clock_overwritten_does_not_disable_the_cpu_limit(supervised):
    """The hook uses its own copy of os.clock."""
    result, killed = supervised(
        "os.clock = function() return 0 end while true do end", cpu_seconds=CPU
    )
    assert result.error == CPU_ERROR
    assert killed is False


def test_xpcall_handler_cannot_run_unhooked(supervised):
    """A message handler called for the hook's own limit error would run with hooks off."""
    code = (
        "while true do"
        " xpcall(function() while true do end end, function() while true do end end) end"
    )
    result, killed = supervised(code, cpu_seconds=CPU)
    assert result.error == CPU_ERROR
    assert result.meta["limit"] == "cpu"
    assert killed is False


def test_yield_across_a_host_callback_fails_cleanly(lua):
    """Yielding out of a regex.gsub callback is an ordinary string error."""
    code = """
    return coroutine.wrap(function()
      local ok, err = pcall(regex.gsub, "a", "/a/", function() coroutine.yield(1) end)
      return ok, type(err), err:match("^[^\\n]*")
    end)()
    """
    assert returns(lua, code) == [
        False,
        "string",
        "test:3: regex.gsub: the replacement function failed: attempt to yield from outside a"
        " coroutine",
    ]


# --------------------------------------------------------------------------- host values


def test_host_results_hold_only_plain_lua_values(lua):
    """json.decode and regex results contain tables, strings, numbers, booleans: no userdata."""
    code = """
    local function kinds(v, out)
      out = out or {}
      out[type(v)] = true
      if type(v) == "table" and v ~= json.null and getmetatable(v) ~= nil then
        out["metatable"] = true
      end
      if type(v) == "table" then for k, x in next, v do kinds(k, out) kinds(x, out) end end
      return out
    end
    local values = {
      json.decode('{"a": [1, null, {"b": true}], "c": "x", "d": 1.5}', {keep_null = true}),
      regex.match("ab", "/(?<x>a)(b)/"),
      regex.match_all("abab", "/(a)(b)/"),
      {regex.gsub("ab", "/a/", function(c) return type(c) end)},
    }
    local found = kinds(values)
    local out = {} for k in pairs(found) do out[#out + 1] = k end
    table.sort(out)
    return table.concat(out, " ")
    """
    assert returns(lua, code) == ["boolean number string table"]


def test_host_functions_return_no_hidden_extra_values(lua):
    """select("#") shows exactly the documented results, nothing smuggled after them."""
    code = """
    return select("#", json.decode("1")), select("#", json.encode(1)),
      select("#", regex.match("a", "/a/")), select("#", regex.gsub("a", "/a/", "b"))
    """
    assert returns(lua, code) == [1, 1, 1, 2]


def test_app_proxy_exposes_nothing(lua):
    """getmetatable, rawget, next, tostring and type on app give nothing but a path string."""
    code = """
    return getmetatable(app), rawget(app, "x"), next(app), tostring(app.x), type(app.x),
      getmetatable(app.x.y), rawequal(app.x, app.x), tostring(app.__class__.__dict__)
    """
    assert returns(lua, code) == [
        False,
        None,
        None,
        "app.x",
        "table",
        False,
        False,
        "app.__class__.__dict__",
    ]


def test_app_python_attribute_paths_are_just_unknown_functions(lua):
    """Python dunder names are only text in a dotted path."""
    result = lua("return app.__class__.__subclasses__()")
    assert result.error == "Unknown function: app.__class__.__subclasses__"


def test_app_proxy_metatable_cannot_be_replaced(lua):
    """setmetatable(app, ...) hits the protected metatable."""
    _, err = returns(lua, "return pcall(setmetatable, app, {})")
    assert err.endswith("cannot change a protected metatable")


@pytest.mark.parametrize(
    ("call", "message"),
    [
        ("json.decode, 5", "json.decode: expected a string, got number"),
        (
            'json.decode, "{"',
            "json.decode: invalid JSON at line 1, column 2 (char 1): "
            "Expecting property name enclosed in double quotes",
        ),
        ("json.encode, print", "json.encode: cannot convert a function to JSON"),
        ("json.encode, {}, 5", "json.encode: options must be a table, got number"),
        ('regex.match, nil, "a"', "regex.match: subject must be a string, got nil"),
        (
            'regex.gsub, "a", "/a/", true',
            "regex.gsub: replacement must be a string or a function, got boolean",
        ),
        ("docs.read, 5", "docs.read: page must be a string, got number"),
    ],
)
def test_host_errors_caught_by_pcall_are_strings(lua, call, message):
    """A host failure reaches pcall as a string naming the script's line, never a Python
    exception userdata."""
    code = f"local ok, err = pcall({call}) return ok, type(err), err"
    assert returns(lua, code) == [False, "string", f"test:1: {message}"]


@pytest.mark.parametrize(
    ("call", "fields"),
    [
        (
            "app.missing",
            {"kind": "unknown_function", "message": "Unknown function: app.missing", "tool": ""},
        ),
        (
            "app.missing, print",
            {"kind": "error", "message": "cannot convert a function to JSON", "tool": ""},
        ),
    ],
)
def test_app_errors_caught_by_pcall_are_strings_with_fields(lua, call, fields):
    """An app.* failure is a plain string, as in the original, whose fields read like a
    table's: the only thing a script can reach is its own error's data."""
    code = f"""
    local ok, err = pcall({call})
    return ok, type(err), getmetatable(err), err, err.kind, err.message, err.tool, err.line,
      err.dump == string.dump, err == "test:2: " .. err.message, (string.find(err, "test", 1, true))
    """
    assert returns(lua, code) == [
        False,
        "string",
        False,
        f"test:2: {fields['message']}",
        fields["kind"],
        fields["message"],
        fields["tool"],
        2,
        True,
        True,
        1,
    ]


def test_error_fields_follow_the_text_not_a_script_string(lua):
    """A string the script builds has no fields, unless it is an error's very text (which
    then reads as that error): nothing else can be forged or reached."""
    code = """
    local ok, err = pcall(app.missing)
    local copy = ("x" .. err):sub(2)
    return ("Unknown function: app.missing").kind, copy.kind, ("abc").status, ("abc").line
    """
    assert returns(lua, code) == [None, "unknown_function", None, None]


def test_only_recent_error_texts_keep_their_fields(lua):
    """The text → fields memory is bounded: a pcall loop cannot grow it without end."""
    code = """
    local first
    for i = 1, 1000 do
      local ok, err = pcall(app.integrations.buildkite.get_build, "a", "b", "x" .. i)
      first = first or err
      if i == 1 then assert(first.kind == "invalid_arguments") end
    end
    local ok, last = pcall(app.integrations.buildkite.get_build, "a", "b", "y")
    return first.kind, last.kind
    """
    assert returns(lua, code) == [None, "invalid_arguments"]


def test_host_errors_reach_xpcall_handlers_as_strings(lua):
    """The message handler sees a string too."""
    code = "return xpcall(json.decode, function(e) return type(e) end, 5)"
    assert returns(lua, code) == [False, "string"]


def test_table_error_raised_in_a_host_callback_comes_back_as_a_string(lua):
    """An error object thrown inside a regex.gsub callback crosses Python as text."""
    code = """
    local ok, err = pcall(regex.gsub, "a", "/a/", function() error({}) end)
    return ok, type(err)
    """
    assert returns(lua, code) == [False, "string"]


@pytest.mark.parametrize(
    "page",
    [
        "../../../../etc/passwd",
        "/etc/passwd",
        "lua/../../../runtime/prelude",
        "../runtime/prelude.lua",
        "..",
        "",
    ],
)
def test_docs_read_cannot_open_arbitrary_files(lua, page):
    """docs.read looks names up in its page list; a path is just an unknown page."""
    assert returns(lua, f"return docs.read({page!r})") == [
        f"No integration docs found for '{page}'. See docs.list()."
    ]


def test_mcp_cannot_reach_files_without_a_configured_server(lua):
    """mcp.read_resource of a file:// URI needs a configured server; scripts cannot add one."""
    code = """
    local ok, err = pcall(mcp.read_resource, "../../etc/passwd", "file:///etc/passwd")
    return ok, type(err), err.message:match("^[^:]*")
    """
    assert returns(lua, code) == [False, "string", "Unknown MCP server '../../etc/passwd'"]


# --------------------------------------------------------------------------- json.null


def test_json_null_is_read_only(lua):
    """Assigning into json.null raises."""
    result = lua("json.null.x = 1")
    assert result.error == "test:1: json.null is read-only"


def test_json_null_metatable_is_protected(lua):
    """getmetatable gives false and setmetatable is refused."""
    code = (
        "local ok, err = pcall(setmetatable, json.null, {}) return getmetatable(json.null), ok, err"
    )
    meta, ok, err = returns(lua, code)
    assert (meta, ok) == (False, False)
    assert err.endswith("cannot change a protected metatable")


def test_json_null_stays_null_for_the_host_even_after_rawset(lua):
    """rawset bypasses __newindex, but the host still treats the value as JSON null."""
    code = """
    rawset(json.null, "x", 1)
    return json.encode(json.null), json.encode({json.null}, {pretty = false}), json.null
    """
    assert returns(lua, code) == ["null", "[null]", None]


# --------------------------------------------------------------------------- collectgarbage


@pytest.mark.parametrize(
    "option",
    [
        '"collect"', '"step"', '"stop"', '"restart"', '"incremental"', '"generational"',
        '"setpause"', '"setstepmul"', '"isrunning"', "nil",
    ],
)  # fmt: skip
def test_collectgarbage_allows_only_count(lua, option):
    """Every option but "count" is refused with a clear message."""
    code = f"return pcall(collectgarbage, {option})"
    assert returns(lua, code) == [
        False,
        'collectgarbage: only "count" is available in the sandbox',
    ]


def test_collectgarbage_count_still_works(lua):
    """The one allowed option returns a number."""
    assert returns(lua, 'return math.type(collectgarbage("count"))') == ["float"]


# --------------------------------------------------------------------------- finalizers


def test_gc_metamethod_is_refused(lua):
    """setmetatable with __gc is refused outright."""
    code = "return pcall(setmetatable, {}, {__gc = function() end})"
    assert returns(lua, code) == [
        False,
        "setmetatable: __gc finalizers are not allowed in the sandbox",
    ]


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(
            "setmetatable({}, setmetatable({}, {__index = {__gc = finalizer}}))",
            id="gc-inherited-through-index",
        ),
        pytest.param(
            "(function() local mt = {} local o = setmetatable({}, mt) mt.__gc = finalizer"
            " return o end)()",
            id="gc-added-after-setmetatable",
        ),
    ],
)
def test_sneaked_in_gc_metamethod_never_runs(lua, make):
    """The object is collected (its weak entry clears) without its finalizer running."""
    code = f"""
    local ran = false
    local function finalizer() ran = true end
    local weak = setmetatable({{}}, {{__mode = "k"}})
    do weak[{make}] = true end
    local i = 0
    while next(weak) ~= nil and i < 1e6 do local _ = {{}} i = i + 1 end
    return next(weak) == nil, ran
    """
    assert returns(lua, code) == [True, False]


# --------------------------------------------------------------------------- memory bombs


@pytest.mark.parametrize(
    "code",
    [
        pytest.param('return string.rep("x", 1 << 30)', id="rep"),
        pytest.param('return ("x"):rep(1 << 29, "yz")', id="rep-with-separator"),
        pytest.param('return pcall(string.rep, "x", 1 << 30)', id="rep-in-pcall"),
        pytest.param(
            'return pcall(coroutine.wrap(string.rep), "x", 1 << 30)', id="rep-in-coroutine"
        ),
        pytest.param('local s = "x" while true do s = s .. s end', id="doubling-concat"),
        pytest.param(
            'local t = {} for i = 1, 1e9 do t[i] = ("x"):rep(100) .. i end', id="table-fill"
        ),
    ],
)
def test_memory_bombs_end_in_the_memory_limit(supervised, code):
    """A bomb ends in the memory limit error, even under pcall, and the worker survives."""
    result, killed = supervised(code)
    assert result.error == MEMORY_ERROR
    assert result.meta["limit"] == "memory"
    assert killed is False


def test_string_rep_beyond_the_size_limit_is_an_ordinary_error(lua):
    """A count too large for any string is refused before allocating."""
    assert lua('return string.rep("x", 1 << 40)').error == "test:1: resulting string too large"


@pytest.mark.parametrize(
    "code",
    [
        pytest.param(
            'local f, err = load(function() local s = string.rep("x", 1 << 30) end) return err',
            id="load-reader",
        ),
        pytest.param(
            "local co = coroutine.create(function() local x <close> = setmetatable({},"
            ' {__close = function() local s = ("x"):rep(1 << 30) end}) coroutine.yield() end)'
            " coroutine.resume(co) return select(2, coroutine.close(co))",
            id="coroutine.close",
        ),
    ],
)
def test_memory_error_cannot_be_swallowed(lua, code):
    """Catching the memory error any protected way still trips the memory limit."""
    result = lua(code)
    assert result.error == MEMORY_ERROR


# Fills memory to the last few bytes (memory errors swallowed by load's reader, see above),
# keeps it alive in a global, then returns a table: converting it makes lupa allocate in an
# unprotected Lua API call, Lua panics and the worker aborts (SIGABRT).
FILL_THEN_RETURN = """
local result = {}
for i = 1, 1000 do result[i] = {} end
HOLD = {}
for i = 1, 4096 do HOLD[i] = false end
for i = 1, 4096 do HOLD[i] = nil end
local n, count = 1 << 20, 0
local function grab()
  count = count + 1
  HOLD[#HOLD + 1] = n >= 64 and string.rep("x", n) or tostring(count)
end
while n >= 1 do
  local before = #HOLD
  load(grab)
  if #HOLD == before then n = n // 2 end
end
return result
"""


@contextlib.contextmanager
def _no_faulthandler() -> Iterator[None]:
    enabled = faulthandler.is_enabled()
    faulthandler.disable()
    try:
        yield
    finally:
        if enabled:
            faulthandler.enable(file=sys.__stderr__)


def test_exhausted_memory_at_return_does_not_abort_the_worker(lua):
    """Converting results with no memory left should give the memory error, not a Lua panic."""
    with _no_faulthandler():  # the forked worker inherits it and would dump a traceback
        result = lua(FILL_THEN_RETURN, memory_bytes=4 * 1024 * 1024)
    assert WORKER_DIED not in (result.error or "")


@pytest.mark.parametrize(
    "code",
    [
        pytest.param(
            'return #regex.gsub(("x"):rep(40000), "/x/", ("y"):rep(1000))', id="regex-gsub"
        ),
        pytest.param(
            'local s = ("x"):rep(1000) local t = {} for i = 1, 40000 do t[i] = s end'
            " return #json.encode(t)",
            id="json-encode",
        ),
    ],
)
def test_host_result_beyond_the_memory_cap_is_a_memory_error(supervised, code):
    """An oversized host result should trip the memory limit, not hang the worker."""
    result, _ = supervised(code, timeout_seconds=1.5)
    assert result.error == MEMORY_ERROR


def test_return_values_cannot_amplify_past_the_limits(lua):
    """A 10 MB result built from ~200 KB of Lua memory should hit the output or memory limit."""
    result = lua('local s = ("x"):rep(1000) local t = {} for i = 1, 10000 do t[i] = s end return t')
    assert result.success is False
    assert result.meta.get("limit") in ("output", "memory")


# --------------------------------------------------------------------------- error objects


@pytest.mark.parametrize(
    ("code", "pattern"),
    [
        pytest.param(
            'error(setmetatable({}, {__tostring = function() return "custom" end}))',
            re.escape("custom"),
            id="tostring-metamethod",
        ),
        pytest.param("error(function() end)", r"function: 0x[0-9a-f]+", id="lua-function"),
        pytest.param("error(string.len)", r"function: (builtin: )?0x[0-9a-f]+", id="c-function"),
        pytest.param(
            "local co = coroutine.create(function() coroutine.yield() end)"
            " coroutine.resume(co) error(co)",
            r"thread: 0x[0-9a-f]+",
            id="coroutine",
        ),
        pytest.param("error(nil)", "nil", id="nil"),
        pytest.param("error({code = 1})", re.escape('{"code": 1}'), id="plain-table"),
        pytest.param(
            'error(setmetatable({}, {__name = "Evil"}))', r"Evil: 0x[0-9a-f]+", id="name-field"
        ),
        pytest.param("error(json.null)", "null", id="json-null"),
        pytest.param("error(app.x)", re.escape("app.x"), id="app-proxy"),
    ],
)
def test_any_error_object_becomes_a_string(lua, code, pattern):
    """Whatever a script throws, result.error is a string."""
    result = lua(code)
    assert result.success is False
    assert isinstance(result.error, str)
    assert re.fullmatch(pattern, result.error), result.error


@pytest.mark.parametrize(
    "code",
    [
        pytest.param(
            'error(setmetatable({}, {__tostring = function() error("boom") end}))', id="raises"
        ),
        pytest.param(
            "error(setmetatable({}, {__tostring = function() return {} end}))",
            id="returns-non-string",
        ),
    ],
)
def test_broken_tostring_on_an_error_object_does_not_kill_the_worker(lua, code):
    """A __tostring that fails should still leave a string error, not a dead worker."""
    result = lua(code)
    assert isinstance(result.error, str)
    assert WORKER_DIED not in result.error


def test_looping_tostring_on_an_error_object_is_stopped(lua):
    """__tostring runs after the hook is cleared; the supervisor still ends it at the CPU limit."""
    result = lua(
        "error(setmetatable({}, {__tostring = function() while true do end end}))", cpu_seconds=CPU
    )
    assert result.error == CPU_ERROR
    assert result.meta["limit"] == "cpu"


def nested(depth: int) -> str:
    return f"local t = {{}} local c = t for i = 1, {depth} do c[1] = {{}} c = c[1] end"


@pytest.mark.parametrize(
    "code",
    [
        pytest.param(f"{nested(600)} return t", id="returned"),
        pytest.param(f"{nested(600)} error(t)", id="error-object"),
        pytest.param(
            'return json.decode(string.rep("[", 510) .. string.rep("]", 510))',
            id="json-decode-result",
        ),
    ],
)
def test_deeply_nested_values_do_not_kill_the_worker(lua, code):
    """Converting a deep table should give '<too deep>' or the value, not a dead worker."""
    result = lua(code)
    assert WORKER_DIED not in (result.error or "")


def test_deeply_nested_print_does_not_kill_the_worker(lua):
    """print of a very deep table prints markers or fails as a catchable string error."""
    result = returns(lua, f"{nested(2000)} local ok, err = pcall(print, t) return ok, type(err)")
    assert result in ([True, "nil"], [False, "string"])


# --------------------------------------------------------------------------- metamethods


def test_print_and_conversions_do_not_run_metamethods_in_python(lua):
    """print, json.encode, app arguments and return values read tables raw."""
    code = """
    local hits = 0
    local function count() hits = hits + 1 end
    local key = setmetatable({}, {__tostring = function() count() return "k" end,
                                  __lt = count, __eq = count})
    local t = setmetatable({a = 1, [key] = 2}, {__pairs = function() count() return next, {} end,
      __index = count, __len = function() count() return 0 end, __newindex = count})
    print(t)
    local encoded = json.encode(t, {pretty = false})
    pcall(app.missing, t)
    return hits, encoded, t
    """
    result = lua(code)
    assert result.success, result.error
    assert result.result == [0, '{"<table>":2,"a":1}', {"<table>": 2, "a": 1}]
    assert result.output == ['{\n    "<table>": 2,\n    "a": 1\n}']


# --------------------------------------------------------------------------- os.date


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ('"%Ez"', "bad argument #1 to 'os.date' (invalid conversion specifier '%Ez')"),
        ('"%Q"', "bad argument #1 to 'os.date' (invalid conversion specifier '%Q')"),
        ('"%"', "bad argument #1 to 'os.date' (invalid conversion specifier '%')"),
        ('"*t", 1e100', "bad argument #2 to 'os.date' (number has no integer representation)"),
        ('"%Y", math.maxinteger', "date result cannot be represented in this installation"),
        ('"!%c", math.mininteger', "date result cannot be represented in this installation"),
    ],
)
def test_os_date_bad_input_is_a_clear_error(lua, args, message):
    """Bad formats and times are refused with a message, never a crash."""
    assert returns(lua, f"return pcall(os.date, {args})") == [False, message]


def test_os_time_out_of_range_is_a_clear_error(lua):
    """os.time with an absurd year is refused."""
    code = "return pcall(os.time, {year = 1 << 40, month = 1, day = 1})"
    assert returns(lua, code) == [False, "field 'year' is out-of-bound"]


# --------------------------------------------------------------------------- %p addresses


def test_format_p_address_leads_nowhere(lua):
    """An address from %p is just text: loading it gives a number, never the object."""
    code = """
    local p = string.format("%p", print)
    local back = load("return " .. p)()
    return p:match("^0x%x+$") ~= nil, math.type(back), rawequal(back, print),
      string.format("%p", 1)
    """
    assert returns(lua, code) == [True, "integer", False, "(null)"]


# --------------------------------------------------------------------------- overwriting names

AFTER_OVERWRITE = """
local p, j, r = print, json, regex
{assignment}
p({{a = 1}}, "x")
local encoded = j.encode({{b = {{1, 2}}}}, {{pretty = false}})
local m = r.match("ab12", "/[0-9]+/")
return encoded, m[0], {{c = true}}
"""


@pytest.mark.parametrize(
    "assignment",
    [
        "print = nil",
        'print = function() error("hijacked") end',
        "json = nil",
        "regex = nil",
        "app = nil",
        "dump = nil",
        "pcall, xpcall, error = nil, nil, nil",
        "coroutine = nil",
        "setmetatable, getmetatable = nil, nil",
        "tostring, tonumber, type = nil, nil, nil",
        "select, next, pairs, ipairs, rawget, rawset = nil, nil, nil, nil, nil, nil",
        "string.format = nil",
        'string.format = function() error("hijacked") end',
        "string.rep, string.sub, string.gsub = nil, nil, nil",
        'setmetatable(string, {__index = function() error("hijacked") end})',
        "table.concat, table.pack, table.unpack, unpack = nil, nil, nil, nil",
        "math.huge = 0",
        "os.clock, os.time = nil, nil",
        "_G = nil",
        "load = nil",
        "collectgarbage = nil",
    ],
)
def test_overwriting_bridge_names_does_not_break_the_host(lua, assignment):
    """Host functions keep working after a script reassigns the names they might rely on."""
    result = lua(AFTER_OVERWRITE.format(assignment=assignment))
    assert result.success, result.error
    assert result.output == ['{\n    "a": 1\n}\tx']
    assert result.result == ['{"b":[1,2]}', "12", {"c": True}]


def test_host_error_reporting_survives_overwritten_tostring_and_format(lua):
    """Table errors still render after tostring and string.format are gone."""
    result = lua("tostring = nil string.format = nil error({code = 1})")
    assert result.error == '{"code": 1}'


def test_app_errors_survive_overwritten_tostring(lua):
    """The app proxy builds its path with its own tostring."""
    result = lua('tostring = function() error("hijacked") end return app.some.thing()')
    assert result.error == "Unknown function: app.some.thing"


def test_dump_survives_overwritten_print(lua):
    """dump is a host function: it should not look print up in the script's globals."""
    result = lua("print = nil return dump(1)")
    assert result.success, result.error
    assert (result.output, result.result) == (["1"], [1])


def test_envelope_of_a_thrown_object_is_plain_json(lua):
    """The envelope of a failed run still serializes (no Lua or Python object inside)."""
    result = lua('error(setmetatable({}, {__tostring = function() return "x" end}))')
    assert json.loads(json.dumps(result.envelope()))["error"] == "x"
