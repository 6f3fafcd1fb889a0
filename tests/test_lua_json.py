"""json.* as scripts use it (the codec itself is tested in test_jsonlib.py)."""

from __future__ import annotations

import json


def test_round_trip_keeps_empty_arrays_and_objects(lua):
    result = lua("""return json.encode(json.decode('{"a":[],"b":{}}'), {pretty = false})""")
    assert result.result == ['{"a":[],"b":{}}']


def test_encode_is_pretty_by_default_with_unescaped_slashes_and_unicode(lua):
    result = lua('return json.encode({url = "https://x/y", name = "café"})')
    assert result.result == ['{\n    "name": "café",\n    "url": "https://x/y"\n}']


def test_integers_stay_integers_and_2_53_is_exact(lua):
    result = lua("return json.encode({1, 2.0, 2^53, 9007199254740993}, {pretty = false})")
    assert result.result == ["[1,2,9007199254740992,9007199254740993]"]
    decoded = lua("local v = json.decode('[9007199254740993]') return math.type(v[1]), v[1]")
    assert decoded.result == ["integer", 9007199254740993]


def test_decode_of_a_non_string_is_a_clear_error(lua):
    result = lua("return json.decode(5)")
    assert result.error.endswith("json.decode: expected a string, got number")


def test_decode_of_invalid_json_says_where(lua):
    result = lua("""return json.decode('{"a": }')""")
    assert "json.decode: invalid JSON at line 1, column 7" in result.error


def test_non_finite_numbers_cannot_be_encoded(lua):
    assert "non-finite" in lua("return json.encode({x = 1/0})").error


def test_invalid_utf8_cannot_be_encoded(lua):
    assert "not valid UTF-8" in lua(r'return json.encode("\xff")').error


def test_functions_and_cycles_cannot_be_encoded(lua):
    assert "cannot convert a function" in lua("return json.encode({f = print})").error
    assert "contains itself" in lua("local t = {} t.t = t return json.encode(t)").error
    assert lua("return json.encode(print)").error.endswith("cannot convert a function to JSON")


def test_null_sentinel(lua):
    result = lua(
        """
        local arr = json.decode('[1, null, 3]')
        local obj = json.decode('{"a": null, "b": 1}')
        local kept = json.decode('{"a": null}', {keep_null = true})
        return arr[2] == json.null, #arr, obj.a == nil, kept.a == json.null,
               json.encode({a = json.null}, {pretty = false}), tostring(json.null)
        """
    )
    assert result.result == [True, 3, True, True, '{"a":null}', "null"]


def test_array_and_object_tags_for_empty_tables(lua):
    result = lua(
        "return json.encode({list = json.array(), map = json.object(), plain = {}},"
        " {pretty = false})"
    )
    assert result.result == ['{"list":[],"map":{},"plain":[]}']


def test_options_must_be_a_table(lua):
    assert "options must be a table" in lua("return json.encode({}, 'compact')").error


def test_keys_that_collide_in_json_are_an_error_not_a_lost_value(lua):
    """1 and "1" both become the JSON key "1": encoding refuses; print keeps both."""
    result = lua('local text = json.encode({[1] = "a", ["1"] = "b"})')
    assert not result.success
    assert result.error == (
        'test:1: json.encode: cannot convert a table to JSON: two of its keys (1 and "1", say)'
        ' both become the key "1"'
    )
    printed = lua('print({[1] = "a", ["1"] = "b"})')
    assert json.loads("\n".join(printed.output)) == {"1": "a", '"1"': "b"}


def test_tables_of_every_key_kind_encode_in_one_order(lua):
    """Keys 1..n make an array, wherever Lua keeps them; other keys are sorted as JSON text,
    numbers and booleans by their text."""
    result = lua(
        r"""
        local compact = {pretty = false}
        return json.encode({"a", "b", [3] = "c"}, compact),
          json.encode({[10] = 1, [2] = 2, b = 3, [1.5] = 4, [true] = 5, [2^53] = 6}, compact),
          json.encode({[1] = "a", [3] = "c"}, compact), json.encode({"\u{2028}é", "x"}, compact)
        """
    )
    assert result.result == [
        '["a","b","c"]',
        '{"1.5":4,"10":1,"2":2,"9007199254740992":6,"b":3,"true":5}',
        '{"1":"a","3":"c"}',
        '["\\u2028é","x"]',
    ]


def test_an_object_whose_entries_were_all_dropped_nulls_stays_an_object(lua):
    """json.decode drops nulls from objects; what is left is an empty object, not an array."""
    result = lua(
        """
        local t = json.decode('{"a": null, "b": {"c": null}, "d": [{"e": null}]}')
        print(json.decode('{"a": null}'))
        return json.encode(json.decode('{"a": null}')), json.encode(t, {pretty = false}),
          json.decode('{"a": null}')
        """
    )
    assert result.result == ["{}", '{"b":{},"d":[{}]}', {}]
    assert result.output == ["{}"]


def test_keys_1_to_n_stored_out_of_order_are_an_array_in_key_order(lua):
    """Where Lua keeps the keys (a constructor's explicit keys go to the hash part, in its
    order) does not matter."""
    result = lua(
        """
        local t = {[3] = "c", [1] = "a", [2] = "b"}
        print(t)
        return json.encode(t, {pretty = false}),
          json.encode({x = {[4] = 4, [2] = 2, [3] = 3, [1] = 1}}, {pretty = false}), t
        """
    )
    assert result.result == ['["a","b","c"]', '{"x":[1,2,3,4]}', ["a", "b", "c"]]
    assert result.output == ['[\n    "a",\n    "b",\n    "c"\n]']


def test_errors_come_in_the_order_entries_are_converted(lua):
    """Keys are converted numbers first (by value), then by text; the first failure in that
    order is the error, though the text is written in its own order (keys sorted as text)."""
    result = lua(
        """
        local function fails(v)
          local ok, err = pcall(json.encode, v)
          return (string.gsub(err, "^.-json%.encode: ", ""))
        end
        local t = {[10] = print}
        t[9] = t
        return fails({a = 1/0, b = print}), fails(t), fails({[1] = print, ["1"] = 2}),
          fails({b = {1/0}, a = "\\255"})
        """
    )
    assert result.result == [
        "cannot convert a function to JSON",
        "cannot convert a table that contains itself to JSON",
        "cannot convert a function to JSON",
        "string is not valid UTF-8 (byte offset 0)",
    ]


def test_json_null_stays_null_when_tagged_as_an_array_or_object(lua):
    result = lua(
        "return json.encode(json.array(json.null)), json.encode({json.object(json.null)},"
        " {pretty = false}), json.array(json.null) == json.null"
    )
    assert result.result == ["null", "[null]", True]
