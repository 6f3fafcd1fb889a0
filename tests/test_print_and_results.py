"""print, dump, return values and errors as a script sees them and the envelope reports them."""

from __future__ import annotations

import json

from conftest import ENVELOPE_KEYS


def test_print_joins_values_with_tabs(lua):
    result = lua('print("a", 1, 2.5, true, nil, "z")')
    assert result.output == ["a\t1\t2.5\ttrue\tnil\tz"]


def test_print_of_a_table_is_valid_pretty_json_with_sorted_keys(lua):
    result = lua("print({b = 1, a = {3, 2, 1}, c = {x = {}}})")
    text = "\n".join(result.output)
    assert json.loads(text) == {"a": [3, 2, 1], "b": 1, "c": {"x": []}}
    assert text.startswith('{\n    "a": [\n        3,')
    assert text.index('"a"') < text.index('"b"') < text.index('"c"')


def test_print_marks_cycles_and_functions_instead_of_hanging(lua):
    result = lua("local t = {name = 'loop', f = print} t.self = t print(t)")
    assert json.loads("\n".join(result.output)) == {
        "f": "<function>",
        "name": "loop",
        "self": "<cycle>",
    }


def test_print_uses_tostring_metamethods(lua):
    result = lua("print(setmetatable({}, {__tostring = function() return 'custom' end}))")
    assert result.output == ["custom"]


def test_dump_prints_and_returns_its_argument(lua):
    result = lua("local t = dump({1, 2}) return #t")
    assert json.loads("\n".join(result.output)) == [1, 2]
    assert result.result == [2]


def test_return_values_become_the_result_array(lua):
    assert lua('return 1, "a"').result == [1, "a"]
    assert lua("local x = 1").result == []
    assert lua("return nil, 2").result == [None, 2]
    assert lua("return {a = {}, list = {1, 2}}").result == [{"a": [], "list": [1, 2]}]


def test_integral_floats_are_integers_in_results(lua):
    assert lua("return 3 / 1, 0.5, 2^53").result == [3, 0.5, 2**53]


def test_json_decoded_kinds_survive_in_results(lua):
    assert lua("""return json.decode('{"a": [], "b": {}}')""").result == [{"a": [], "b": {}}]


def test_a_runtime_error_fails_the_run_with_position(lua):
    result = lua('local x = 1\nerror("boom")')
    assert not result.success
    assert result.error == "test:2: boom"
    assert result.result is None
    assert result.envelope()["result"] is None


def test_a_syntax_error_fails_the_run(lua):
    result = lua("return +")
    assert not result.success
    assert "unexpected symbol" in result.error


def test_error_with_a_table_reports_it_as_json(lua):
    assert lua("error({code = 7})").error == '{"code": 7}'


def test_error_with_tostring_uses_it(lua):
    result = lua("error(setmetatable({}, {__tostring = function() return 'nice' end}))")
    assert result.error == "nice"


def test_errors_are_catchable_with_pcall(lua):
    result = lua("local ok, err = pcall(error, 'x', 0) return ok, err")
    assert result.result == [False, "x"]


def test_unknown_app_function_suggests_close_names(lua):
    result = lua("return app.integrations.buildkite.get_bild({})")
    assert not result.success
    assert result.error == (
        "Unknown function: app.integrations.buildkite.get_bild. Did you mean: get_build"
    )


def test_unknown_namespace_is_an_unknown_function(lua):
    result = lua("return app.nothing.here()")
    assert result.error == "Unknown function: app.nothing.here"


def test_unknown_function_on_a_named_account(lua):
    result = lua("return app.integrations.buildkite.work.lst_builds{}")
    assert result.error.endswith("Did you mean: list_builds")


def test_envelope_has_every_contract_key(lua):
    envelope = lua("print('hi') return 1").envelope()
    assert list(envelope) == ENVELOPE_KEYS
    assert envelope["output"] == "hi"
    assert envelope["memory_usage"] > 0
    assert envelope["execution_time_ms"] > 0
    assert envelope["meta"] == {"permission_bypassed": False}


def test_output_of_invalid_utf8_is_still_valid_text(lua):
    result = lua(r'print("caf\xff")')
    assert result.output == ["caf\ufffd"]
