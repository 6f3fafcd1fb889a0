"""Host -> Lua conversion (``LuaEngine.to_lua``): every rule, for a small value (its tokens
cross as the arguments of one call) and a big one (they cross as one Lua array)."""

from __future__ import annotations

import enum
import json
from collections import OrderedDict
from typing import Any

import pytest

from kosmo_lua.errors import HostError
from kosmo_lua.limits import MIB, Limits
from kosmo_lua.pages import Pages
from kosmo_lua.runtime.engine import (
    FEW_TOKENS,
    PAGES_MODULE,
    ConversionError,
    LuaEngine,
    TooLarge,
)


@pytest.fixture(scope="module")
def engine() -> LuaEngine:
    return LuaEngine(Limits(memory_bytes=64 * MIB), emit=lambda line: None, dispatch=_no_calls)


def _no_calls(path: str, args: list[Any]) -> tuple[Any, ...]:
    raise HostError("no calls here")


def _sizes(value: Any) -> list[Any]:
    """``value`` alone, and inside enough company to take the bulk path."""
    return [value, [value, *range(FEW_TOKENS)]]


def _first(engine: LuaEngine, container: Any, keep_null: bool = False) -> Any:
    """Converts each size of ``container``; returns the table it became, checking that both
    sizes give the same (as JSON)."""
    small, big = (engine.to_lua(v, keep_null=keep_null) for v in _sizes(container))
    assert engine.to_python(big[1], strict=True) == engine.to_python(small, strict=True)
    return small


class Colour(enum.IntEnum):
    RED = 1


class Text(str):
    pass


def test_strings_and_keys_become_lua_strings_encoded_as_utf8(engine):
    table = _first(engine, {"name": "café", "x\udcff": "\udcfe"})
    assert table[b"name"] == "café".encode()
    assert table[b"x\xff"] == b"\xfe"  # surrogate escapes are the bytes they stand for
    assert engine.to_lua("é") == "é".encode()


def test_subclasses_convert_as_their_base(engine):
    value = {Text("k"): Text("v"), "n": Colour.RED, "o": OrderedDict(a=1), "t": (1, 2)}
    assert engine.to_python(_first(engine, value), strict=True) == {
        "k": "v",
        "n": 1,
        "o": {"a": 1},
        "t": [1, 2],
    }


def test_numbers_bools_and_bytes_keep_their_lua_types(engine):
    table = _first(engine, [1, 2.5, True, False, b"\xff"])
    assert [table[i] for i in range(1, 6)] == [1, 2.5, True, False, b"\xff"]
    assert isinstance(table[1], int) and isinstance(table[2], float)


@pytest.mark.parametrize(
    ("number", "lua"),
    [
        (2**63 - 1, 2**63 - 1),
        (-(2**63), -(2**63)),
        (2**63, float(2**63)),
        (-(2**63) - 1, float(-(2**63) - 1)),
        (10**30, 1e30),
    ],
)
def test_integers_past_int64_become_floats(engine, number, lua):
    table = _first(engine, {"n": number, number: "key"})
    assert table[b"n"] == lua and type(table[b"n"]) is type(lua)
    assert table[lua] == b"key"
    assert engine.to_lua(number) == lua


def test_nulls_vanish_from_objects_unless_kept_and_stay_in_arrays(engine):
    value = {"gone": None, "list": [None, 1, None], "inner": {"gone": None, "x": 1}}
    assert engine.to_python(_first(engine, value), strict=True) == {
        "list": [None, 1, None],
        "inner": {"x": 1},
    }
    kept = _first(engine, value, keep_null=True)
    assert engine.to_python(kept, strict=True) == value
    assert kept[b"gone"] is not None  # json.null, a table, not a missing key
    assert engine.to_lua(None) is None


def test_empty_containers_keep_their_json_kind(engine):
    value = {"object": {}, "array": [], "tuple": (), "nested": [{}, []]}
    assert engine.to_python(_first(engine, value), strict=True) == {**value, "tuple": []}
    assert engine.to_python(engine.to_lua({}), strict=True) == {}
    assert engine.to_python(engine.to_lua([]), strict=True) == []


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ({1, 2}, "cannot pass a set to Lua"),
        ([1, object()], "cannot pass a object to Lua"),
        ({"deep": [{"x": 1j}]}, "cannot pass a complex to Lua"),
        ({None: 1}, "cannot use a NoneType as a key in Lua"),
        ({(1, 2): 1}, "cannot use a tuple as a key in Lua"),
        ({float("nan"): 1}, "cannot use NaN as a key in Lua"),
    ],
)
def test_what_lua_cannot_hold_is_refused(engine, value, problem):
    for size in _sizes(value):
        with pytest.raises(ConversionError, match=problem):
            engine.to_lua(size)


def test_a_value_past_the_memory_left_is_refused_before_anything_is_built():
    engine = LuaEngine(Limits(memory_bytes=4 * MIB), emit=lambda line: None, dispatch=_no_calls)
    before = engine.memory_used
    with pytest.raises(TooLarge, match="not enough memory"):
        engine.to_lua({"rows": [{"text": "x" * 100} for _ in range(40000)]})
    assert engine.memory_used - before < 64 * 1024


class _Page:
    """A reply of a listing: its JSON text, decoded afresh when its items are taken."""

    def __init__(self, index: int, items: list[Any], decoded: set[int] | None) -> None:
        self._index, self._text, self._decoded = index, json.dumps(items).encode(), decoded

    @property
    def json_body(self) -> bytes:
        self._read()
        return self._text

    def items(self) -> list[Any]:
        self._read()
        return list(json.loads(self._text))

    def _read(self) -> None:
        if self._decoded is not None:
            self._decoded.add(self._index)


def _pages(*pages: list[Any], decoded: set[int] | None = None) -> Pages:
    """``Pages`` of these items; ``decoded`` records the index of each page read."""
    found = Pages()
    for index, items in enumerate(pages):
        found.add(_Page(index, items, decoded))
    return found


def test_pages_become_one_array_in_order(engine):
    pages = [[{"n": i, "tags": [], "none": None} for i in range(150)]]
    pages += [[], [{"n": 150}], [1, "two", None, [3]]]
    converted = engine.to_lua(_pages(*pages))
    plain = [item for items in pages for item in items]
    assert engine.to_python(converted, strict=True) == engine.to_python(
        engine.to_lua(plain), strict=True
    )
    assert len(converted) == 155
    assert engine.json_text(converted[1], strict=True, pretty=False) == '{"n":0,"tags":[]}'


def test_the_engine_knows_where_pages_are_made():
    """The engine finds ``Pages`` by module name (so as not to import it at start-up)."""
    assert Pages.__module__ == PAGES_MODULE


def test_no_pages_are_an_empty_array(engine):
    assert engine.json_text(engine.to_lua(_pages()), strict=True, pretty=False) == "[]"
    assert engine.json_text(engine.to_lua(_pages([], [])), strict=True, pretty=False) == "[]"


def test_the_page_past_the_memory_left_is_refused_before_it_is_built():
    """Each page is counted, against the room the pages before it left, before any of its
    tables is made; the pages after it are never decoded."""
    engine = LuaEngine(Limits(memory_bytes=8 * MIB), emit=lambda line: None, dispatch=_no_calls)
    page = [{"text": "x" * 100, "n": i} for i in range(5000)]  # ~1.3 MB as Lua
    decoded: set[int] = set()
    with pytest.raises(TooLarge, match="not enough memory"):
        engine.to_lua(_pages(*[page] * 10, decoded=decoded))
    assert 3 <= len(decoded) < 10  # some pages fitted; those after the refused one: never read
    assert engine.memory_used <= 8 * MIB  # with the cap lifted, building it would pass it


def test_nesting_as_deep_as_json_allows_converts(engine):
    value: Any = "leaf"
    for _ in range(511):
        value = [value]
    assert engine.to_python(engine.to_lua(value), strict=True) == value


def test_big_decoded_values_hold_only_plain_lua_values(engine):
    """The bulk path gives scripts the same plain tables, strings and numbers."""
    rows = [
        {"id": i, "name": f"n{i}", "tags": [], "meta": {}, "ok": i % 2 == 0} for i in range(500)
    ]
    code = f"""
    local rows = json.decode({json.dumps(json.dumps(rows))})
    local seen = {{}}
    local function walk(v)
      seen[type(v)] = true
      if type(v) == "table" then
        if getmetatable(v) ~= nil then seen.metatable = true end
        for k, x in next, v do walk(k) walk(x) end
      end
    end
    walk(rows)
    local out = {{}} for k in pairs(seen) do out[#out + 1] = k end
    table.sort(out)
    return table.concat(out, " "), #rows, rows[500].name, json.encode(rows[1], {{pretty = false}})
    """
    kind, values, error, _ = engine.run(code, "t")
    assert kind is None and error is None, error
    assert values == [
        "boolean number string table",
        500,
        "n499",
        '{"id":0,"meta":{},"name":"n0","ok":true,"tags":[]}',
    ]


def test_a_long_list_the_host_owns_converts_a_slice_at_a_time_to_the_same_value(engine):
    """Owned long lists cross in slices and give up their items as they go; the result is
    the value a single pass makes, nulls, empty containers and order included."""
    from kosmo_lua.runtime.engine import SLICE_ITEMS

    rows = [
        {"n": i, "tags": [] if i % 3 else ["x", None], "meta": {} if i % 2 else {"k": None}}
        for i in range(SLICE_ITEMS * 2 + 7)
    ]
    expected = json.loads(json.dumps(rows))
    owned = json.loads(json.dumps(rows))
    whole = engine.to_lua(json.loads(json.dumps(rows)), keep_null=True)
    sliced = engine.to_lua(owned, keep_null=True, owned=True)
    assert engine.to_python(sliced, strict=True) == engine.to_python(whole, strict=True)
    assert engine.to_python(sliced, strict=True)[4] == expected[4]  # {"k": null} kept
    assert owned == [None] * len(rows)  # let go of, slice by slice
    kept = json.loads(json.dumps(rows))
    engine.to_lua(kept)
    assert kept == expected  # a value the host does not own is left as it was


def test_text_is_charged_by_its_utf8_bytes_not_its_characters():
    """A string costs what Lua holds: its UTF-8 bytes. Counted in characters, text of
    4-byte characters would be built past the cap (the host builds with the cap lifted)."""
    engine = LuaEngine(Limits(memory_bytes=4 * MIB), emit=lambda line: None, dispatch=_no_calls)
    rows = ["\U0001f600" * 1000 for _ in range(1200)]  # 1.2 M characters, 4.8 MB as UTF-8
    before = engine.memory_used
    with pytest.raises(TooLarge, match="not enough memory"):
        engine.to_lua({"rows": rows})
    assert engine.memory_used - before < 64 * 1024
    assert engine.to_python(engine.to_lua({"rows": rows[:100]}), strict=True) == {
        "rows": rows[:100]
    }


def test_a_lone_surrogate_from_a_server_becomes_the_replacement_character(engine):
    """JSON may escape half of a surrogate pair alone ("\\ud800"); UTF-8 cannot hold one. It
    becomes U+FFFD, as a decoder of bytes would make it, not an internal error; a byte
    that arrived escaped (U+DC80..U+DCFF, text that was not UTF-8) is that byte again."""
    value = json.loads('{"title": "a\\ud800b", "list": ["\\udfff", "ok"], "\\ud83d": 1}')
    table = engine.to_lua(value)
    assert table[b"title"] == "a\ufffdb".encode()
    assert table[b"list"][1] == "\ufffd".encode() and table[b"list"][2] == b"ok"
    assert table["\ufffd".encode()] == 1
    assert engine.to_lua(b"caf\xe9".decode("utf-8", "surrogateescape")) == b"caf\xe9"
    assert engine.to_lua(json.loads('"\\udc80"')) == b"\x80"  # such a byte, as the guide says
    kind, values, error, _ = engine.run("return 'x\ud800y'", "t")
    assert (kind, error, values) == (None, None, ["x\ufffdy"])


def test_an_error_too_big_for_its_fields_ends_the_run_at_the_memory_limit():
    """A failed call's fields (its message among them) are built in Lua for ``err.status``
    and the like; with no room left for them, the run ends at the memory limit instead of
    the host raising into Lua."""

    def failing(path: str, args: list[Any]) -> tuple[Any, ...]:
        raise HostError("x" * (3 * MIB))

    engine = LuaEngine(Limits(memory_bytes=4 * MIB), emit=lambda line: None, dispatch=failing)
    kind, values, error, _ = engine.run("app.integrations.x.y{}", "t")
    assert (kind, values) == ("memory", None), error
    assert engine.memory_used <= 4 * MIB
