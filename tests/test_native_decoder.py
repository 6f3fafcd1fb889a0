"""The C decoder of a listing's pages (runtime/jsondecode.c, loaded by runtime/native.py).

Its contract: for any reply body it gives exactly what the Python path gives (``json.loads``,
then ``to_lua``: the same values, integers as integers, floats as floats, the same kinds of
empty tables), or it refuses and the Python path answers. It builds the tables under the
run's memory cap. Each test runs a real engine twice, with the decoder and without
(``KOSMO_NATIVE=0``), and compares what the script would get, kinds and number types shown.
"""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import Iterator
from typing import Any

import lupa.lua54 as lupa
import pytest
from click.testing import CliRunner
from helpers import configured_emulator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kosmo_lua.cli import main
from kosmo_lua.errors import HostError
from kosmo_lua.limits import MIB, Limits
from kosmo_lua.runtime import native
from kosmo_lua.runtime.engine import MAX_DEPTH, LuaEngine, TooLarge

BUILT = native.library_path() is not None
needs_decoder = pytest.mark.skipif(
    not BUILT,
    reason="the C decoder is not built here (no C compiler at install time): only the "
    "Python path exists, so there is nothing to compare",
)
INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)


class _Page:
    """A reply of a listing, as ``rest.Response`` offers it to the converter: its text, and
    its items decoded in Python (what the Python path reads); ``reads`` counts those."""

    def __init__(self, body: bytes) -> None:
        self.json_body = body
        self.reads = 0

    def items(self) -> list[Any]:
        self.reads += 1
        value = json.loads(self.json_body)
        return list(value) if isinstance(value, list) else [value]


def _no_calls(path: str, args: list[Any]) -> tuple[Any, ...]:
    raise HostError("no calls here")


def _engine(decoder: bool, memory: int = 64 * MIB) -> LuaEngine:
    """An engine whose first page was converted with the decoder switched on or off: it
    looks the decoder up then, once."""
    engine = LuaEngine(Limits(memory_bytes=memory), emit=lambda line: None, dispatch=_no_calls)
    with pytest.MonkeyPatch.context() as patch:
        if decoder:
            patch.delenv(native.SWITCH, raising=False)
        else:
            patch.setenv(native.SWITCH, "0")
        _outcome(engine, b"[]")
    return engine


@pytest.fixture(scope="module")
def engines() -> tuple[LuaEngine, LuaEngine]:
    """(with the decoder, without it)."""
    return _engine(True), _engine(False)


def _shape(engine: LuaEngine, value: Any) -> Any:
    """A Lua value as comparable Python: a table is its kind (``kinds``: set for an empty
    table only, "null" for json.null) and its sorted entries; a number keeps its Lua type
    (lupa gives an integer as int, a float as float) and a float its exact repr (-0.0, inf)."""
    if lupa.lua_type(value) == "table":
        kind = engine._kinds[value]
        if kind == b"null":
            return "null"
        entries = sorted(((type(k).__name__, k), _shape(engine, v)) for k, v in value.items())
        return (kind, entries)
    if isinstance(value, float):
        return ("float", repr(value))
    return (type(value).__name__, value)


def _outcome(engine: LuaEngine, body: bytes, keep_null: bool = False) -> tuple[Any, int]:
    """What converting one page gives (its size and shape, or the type of the error that
    stopped it), and how many times the Python path read the page. Converted as a run's
    host call does it: with the memory cap lifted."""
    page = _Page(body)
    try:
        with engine.unbounded_memory():
            table, size = engine._page(page, keep_null)
    except Exception as error:  # the Python path's own errors are an outcome to compare
        return ("error", type(error).__name__), page.reads
    return ("value", size, _shape(engine, table)), page.reads


def _same(engines: tuple[LuaEngine, LuaEngine], body: bytes, keep_null: bool = False) -> int:
    """Checks that both paths give the same for ``body``; returns how many times the
    decoding engine fell back to the Python path (0: the decoder answered)."""
    native_engine, python_engine = engines
    found, reads = _outcome(native_engine, body, keep_null)
    expected, python_reads = _outcome(python_engine, body, keep_null)
    assert python_reads == 1
    assert found == expected, body[:200]
    return reads


# Random documents ------------------------------------------------------------------------


class _Object(list[tuple[str, Any]]):
    """A JSON object as written: its entries in order, a key possibly repeated."""


class _Number(str):
    """A number written as this text, as a server might (``1E+2``, ``0.50``, 30 digits)."""


class _Text(str):
    """A string written as JSON, some of its characters escaped (``\\u00e9``, a surrogate
    pair for an astral character, ``\\/``), the rest raw."""


_NUMBER = r"-?(0|[1-9][0-9]{0,24})(\.[0-9]{1,20})?([eE][+-]?[0-9]{1,3})?"
_WHITESPACE = " \t\n\r"

_integers = st.one_of(
    st.integers(-1000, 1000),
    st.integers(INT64_MIN - 3, INT64_MIN + 3),
    st.integers(INT64_MAX - 3, INT64_MAX + 3),
    st.integers(-(2**70), 2**70),
    st.sampled_from([2**64, -(2**64), 10**30]),
)
_floats = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([-0.0, 0.0, 1e308, -1e308, 5e-324, 2.2250738585072014e-308, 0.1, 1e22]),
)
_strings = st.one_of(
    st.text(max_size=8),  # any code point, lone surrogates included
    st.sampled_from(["", "é", "😀", "\x00", "\u2028", '"\\/', "\ud800", "\udc80", "\udcff"]),
)
_keys = st.one_of(
    st.sampled_from(["a", "b", "", "é", "😀"]), st.text(max_size=4), st.text(max_size=4).map(_Text)
)
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    _integers,
    _floats,
    _strings,
    _strings.map(_Text),
    st.from_regex(_NUMBER, fullmatch=True).map(_Number),
)
_documents = st.recursive(
    _scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.lists(st.tuples(_keys, children), max_size=4).map(_Object),
    ),
    max_leaves=12,
)


def _write(value: Any, rng: random.Random, ascii_only: bool) -> str:
    """``value`` as JSON text, with whitespace sprinkled between tokens at random."""

    def space() -> str:
        return "".join(rng.choice(_WHITESPACE) for _ in range(rng.choice((0, 0, 0, 1, 3))))

    if isinstance(value, _Object):
        entries = [
            f"{space()}{_string(k, rng, ascii_only)}{space()}:{_write(v, rng, ascii_only)}"
            for k, v in value
        ]
        return f"{space()}{{{','.join(entries) or space()}}}{space()}"
    if isinstance(value, list):
        items = [_write(v, rng, ascii_only) for v in value]
        return f"{space()}[{','.join(items) or space()}]{space()}"
    if isinstance(value, _Number):
        text = str(value)
    elif isinstance(value, _Text):
        text = _string(value, rng, ascii_only)
    else:
        text = json.dumps(value, ensure_ascii=ascii_only)
    return f"{space()}{text}{space()}"


def _string(text: str, rng: random.Random, ascii_only: bool) -> str:
    """A JSON string; a ``_Text``'s characters are each written raw or escaped at random."""
    if not isinstance(text, _Text):
        return json.dumps(text, ensure_ascii=ascii_only)
    out = []
    for c in text:
        if c in '"\\' or c < " ":
            out.append(json.dumps(c)[1:-1])  # must be escaped: \" \\ \n \u001f
        elif c == "/" and rng.random() < 0.5:
            out.append("\\/")
        elif rng.random() < 0.3 or (ascii_only and c > "\x7f"):
            out.append(_escape(c, upper=rng.random() < 0.5))
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def _escape(c: str, upper: bool) -> str:
    """``c`` as \\u escapes: an astral character as its surrogate pair."""
    code = ord(c)
    units = [code]
    if code > 0xFFFF:
        units = [0xD800 + ((code - 0x10000) >> 10), 0xDC00 + ((code - 0x10000) & 0x3FF)]
    return "".join(f"\\u{unit:04X}" if upper else f"\\u{unit:04x}" for unit in units)


def _plain(value: Any) -> bool:
    """Whether the decoder must take this document itself: no lone surrogates, no integer
    past 64 bits, no number text too long for it (it refuses those; they are the Python
    path's to answer)."""
    if isinstance(value, _Object):
        return all(_plain(k) and _plain(v) for k, v in value)
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    if isinstance(value, str) and not isinstance(value, _Number):
        return not any("\ud800" <= c <= "\udfff" for c in value)
    if isinstance(value, _Number):
        number = str(value)
        if any(c in number for c in ".eE"):
            return len(number) <= 200
        return INT64_MIN <= int(number) <= INT64_MAX
    if isinstance(value, int) and not isinstance(value, bool):
        return INT64_MIN <= value <= INT64_MAX
    return True


def _encode(text: str) -> bytes:
    """As UTF-8, a lone surrogate written as its three bytes (the Python path decodes them
    back; the decoder refuses them)."""
    return text.encode("utf-8", "surrogatepass")


@needs_decoder
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    document=_documents,
    rng=st.randoms(use_true_random=False),
    ascii_only=st.booleans(),
    keep_null=st.booleans(),
)
def test_the_decoder_gives_what_the_python_path_gives(
    engines: tuple[LuaEngine, LuaEngine],
    document: Any,
    rng: random.Random,
    ascii_only: bool,
    keep_null: bool,
) -> None:
    body = _encode(_write(document, rng, ascii_only))
    fell_back = _same(engines, body, keep_null)
    if _plain(document):
        assert fell_back == 0, body[:200]  # the decoder answered: the comparison is real


@needs_decoder
@pytest.mark.parametrize("keep_null", [False, True])
def test_nulls_and_empty_tables_keep_their_kinds(engines, keep_null):
    """What json_text shows a script: nulls in arrays stay, in objects go (unless
    keep_null), and an empty table, or an object left empty, is written as what it was."""
    body = (
        b'[{"a": null, "b": [], "c": {}, "d": [null, {}], "e": {"x": null}},'
        b' {"k": null, "k": 1}, {"k": 1, "k": null}, [], {}, null, -0.0, 1, 1.0, 1e2]'
    )
    assert _same(engines, body, keep_null) == 0
    native_engine = engines[0]
    with native_engine.unbounded_memory():
        table, size = native_engine._page(_Page(body), keep_null)
    assert size == 10
    texts = [native_engine.json_text(table[i], strict=False, pretty=False) for i in (1, 2, 3)]
    if keep_null:
        assert texts[0] == '{"a":null,"b":[],"c":{},"d":[null,{}],"e":{"x":null}}'
        assert texts[1:] == ['{"k":1}', '{"k":null}']
    else:
        assert texts[0] == '{"b":[],"c":{},"d":[null,{}],"e":{}}'
        assert texts[1:] == ['{"k":1}', "{}"]
    assert [native_engine._kinds[table[i]] for i in (4, 5)] == [b"array", b"object"]
    assert [table[i] for i in (7, 8, 9, 10)] == [-0.0, 1, 1.0, 100.0]
    assert [type(table[i]) for i in (8, 9, 10)] == [int, float, float]


@needs_decoder
@pytest.mark.parametrize(
    "body",
    [
        b"[9223372036854775807, -9223372036854775808, 0, -0]",
        b"[9223372036854775808]",
        b"[-9223372036854775809]",
        b"[18446744073709551616, 1" + b"0" * 30 + b"]",
        b"[1e308, 1.7976931348623157e308, 1e309, -1e400, 5e-324, 1e-400, 1E+2, 2.50e-3]",
        b"[0." + b"1" * 198 + b"]",  # 200 characters: the decoder's longest float
        b"[0." + b"1" * 298 + b"]",  # past it: the Python path's
        b"[1" + b"0" * 9999 + b"]",  # past Python's int text limit: its error
        b"[NaN, Infinity, -Infinity]",
        b'{"a": NaN}',
    ],
)
def test_numbers_at_and_past_the_edges(engines, body):
    _same(engines, body)


# Hostile bodies ------------------------------------------------------------------------------

HOSTILE = [
    b"",
    b"   ",
    b"[1] x",
    b"[1]]",
    b"{}{}",
    b"[1]\x00",
    b"[1,]",
    b'{"a":1,}',
    b"[01]",
    b"[-]",
    b"[1.]",
    b"[.5]",
    b"[+1]",
    b"[tru]",
    b"[nul]",
    b"[" * 100_000,
    b"[" * 100_000 + b"]" * 100_000,
    b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
    b"[" * MAX_DEPTH + b"]" * MAX_DEPTH,
    b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1),
    b'{"a":' * MAX_DEPTH + b"1" + b"}" * MAX_DEPTH,
    b'["\xff"]',
    b'["\x80"]',
    b'["\xe2\x82"]',
    b'["\xe2\x82"',
    b'["\xf5\x80\x80\x80"]',
    b'["\xf4\x90\x80\x80"]',
    b'["\xc0\xaf"]',
    b'["\xc1\xbf"]',
    b'["\xe0\x80\xaf"]',
    b'["\xf0\x80\x80\xaf"]',
    b'["\xed\xa0\x80"]',
    b'["\xed\xbf\xbf"]',
    b'{"\xed\xa0\x80": 1}',
    b'["\xed\xa0\xbd\xed\xb8\x80"]',  # a pair encoded as two surrogates (CESU-8)
    b'["\\ud800"]',
    b'["\\udc80"]',
    b'["\\udcff"]',
    b'["\\ud800x"]',
    b'["\\ud800\\u0041"]',
    b'["\\ud800\\ud800\\udc00"]',
    b'["\\ud83d\\ude00", "\\uD83D\\uDE00"]',
    b'{"\\udc80": 1}',
    b'["\\u12"]',
    b'["\\u12g4"]',
    b'["\\x41"]',
    b'["\\',
    b'["\\"]',
    b'"\\u0000\\u001f\\u007f"',
    b"\xef\xbb\xbf[1]",
    b"\xef\xbb\xbf",
    b"\xff\xfe[\x001\x00]\x00",
    b"[\x001\x00]\x00",
    b'["a\x00b"]',
    b'["\x1f"]',
    b'["\n"]',
    b'["\t"]',
    b'["\x7f"]',
    b"[1,\x00 2]",
    b"[1,\x0b2]",
    b"[1,\xa02]",
]


@needs_decoder
@pytest.mark.parametrize("body", HOSTILE, ids=lambda body: repr(body[:24]))
def test_hostile_bodies_give_what_the_python_path_gives(engines, body):
    _same(engines, body)


@needs_decoder
def test_a_page_cut_anywhere_gives_what_the_python_path_gives(engines):
    body = json.dumps([{"n": -12, "x": 1.5e-3, "s": "é\\😀\n", "a": [True, None, {}]}]).encode()
    for end in range(len(body) + 1):
        _same(engines, body[:end])


@needs_decoder
@pytest.mark.parametrize("escaped", [False, True])
def test_a_string_of_megabytes(engines, escaped):
    text = ("é\n" if escaped else "xy") * 1_500_000
    body = json.dumps([text, {"k": text}], ensure_ascii=False).encode()
    assert _same(engines, body) == 0


_VALID = json.dumps(
    [
        {"id": 1, "state": "passed", "tags": [], "meta": {}, "n": None, "f": -0.5e10},
        {"id": 9223372036854775807, "msg": "caf\u00e9 \U0001f600 \\/\t", "ok": False},
    ]
).encode()


@needs_decoder
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    edits=st.lists(
        st.tuples(st.integers(0, len(_VALID)), st.integers(0, 255), st.sampled_from("sid")),
        min_size=1,
        max_size=4,
    )
)
def test_a_page_with_bytes_changed_gives_what_the_python_path_gives(engines, edits):
    body = bytearray(_VALID)
    for at, byte, how in edits:
        at = min(at, len(body) - 1)
        if how == "s":  # set
            body[at] = byte
        elif how == "i":  # insert
            body.insert(at, byte)
        elif len(body) > 1:  # delete
            del body[at]
    _same(engines, bytes(body))


# Memory --------------------------------------------------------------------------------------


@needs_decoder
def test_a_page_past_the_memory_limit_is_refused_under_the_cap():
    """A short text of many tables: the decoder builds them under the run's cap and stops
    at it; the Python path then reads the page (the decoder could not know the text was
    all JSON) and refuses it by its count, before building anything."""
    engine = _engine(True, memory=8 * MIB)
    body = b"[" + b"[]," * 1_000_000 + b"{}]"  # 3 MB of text, ~60 MB of tables
    page = _Page(body)
    with pytest.raises(TooLarge, match="not enough memory"), engine.unbounded_memory():
        engine._page(page)
    assert page.reads == 1
    assert engine.memory_used <= engine.limits.memory_bytes
    engine.collect_garbage()
    assert _outcome(engine, b'[{"after": []}]')[0][0] == "value"  # the state is still sound


@needs_decoder
def test_a_page_whose_text_is_past_the_memory_left_is_the_python_paths():
    """The decoder holds the text in Lua while it reads it: a text bigger than the room
    left goes to the Python path (which refuses it by its count, before building), and
    never past the cap (lupa would abort the process making that string under it)."""
    engine = _engine(True, memory=8 * MIB)
    body = json.dumps([{"text": "x" * 100, "n": i} for i in range(100_000)]).encode()
    assert len(body) > 8 * MIB
    page = _Page(body)
    with pytest.raises(TooLarge, match="not enough memory"), engine.unbounded_memory():
        engine._page(page)
    assert page.reads == 1
    assert engine.memory_used <= engine.limits.memory_bytes


# Built and used ------------------------------------------------------------------------------


def test_the_decoder_is_built_where_a_compiler_is():
    """CI has gcc: there this proves the optional extension was built (setup.py)."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler here: the install skips the optional decoder")
    path = native.library_path()
    assert path is not None, (
        f"{compiler} is here, but no {native.LIBRARY} was built next to native.py: the "
        "optional extension failed to compile (see pip's output), or this checkout was never "
        "installed: run `python setup.py build_ext --inplace` in it"
    )


@needs_decoder
def test_a_plain_page_never_takes_the_python_path():
    engine = _engine(True)
    body = json.dumps([{"n": i, "name": f"build {i}", "tags": []} for i in range(300)]).encode()
    found, reads = _outcome(engine, body)
    assert found[:2] == ("value", 300)
    assert reads == 0


def test_the_switch_turns_the_decoder_off(monkeypatch):
    monkeypatch.setenv(native.SWITCH, "0")
    engine = LuaEngine(Limits(), emit=lambda line: None, dispatch=_no_calls)
    found, reads = _outcome(engine, b'[{"n": 1}]')
    assert found[:2] == ("value", 1)
    assert reads == 1


# End to end ----------------------------------------------------------------------------------

LISTING = """\
local builds = app.integrations.buildkite.list_builds{
  organization = "acme-inc", all_pages = true, per_page = 2}
return builds, json.encode(builds)
"""


@pytest.fixture
def served() -> Iterator[None]:
    with configured_emulator("bkua_decoder_SECRET_token_0123"):
        yield


@pytest.mark.usefixtures("served")
def test_a_listing_through_the_cli_is_the_same_either_way(monkeypatch):
    """The emulator's builds, a page of 2 at a time: the script gets the same with the
    decoder as without it (the run's worker is forked with the switch as set)."""
    results = {}
    for switch in ("0", "1"):
        monkeypatch.setenv(native.SWITCH, switch)
        done = CliRunner().invoke(main, ["integrations:lua", "-e", LISTING, "--json"])
        assert done.exit_code == 0, done.output
        envelope = json.loads(done.stdout)
        assert envelope["success"], envelope["error"]
        assert envelope["integration_calls"][0]["response"]["pages"] > 1
        results[switch] = envelope["result"]
    assert results["0"] == results["1"]
    builds, text = results["1"]
    assert len(builds) > 2
    assert json.loads(text) == builds


FULL = """\
local keep = {}
while 2 * 1024 * 1024 - collectgarbage("count") * 1024 > 30000 do
  keep[#keep + 1] = string.rep("x", 4000) .. #keep
end
return #app.integrations.buildkite.list_builds{
  organization = "acme-inc", all_pages = true, per_page = 40}
"""


@pytest.mark.usefixtures("served")
def test_a_page_past_the_memory_left_ends_the_run_at_the_memory_limit():
    """Memory all but full, then a page of builds whose text alone is past the room left:
    the run ends at the memory limit (the decoder once had lupa make that text as a Lua
    string under the cap, outside a protected call: the worker hung or aborted)."""
    done = CliRunner().invoke(
        main,
        ["integrations:lua", "-e", FULL, "--json", "--memory-limit", "2M", "--timeout", "20"],
    )
    envelope = json.loads(done.stdout)
    assert envelope["meta"].get("limit") == "memory", envelope["error"]
    call = envelope["integration_calls"][0]
    assert (call["http_status"], call["error"]) == (200, "not enough memory")
