"""Properties that hold for every generated input (Hypothesis), where examples cannot cover
the space: JSON round trips, Lua ⇄ Python conversion, argument binding, and that no value a
script can build makes the host run script code while it converts it."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kosmo_lua.arguments import bind
from kosmo_lua.errors import ArgumentError, HostError
from kosmo_lua.integrations import load
from kosmo_lua.limits import MIB, Limits
from kosmo_lua.runtime import jsonlib
from kosmo_lua.runtime.engine import (
    ENTRY_COST,
    FEW_TOKENS,
    LUA_TEXT,
    STRING_COST,
    TABLE_COST,
    LuaEngine,
    TooLarge,
    _lua_cost,
    _tokens,
)

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: not f.is_integer())
    | st.text(max_size=20)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=30,
)


@pytest.fixture(scope="module")
def engine() -> LuaEngine:
    return LuaEngine(Limits(memory_bytes=16 * MIB), emit=lambda line: None, dispatch=_no_calls)


def _no_calls(path: str, args: list[Any]) -> tuple[Any, ...]:
    raise HostError("no calls here")


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=0, abs_tol=0) or a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b and type(a) is type(b)


@FAST
@given(json_values)
def test_json_text_round_trips(value):
    for pretty in (True, False):
        assert _same(jsonlib.decode(jsonlib.encode(value, pretty=pretty).encode()), value)


def _without_object_nulls(value: Any) -> Any:
    """``value`` as Lua gets it without keep_null. An object that held only nulls is still
    an object: empty, it reads back as ``{}``."""
    if isinstance(value, dict):
        return {k: _without_object_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_object_nulls(v) for v in value]
    return value


@FAST
@given(json_values, st.booleans())
def test_lua_values_round_trip_through_the_host(engine, value, keep_null):
    """Python → Lua → Python keeps every value and its JSON kind; nulls in objects are kept
    as json.null or dropped, in arrays always kept. A value alone crosses in one call's
    arguments, in a long array as one Lua array: both ways give the same."""
    expected = value if keep_null else _without_object_nulls(value)
    back = engine.to_python(engine.to_lua(value, keep_null=keep_null), strict=True)
    assert _same(back, expected)
    padding = list(range(FEW_TOKENS))
    in_bulk = engine.to_python(engine.to_lua([value, *padding], keep_null=keep_null), strict=True)
    assert _same(in_bulk, [back, *padding])


def _reference_cost(value: Any) -> int:
    """What a value costs in Lua, as _lua_cost defines it, without its shortcuts: text by
    the bytes Lua holds."""
    if isinstance(value, str):
        return STRING_COST + len(value.encode("utf-8", LUA_TEXT))
    if isinstance(value, bytes):
        return STRING_COST + len(value)
    if isinstance(value, dict):
        parts = [*value.keys(), *value.values()]
        return TABLE_COST + ENTRY_COST * len(value) + sum(map(_reference_cost, parts))
    if isinstance(value, list | tuple):
        return TABLE_COST + ENTRY_COST * len(value) + sum(map(_reference_cost, value))
    return 0


@FAST
@given(
    json_values | st.lists(st.binary() | st.tuples(st.text(), st.integers())), st.integers(0, 4000)
)
def test_the_cost_of_a_value_is_counted_exactly_and_checked_against_the_room(value, room):
    cost = _reference_cost(value)
    assert _lua_cost(value, room) == (cost if cost <= room else None)


@FAST
@given(json_values | st.lists(st.binary() | st.text()), st.integers(0, 4000), st.booleans())
def test_the_token_walk_refuses_exactly_what_the_cost_walk_refuses(engine, value, room, nulls):
    """to_lua charges a container as it makes its tokens, instead of walking it twice."""
    try:
        _tokens(value, nulls, engine._null, engine._marks, room)
        refused = False
    except TooLarge:
        refused = True
    assert refused == (_lua_cost(value, room) is None)


def _lua_string(text: str) -> str:
    """``text`` as a Lua long-bracket literal that nothing inside can close."""
    level = "=" * next(n for n in range(100) if f"]{'=' * n}]" not in text)
    return f"[{level}[\n{text}\n]{level}]"  # the newlines: no "]" touches the closer


@FAST
@given(json_values)
def test_json_in_lua_round_trips(engine, value):
    literal = _lua_string(jsonlib.encode(value))
    code = f"return json.encode(json.decode({literal}, {{keep_null = true}}))"
    kind, values, error, _ = engine.run(code, "t")
    assert error is None and kind is None, error
    assert _same(jsonlib.decode(values[0].encode()), value)


def _lua_float(x: float) -> str:
    if math.isnan(x):
        return "(0/0)"
    if math.isinf(x):
        return "(1/0)" if x > 0 else "(-1/0)"
    return f"({x.hex()})"  # Lua reads hexadecimal floats exactly


def _lua_bytes(raw: bytes) -> str:
    return '"' + "".join(f"\\{byte:03d}" for byte in raw) + '"'


lua_scalars = st.one_of(
    st.integers(-(2**62), 2**62).map(str),
    st.floats().map(_lua_float),
    st.sampled_from(["true", "false", "null", "print", "1", "2"]),
    st.binary(max_size=4).map(_lua_bytes),
    st.text(max_size=4).map(lambda text: _lua_bytes(text.encode("utf-8", "surrogatepass"))),
)
lua_keys = st.one_of(
    st.integers(-2, 5).map(str),
    st.floats(allow_nan=False).map(_lua_float),
    st.sampled_from(["true", "false", "{}", '"1"', '"a"', '"<table>"']),
    st.text(max_size=3).map(lambda text: _lua_bytes(text.encode())),
)
lua_values = st.recursive(
    lua_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4).map(lambda items: "{" + ", ".join(items) + "}"),
        st.lists(st.tuples(lua_keys, inner), max_size=4).map(
            lambda pairs: "{" + ", ".join(f"[{k}] = {v}" for k, v in pairs) + "}"
        ),
        st.lists(inner, min_size=1, max_size=4)  # keys 1..n, kept in the order written
        .flatmap(lambda items: st.permutations(list(enumerate(items, 1))))
        .map(lambda pairs: "{" + ", ".join(f"[{k}] = {v}" for k, v in pairs) + "}"),
        st.sampled_from(["array({})", "object({})", "object({1, 2})", "array({a = 1})"]),
        inner.map(lambda value: f"cycle({value})"),
        inner.map(lambda value: f"{{{value}, {value}, x = {value}}}"),
    ),
    max_leaves=12,
)
# Builds a value from one of those expressions, in the engine's Lua state (outside the sandbox,
# with the prelude's json.null and table kinds).
MAKE = """
function(null, kinds)
  local function array(t) kinds[t] = "array" return t end
  local function object(t) kinds[t] = "object" return t end
  local function cycle(t)
    if type(t) == "table" and not rawequal(t, null) then t.loop = t end
    return t
  end
  return %s
end
"""


def _outcome(make: Any) -> tuple[str, Any]:
    try:
        return "ok", make()
    except Exception as exc:
        return type(exc).__name__, str(exc)


@FAST
@given(lua_values, st.booleans(), st.booleans(), st.sampled_from([None, 30, 120, 400]))
def test_json_text_is_jsonlib_text_of_the_converted_value(engine, code, strict, pretty, budget):
    """json.encode and print write a Lua value's text in one walk; it is always the text
    jsonlib makes of the Python value to_python gives, or fails with the same error."""
    value = engine._lua.eval(MAKE % code)(engine._null, engine._kinds)
    indent = jsonlib.INDENT_WIDTH if pretty else 0
    expected = _outcome(
        lambda: jsonlib.encode(
            engine.to_python(value, strict=strict, budget=budget, indent=indent), pretty=pretty
        )
    )
    assert _outcome(lambda: engine.json_text(value, strict, pretty, budget)) == expected


# Metamethods a script could hang on any table it hands the host. Each bumps a counter and
# allocates 64 MiB: the host must run none of them while it converts, prints or encodes.
# (__tostring is left out: print honours it, in Lua and under the script's own limits.)
EVIL = """
calls = 0
local function evil() calls = calls + 1 local s = string.rep("x", 64 * 1024 * 1024) return s end
evil_mt = {__index = evil, __eq = evil, __len = evil, __pairs = evil, __lt = evil,
           __le = evil, __concat = evil, __newindex = evil}
"""


@FAST
@given(json_values.filter(lambda v: isinstance(v, list | dict)), st.booleans())
def test_no_value_makes_the_host_run_script_code(engine, value, arm):
    engine.run(EVIL, "evil")
    literal = _lua_string(jsonlib.encode(value))
    code = (
        f"local t, arm = json.decode({literal}), {'true' if arm else 'false'}\n"
        "local function walk(x) if type(x) == 'table' and not rawequal(x, json.null) then\n"
        "  for _, v in next, x do walk(v) end if arm then setmetatable(x, evil_mt) end end end\n"
        "walk(t) print(t) print({t, t}) local ok = pcall(json.encode, t) return t, {t}"
    )
    kind, _, error, _ = engine.run(code, "t")
    assert kind is None and error is None, error
    assert engine.run("return calls", "t")[1] == [0]
    assert engine.memory_used < 16 * MIB


BUILDKITE = load()[0]
argument_values = json_values | st.lists(st.text(max_size=5), max_size=3)


@FAST
@given(
    st.sampled_from(BUILDKITE.tools),
    st.dictionaries(
        st.sampled_from(["organization", "pipeline", "number", "payload", "branch", "x"])
        | st.text(max_size=6),
        argument_values,
        max_size=6,
    ),
)
def test_binding_accepts_only_declared_checked_arguments_or_says_why(tool, args):
    """Whatever a script passes, bind returns declared parameters only, or ArgumentError."""
    try:
        bound = bind(tool, [args])
    except ArgumentError:
        return
    assert set(bound) <= {p.name for p in tool.params}
    for name, value in bound.items():
        param = tool.param(name)
        assert param is not None
        if param.type == "integer":
            assert isinstance(value, int) and not isinstance(value, bool)
        if param.type == "string":
            assert isinstance(value, str)
