import time

import pytest

from kosmo_lua.runtime import regexlib
from kosmo_lua.runtime.regexlib import RegexError, compile_pattern, gsub, match, match_all


@pytest.mark.parametrize(
    "pattern",
    [
        "/(\\d+)/",
        "#(\\d+)#",
        "~(\\d+)~",
        "!(\\d+)!",
        "@(\\d+)@",
        "%(\\d+)%",
        "|(\\d+)|",
        "((\\d+))",
        "{(\\d+)}",
        "[(\\d+)]",
        "<(\\d+)>",
        "  /(\\d+)/",
    ],
)
def test_delimiters(pattern):
    assert match("abc 42 x", pattern) == {0: "42", 1: "42"}


def test_escaped_delimiter_and_nested_brackets():
    assert match("a/b", "/a\\/b/")[0] == "a/b"
    assert match("xaby", "{a{1}b}")[0] == "ab"


def test_undelimited_pattern_used_as_is():
    assert match("abc 42", "\\d+")[0] == "42"
    assert match("abc", "b")[0] == "b"


def test_flag_i():
    assert match("ABC", "/abc/") is None
    assert match("ABC", "/abc/i")[0] == "ABC"
    assert match("ABC", "/abc/", "i")[0] == "ABC"


def test_flag_m():
    assert match("a\nb", "/^b$/") is None
    assert match("a\nb", "/^b$/m")[0] == "b"


def test_flag_s():
    assert match("a\nb", "/a.b/") is None
    assert match("a\nb", "/a.b/s")[0] == "a\nb"


def test_flag_x():
    assert match("ab", "/a b # comment/") is None
    assert match("ab", "/a b # comment/x")[0] == "ab"


def test_flag_u_makes_classes_unicode():
    assert match("héllo", "/\\w+/")[0] == "h"
    assert match("héllo", "/\\w+/u")[0] == "héllo"


def test_dollar_matches_before_final_newline():
    assert match("abc\n", "/c$/")[0] == "c"


def test_unknown_modifier():
    with pytest.raises(RegexError, match=r"^regex: unknown modifier 'Q'"):
        compile_pattern("/a/Q")
    with pytest.raises(RegexError, match="unknown modifier 'z'"):
        match("a", "/a/", "z")


def test_missing_end_delimiter():
    with pytest.raises(RegexError, match=r"^regex: no ending delimiter '/'"):
        match("a", "/abc")
    with pytest.raises(RegexError, match="matching delimiter '\\)'"):
        match("a", "(abc")


def test_invalid_pattern_names_pattern():
    with pytest.raises(RegexError) as exc:
        match("a", "/(abc/")
    assert str(exc.value).startswith("regex: invalid pattern '/(abc/': ")


def test_empty_pattern():
    with pytest.raises(RegexError, match=r"^regex: empty pattern"):
        match("a", "")


def test_compile_is_cached():
    assert compile_pattern("/x+/i") is compile_pattern("/x+/i")


def test_captures_numbered_and_named():
    caps = match("2024-05", "/(?<year>\\d{4})-(\\d\\d)/")
    assert caps == {0: "2024-05", 1: "2024", 2: "05", "year": "2024"}
    assert match("k=v", "/(?P<k>\\w)=(?P<v>\\w)/")["v"] == "v"


def test_unmatched_group_is_empty_string():
    assert match("ac", "/a(b)?(c)/") == {0: "ac", 1: "", 2: "c"}
    assert match("a", "/a(?<x>b)?/") == {0: "a", 1: "", "x": ""}


def test_no_match_is_none():
    assert match("abc", "/\\d/") is None


def test_match_all_pattern_order():
    result = match_all("a1 b2 c", "/(?<l>[a-z])(\\d)?/")
    assert result == {
        0: ["a1", "b2", "c"],
        1: ["a", "b", "c"],
        2: ["1", "2", ""],
        "l": ["a", "b", "c"],
    }


def test_match_all_no_match_is_empty():
    assert match_all("abc", "/\\d/") == {}


def test_gsub_references():
    s = "john smith"
    pat = "/(?<first>\\w+) (\\w+)/"
    assert gsub(s, pat, "$2, $1") == ("smith, john", 1)
    assert gsub(s, pat, "${2}x ${1}") == ("smithx john", 1)
    assert gsub(s, pat, "${first}!") == ("john!", 1)
    assert gsub(s, pat, "\\2 \\1") == ("smith john", 1)
    assert gsub(s, pat, "<$0>") == ("<john smith>", 1)


def test_gsub_literal_dollars_and_escapes():
    assert gsub("a", "/a/", "$x $ ${y") == ("$x $ ${y", 1)
    assert gsub("a", "/(a)/", "\\$1 \\\\1 \\x") == ("$1 \\1 \\x", 1)


def test_gsub_missing_group_is_empty():
    assert gsub("ab", "/(a)/", "[$5][${nope}][$12]") == ("[][][]b", 1)


def test_gsub_count_and_limit():
    assert gsub("a a a", "/a/", "b") == ("b b b", 3)
    assert gsub("a a a", "/a/", "b", 2) == ("b b a", 2)
    assert gsub("a a a", "/a/", "b", None) == ("b b b", 3)
    assert gsub("a a a", "/a/", "b", 0) == ("a a a", 0)
    assert gsub("abc", "/x/", "y") == ("abc", 0)


@pytest.mark.parametrize("limit", [-2, 1.5, "1", True])
def test_gsub_bad_limit(limit):
    with pytest.raises(RegexError, match=r"^regex: limit"):
        gsub("a", "/a/", "b", limit)


def test_gsub_empty_matches_like_pcre():
    assert gsub("abxd", "/x*/", "-") == ("-a-b--d-", 5)


def test_gsub_callable():
    seen = []

    def repl(caps):
        seen.append(caps)
        return caps["n"].upper() + caps[2]

    assert gsub("ab cd", "/(?<n>\\w)(\\w)/", repl) == ("Ab Cd", 2)
    assert seen[0] == {0: "ab", 1: "a", 2: "b", "n": "a"}


def test_gsub_callable_must_return_string():
    with pytest.raises(RegexError, match="must return a string"):
        gsub("a", "/a/", lambda caps: 1)


def test_catastrophic_pattern_times_out():
    # The regex module defuses the textbook /(a+)+$/ quickly (no match); either way it is bounded.
    start = time.monotonic()
    assert match("a" * 50 + "b", "/(a+)+$/", timeout=0.2) is None
    assert time.monotonic() - start < 2

    start = time.monotonic()
    with pytest.raises(RegexError) as exc:
        match("a" * 50 + "b", "/(a|aa)+$/", timeout=0.2)
    assert time.monotonic() - start < 2
    assert str(exc.value) == (
        "regex: pattern '/(a|aa)+$/' took longer than 0.2 s (catastrophic backtracking?)"
    )
    with pytest.raises(RegexError, match="took longer"):
        gsub("a" * 50 + "b", "/(a|aa)+$/", "x", timeout=0.2)


def test_default_timeout(monkeypatch):
    monkeypatch.setattr(regexlib, "TIMEOUT_SECONDS", 0.1)
    with pytest.raises(RegexError, match=r"took longer than 0\.1 s"):
        match_all("a" * 50 + "b", "/(a|aa)+$/")


def test_surrogateescape_subject():
    subject = b"ok \xff\xfe 12".decode("utf-8", errors="surrogateescape")
    assert match(subject, "/\\d+/")[0] == "12"
    assert match(subject, "/ok (.+) /")[1] == "\udcff\udcfe"
    new, n = gsub(subject, "/\\d+/", "<$0>")
    assert n == 1
    assert new.encode("utf-8", errors="surrogateescape") == b"ok \xff\xfe <12>"
    assert match_all(subject, "/./u")[0][3] == "\udcff"


def test_a_line_prefix_lets_anchors_match_after_it_and_leaves_classes_and_escapes():
    compiled = regexlib.compile_pattern(r"/^a[^b]\^/m", "", line_prefix="#+")
    assert compiled.search("##ac^") and compiled.search("ac^")
    assert not compiled.search("##ab^") and not compiled.search("x##ac^")
