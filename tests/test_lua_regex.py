"""regex.* as scripts use it (the matcher itself is tested in test_regexlib.py)."""

from __future__ import annotations

import time


def test_match_returns_captures_with_whole_match_at_zero(lua):
    result = lua(
        'local m = regex.match("build 42 failed", "/build (?<num>\\\\d+) (\\\\w+)/")'
        " return m[0], m[1], m.num, m[2]"
    )
    assert result.result == ["build 42 failed", "42", "42", "failed"]


def test_match_returns_nil_without_a_match(lua):
    assert lua('return regex.match("abc", "/\\\\d/") == nil').result == [True]


def test_flags_in_the_pattern_and_as_an_argument(lua):
    result = lua('return regex.match("ABC", "/abc/i")[0], regex.match("ABC", "/abc/", "i")[0]')
    assert result.result == ["ABC", "ABC"]


def test_match_all_is_in_pattern_order(lua):
    result = lua('local m = regex.match_all("a1 b2", "/(\\\\w)(\\\\d)/") return m[0], m[1], m[2]')
    assert result.result == [["a1", "b2"], ["a", "b"], ["1", "2"]]
    assert lua('return regex.match_all("abc", "/\\\\d/")').result == [[]]


def test_gsub_with_backreferences_names_and_limit(lua):
    result = lua('return regex.gsub("a-b-c", "/(?<x>\\\\w)/", "[$1${x}]")')
    assert result.result == ["[aa]-[bb]-[cc]", 3]
    assert lua('return regex.gsub("a-b-c", "/-/", "+", 1)').result == ["a+b-c", 1]


def test_gsub_with_a_function(lua):
    result = lua('return regex.gsub("1 2 3", "/\\\\d/", function(m) return m[0] * 2 end)')
    assert result.result == ["2 4 6", 3]


def test_catastrophic_pattern_is_stopped_by_a_time_bound(lua):
    started = time.monotonic()
    result = lua('return regex.match(string.rep("a", 50) .. "b", "/(a|aa)+$/")')
    assert "catastrophic backtracking" in result.error
    assert time.monotonic() - started < 5


def test_invalid_pattern_names_the_pattern(lua):
    result = lua('return regex.match("x", "/(unclosed/")')
    assert "regex: invalid pattern '/(unclosed/'" in result.error


def test_bad_arguments_are_clear_errors(lua):
    assert "subject must be a string, got nil" in lua('return regex.match(nil, "/x/")').error
    assert "pattern must be a string, got number" in lua('return regex.match("x", 5)').error


def test_an_error_in_a_replacement_function_keeps_its_text(lua):
    """Found by review: lupa drops a table error's value; the prelude now makes its text
    (JSON for a plain table, __tostring's under the script's limits)."""
    code = """
    local _, plain = pcall(regex.gsub, "a", "/a/", function() error({code = 5}) end)
    local _, named = pcall(regex.gsub, "a", "/a/", function()
      error(setmetatable({}, {__tostring = function() return "custom" end}))
    end)
    return plain, named
    """
    result = lua(code)
    assert result.result == [
        'test:2: regex.gsub: the replacement function failed: {"code": 5}',
        "test:3: regex.gsub: the replacement function failed: custom",
    ]
