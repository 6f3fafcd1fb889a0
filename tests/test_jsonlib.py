from __future__ import annotations

from pathlib import Path

import pytest

from kosmo_lua.runtime.jsonlib import MAX_DEPTH, JsonError, decode, encode

# Vendored from nst/JSONTestSuite (MIT): see tests/data/JSONTestSuite/README.md.
SUITE = Path(__file__).parent / "data" / "JSONTestSuite" / "test_parsing"
SUITE_FILES = sorted(SUITE.glob("*.json"))


def _suite(prefix: str) -> list:
    return [pytest.param(p, id=p.name) for p in SUITE_FILES if p.name.startswith(prefix)]


def test_the_vendored_suite_is_complete() -> None:
    """An empty glob would turn every case below into zero tests, silently."""
    counts = {prefix: len(_suite(prefix)) for prefix in ("y_", "n_", "i_")}
    assert counts == {"y_": 95, "n_": 188, "i_": 35}


# --------------------------------------------------------------------------- JSONTestSuite


@pytest.mark.parametrize("path", _suite("y_"))
def test_suite_accepts(path: Path) -> None:
    decode(path.read_bytes())


@pytest.mark.parametrize("path", _suite("n_"))
def test_suite_rejects(path: Path) -> None:
    with pytest.raises(JsonError) as exc:
        decode(path.read_bytes())
    assert str(exc.value).startswith("json.decode: ")


@pytest.mark.parametrize("path", _suite("i_"))
def test_suite_implementation_defined_never_crashes(path: Path) -> None:
    try:
        decode(path.read_bytes())
    except JsonError as e:
        assert str(e).startswith("json.decode: ")


# --------------------------------------------------------------------------- decode


def test_decode_basic_types() -> None:
    assert decode(b'{"a": [1, 2.5, "x", true, false, null]}') == {
        "a": [1, 2.5, "x", True, False, None]
    }
    assert decode(" \t\r\n7 \n") == 7


def test_decode_duplicate_keys_last_wins() -> None:
    assert decode('{"a": 1, "a": 2}') == {"a": 2}


def test_decode_large_integers_exact() -> None:
    assert decode(str(2**53 + 1)) == 2**53 + 1
    big = decode("123456789012345678901234567890")
    assert isinstance(big, int)
    assert big == 123456789012345678901234567890


def test_decode_invalid_utf8_names_offset() -> None:
    with pytest.raises(JsonError, match=r"^json\.decode: invalid UTF-8 at byte offset 5$"):
        decode(b'["abc\xff"]')


def test_decode_rejects_bom() -> None:
    for data in (b"\xef\xbb\xbf{}", "\ufeff{}"):
        with pytest.raises(JsonError, match="BOM"):
            decode(data)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "[NaN]", '{"a": Infinity}'])
def test_decode_rejects_non_finite_literals(literal: str) -> None:
    with pytest.raises(JsonError):
        decode(literal)


@pytest.mark.parametrize("ws", ["\f", "\v", "\u00a0", "\u2028", "\u3000"])
def test_decode_rejects_non_json_whitespace(ws: str) -> None:
    with pytest.raises(JsonError):
        decode(f"[1,{ws}2]")
    with pytest.raises(JsonError):
        decode(f"{ws}1")


def test_decode_error_carries_position() -> None:
    with pytest.raises(JsonError) as exc:
        decode("[1, ]")
    assert str(exc.value) == (
        "json.decode: invalid JSON at line 1, column 5 (char 4): Expecting value"
    )
    with pytest.raises(JsonError, match=r"line 2, column 7 \(char 8\): Expecting ':' delimiter"):
        decode('{\n  "a" 1}')


def test_decode_depth_limit() -> None:
    ok = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    value = decode(ok)
    for _ in range(MAX_DEPTH - 1):
        value = value[0]
    assert value == []
    for too_deep in ("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), "[" * 100_000, '{"a":' * 600):
        with pytest.raises(JsonError, match=r"^json\.decode: nesting deeper than 512 levels$"):
            decode(too_deep)


def test_decode_depth_ignores_brackets_in_strings() -> None:
    assert decode('["' + "[" * 1000 + '\\"{"]') == ["[" * 1000 + '"{']


def test_decode_rejects_lone_surrogate_escape() -> None:
    with pytest.raises(JsonError, match="surrogate"):
        decode('["\\ud800"]')
    assert decode('"\\ud834\\udd1e"') == "\U0001d11e"


def test_decode_rejects_float_overflow() -> None:
    with pytest.raises(JsonError, match="out of range"):
        decode("1e999")


# --------------------------------------------------------------------------- encode


def test_encode_round_trip_empty_containers() -> None:
    text = encode({"a": [], "b": {}})
    assert text == '{\n    "a": [],\n    "b": {}\n}'
    assert decode(text) == {"a": [], "b": {}}
    assert encode({"a": [], "b": {}}, pretty=False) == '{"a":[],"b":{}}'


def test_encode_pretty_exact() -> None:
    value = {"name": "x", "list": [1, {"k": None}, [True, False]], "n": 1.5}
    assert encode(value) == (
        "{\n"
        '    "list": [\n'
        "        1,\n"
        "        {\n"
        '            "k": null\n'
        "        },\n"
        "        [\n"
        "            true,\n"
        "            false\n"
        "        ]\n"
        "    ],\n"
        '    "n": 1.5,\n'
        '    "name": "x"\n'
        "}"
    )


def test_encode_compact() -> None:
    assert encode({"b": [1, 2], "a": 1}, pretty=False) == '{"a":1,"b":[1,2]}'
    assert encode([], pretty=False) == "[]"
    assert encode("s", pretty=False) == '"s"'


def test_encode_sorts_keys_and_stringifies_int_keys() -> None:
    assert encode({"z": 1, "a": 2, "m": 3}, pretty=False) == '{"a":2,"m":3,"z":1}'
    assert encode({2: "b", 1: "a"}, pretty=False) == '{"1":"a","2":"b"}'
    with pytest.raises(JsonError, match="duplicate"):
        encode({1: "a", "1": "b"})


def test_encode_numbers() -> None:
    assert encode(3.0) == "3"
    assert encode(-0.0) == "0"
    assert encode(float(2**53)) == str(2**53)
    assert encode(float(2**54)) == "1.8014398509481984e+16"
    assert encode(2**53) == "9007199254740992"
    assert encode(2**63 - 1) == "9223372036854775807"
    assert encode(0.1) == "0.1"
    assert encode(1e-7) == "1e-07"
    assert decode(encode(2**53 + 1)) == 2**53 + 1


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan"), [float("inf")]])
def test_encode_rejects_non_finite(value: object) -> None:
    with pytest.raises(JsonError, match=r"^json\.encode: cannot encode non-finite number"):
        encode(value)


def test_encode_non_finite_message() -> None:
    with pytest.raises(JsonError) as exc:
        encode(float("inf"))
    assert str(exc.value) == "json.encode: cannot encode non-finite number (inf)"


def test_encode_slashes_and_unicode_unescaped() -> None:
    assert encode("a/b é ☃ \U0001d11e") == '"a/b é ☃ \U0001d11e"'
    assert encode('q"\\\n\t\x01') == '"q\\"\\\\\\n\\t\\u0001"'
    assert encode("\u2028") == '"\\u2028"'  # PHP escapes JS line terminators too


def test_encode_bytes() -> None:
    assert encode(b"caf\xc3\xa9") == '"café"'
    assert encode({b"k": b"v"}, pretty=False) == '{"k":"v"}'
    with pytest.raises(JsonError) as exc:
        encode([b"ab\xffc"])
    assert str(exc.value) == "json.encode: string is not valid UTF-8 (byte offset 2)"


def test_encode_rejects_lone_surrogate() -> None:
    with pytest.raises(JsonError, match=r"^json\.encode: .*surrogate"):
        encode("a\ud800")


def test_encode_depth_limit() -> None:
    value: list = []
    for _ in range(MAX_DEPTH - 1):
        value = [value]
    assert encode(value, pretty=False) == "[" * MAX_DEPTH + "]" * MAX_DEPTH
    with pytest.raises(JsonError, match=r"^json\.encode: nesting deeper than 512 levels$"):
        encode([value])
    cyclic: list = []
    cyclic.append(cyclic)
    with pytest.raises(JsonError, match="nesting deeper"):
        encode(cyclic)


@pytest.mark.parametrize("value", [object(), {1, 2}, {1.5: "x"}, {True: 1}, {None: 1}])
def test_encode_rejects_other_types(value: object) -> None:
    with pytest.raises(JsonError, match=r"^json\.encode: .*(object|set|float|bool|NoneType)"):
        encode(value)


def test_encode_decode_round_trip() -> None:
    value = {"a": [1, 2.5, "x/y", None, True, {"é": []}], "b": {"c": {}}, "big": 2**53}
    for pretty in (True, False):
        assert decode(encode(value, pretty=pretty)) == value


def test_encode_keys_of_mixed_kinds_still_collide_and_sort() -> None:
    with pytest.raises(JsonError, match="duplicate object key 'a'"):
        encode({"a": 1, b"a": 2})
    assert encode({"b": 1, b"a": 2, 3: 3}, pretty=False) == '{"3":3,"a":2,"b":1}'
    assert encode({"b": {"x": 1}, "a": {"y": 2}}, pretty=False) == '{"a":{"y":2},"b":{"x":1}}'
    assert encode(("t", "é\u2029"), pretty=False) == '["t","é\\u2029"]'
    with pytest.raises(JsonError, match="lone surrogate"):
        encode({"é\udc80": 1})
