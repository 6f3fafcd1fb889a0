"""Job logs in bounded memory: tails from suffix ranges, heads and searches that stop early,
sizes from HEAD; first at the HTTP seam (respx), then against the emulator's big logs."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import respx
from helpers import envelope_of

from kosmo_lua.catalog import Catalog
from kosmo_lua.config import Config
from kosmo_lua.emulation import load_app, serve
from kosmo_lua.errors import ArgumentError, LimitExceeded
from kosmo_lua.integrations import load
from kosmo_lua.integrations.buildkite.emulator.logs import SyntheticLog
from kosmo_lua.invoker import Invoker

BASE = "https://api.buildkite.com/v2"
LOG = f"{BASE}/organizations/acme-inc/pipelines/web/builds/1/jobs/j/log"
JOB = {"organization": "acme-inc", "pipeline": "web", "number": 1, "job_id": "j"}


def _invoke(kosmo_home: Any, name: str, memory: int = 32 << 20, **args: Any) -> Any:
    invoker = Invoker(
        Catalog(load()),
        Config.load(kosmo_home),
        report=lambda kind, value: None,
        environ={"BUILDKITE_API_TOKEN": "bkua_unit"},
        max_body_bytes=memory,
    )
    return invoker.invoke(f"app.integrations.buildkite.{name}", [{**JOB, **args}])[0]


def _log(lines: int) -> bytes:
    return b"".join(b"\x1b_bk;t=1700000000000\x07line %d\n" % i for i in range(1, lines + 1))


def _ranged(log: bytes, asked: list[str]) -> Callable[[httpx.Request], httpx.Response]:
    """A server of ``log`` that honours suffix ranges, recording each one asked."""

    def answer(request: httpx.Request) -> httpx.Response:
        wanted = request.headers.get("Range", "")
        asked.append(wanted)
        if not wanted:
            return httpx.Response(200, content=log)
        if not log:
            return httpx.Response(416, json={"message": "The job log is empty"})
        start = max(len(log) - int(wanted.removeprefix("bytes=-")), 0)
        headers = {"Content-Range": f"bytes {start}-{len(log) - 1}/{len(log)}"}
        return httpx.Response(206, content=log[start:], headers=headers)

    return answer


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as mock:
        yield mock


def test_tail_asks_for_the_end_only_and_strips_the_markers(kosmo_home, api) -> None:
    asked: list[str] = []
    route = api.get(LOG).mock(side_effect=_ranged(_log(100_000), asked))
    text = _invoke(kosmo_home, "get_job_log", tail=3, strip_ansi=True)
    assert text == "line 99998\nline 99999\nline 100000"
    assert asked == ["bytes=-65536"]
    assert route.calls.last.request.headers["Accept"] == "text/plain"


def test_tail_grows_its_range_until_the_lines_are_there(kosmo_home, api) -> None:
    asked: list[str] = []
    api.get(LOG).mock(side_effect=_ranged(_log(100_000), asked))
    text = _invoke(kosmo_home, "get_job_log", tail=5000)
    lines = text.split("\n")
    assert len(lines) == 5000 and lines[-1].endswith("line 100000")
    assert lines[0].endswith("line 95001")  # whole, though the range began mid-line
    assert asked == ["bytes=-1280000"]  # 5000 lines x 256 bytes: enough at once
    asked.clear()
    _invoke(kosmo_home, "get_job_log", tail=2000, memory=64 << 20)
    assert asked == ["bytes=-512000"]


def test_tail_of_a_short_log_is_the_whole_log(kosmo_home, api) -> None:
    api.get(LOG).mock(side_effect=_ranged(_log(3), []))
    assert _invoke(kosmo_home, "get_job_log", tail=10, strip_ansi=True) == "line 1\nline 2\nline 3"


def test_tail_of_an_empty_log_is_empty(kosmo_home, api) -> None:
    api.get(LOG).mock(side_effect=_ranged(b"", []))
    assert _invoke(kosmo_home, "get_job_log", tail=10) == ""


def test_tail_from_a_server_without_ranges_keeps_only_the_last_lines(kosmo_home, api) -> None:
    api.get(LOG).respond(200, content=_log(50))
    assert _invoke(kosmo_home, "get_job_log", tail=2, strip_ansi=True) == "line 49\nline 50"


def test_tail_longer_than_the_memory_limit_is_refused(kosmo_home, api) -> None:
    one_line = b"x" * (3 << 20) + b"\n" + b"y\n"
    api.get(LOG).mock(side_effect=_ranged(one_line, []))
    with pytest.raises(LimitExceeded, match="the last 2 lines of the log are longer than 2 MiB"):
        _invoke(kosmo_home, "get_job_log", tail=2, memory=2 << 20)


def test_head_returns_the_first_lines(kosmo_home, api) -> None:
    api.get(LOG).respond(200, content=_log(1000))
    assert _invoke(kosmo_home, "get_job_log", head=2, strip_ansi=True) == "line 1\nline 2"


def test_tail_and_head_together_are_refused_before_sending(kosmo_home, api) -> None:
    route = api.get(LOG).respond(200, content=b"")
    with pytest.raises(ArgumentError, match="give tail or head, not both"):
        _invoke(kosmo_home, "get_job_log", tail=1, head=1)
    assert not route.called


def test_search_returns_matches_with_their_context(kosmo_home, api) -> None:
    log = b"ok 1\nok 2\n\x1b[31mFAIL\x1b[0m test_a\nok 3\nerror: boom\nok 4\n"
    api.get(LOG).respond(200, content=log)
    hits = _invoke(
        kosmo_home, "search_job_log", pattern="/^fail|error/", ignore_case=True, context=1
    )
    assert hits == [
        {"line": 3, "text": "FAIL test_a", "before": ["ok 2"], "after": ["ok 3"]},
        {"line": 5, "text": "error: boom", "before": ["ok 3"], "after": ["ok 4"]},
    ]


def test_search_without_context_stops_at_the_limit(kosmo_home, api) -> None:
    api.get(LOG).respond(200, content=_log(10_000))
    hits = _invoke(kosmo_home, "search_job_log", pattern="/line \\d*7$/", limit=3)
    assert [(h["line"], h["text"]) for h in hits] == [
        (7, "line 7"),
        (17, "line 17"),
        (27, "line 27"),
    ]


def test_a_bad_pattern_is_refused_before_sending(kosmo_home, api) -> None:
    route = api.get(LOG).respond(200, content=b"")
    with pytest.raises(ArgumentError, match="regex: invalid pattern"):
        _invoke(kosmo_home, "search_job_log", pattern="/(/")
    assert not route.called


def test_log_info_is_a_head_request(kosmo_home, api) -> None:
    route = api.head(LOG).respond(200, headers={"Content-Length": "1073741824"})
    assert _invoke(kosmo_home, "get_job_log_info") == {"bytes": 1 << 30}
    assert route.called


# The emulator's big logs, end to end -------------------------------------------------------

BIG = 200 << 20  # bytes: far past the run's memory limit


@pytest.fixture
def big_log_run(kosmo_home: Any, tmp_path: Any) -> Iterator[Callable[[str], dict[str, Any]]]:
    """``run(code)`` against a served emulator whose build 1 of `big` has a 200 MiB job
    log, under a 16 MiB memory limit."""
    data = {
        "organizations": [
            {
                "slug": "acme-inc",
                "pipelines": [
                    {
                        "name": "Big",
                        "repository": "git@github.com:acme-inc/big.git",
                        "steps": [{"key": "test", "command": "make test"}],
                        "builds": [
                            {
                                "state": "failed",
                                "jobs": [{"step": "test", "state": "failed", "log_bytes": BIG}],
                            }
                        ],
                    }
                ],
            }
        ]
    }
    path = tmp_path / "big.json"
    path.write_text(json.dumps(data))
    emulator = load_app(load()[0], str(path))
    with serve(emulator) as running:
        envelope_of(
            "integrations:configure",
            "buildkite",
            "--set",
            f"url={running.base_url}",
            "--set",
            f"access_token={emulator.token}",
            "--json",
        )

        def run(code: str) -> dict[str, Any]:
            prelude = (
                "local bk = app.integrations.buildkite\n"
                'local b = bk.get_build("acme-inc", "big", 1)\n'
                'local job = {organization = "acme-inc", pipeline = "big", number = 1,'
                " job_id = b.jobs[1].id}\n"
                "local function with(extra) for k, v in pairs(job) do extra[k] = v end"
                " return extra end\n"
            )
            return envelope_of(
                "integrations:lua", "--json", "--memory-limit", "16M", "-e", prelude + code
            )[1]

        yield run


def test_the_tail_of_a_log_bigger_than_memory_costs_only_its_lines(big_log_run) -> None:
    envelope = big_log_run("return bk.get_job_log(with{tail = 3, strip_ansi = true})")
    assert envelope["success"], envelope["error"]
    assert envelope["result"][0].split("\n") == [
        "FAIL tests/test_payments.py::test_refund_rounding - AssertionError: 9.99 != 10.0",
        "🚨 Error: The command exited with status 1",
        "^^^ +++",
    ]
    assert envelope["integration_calls"][-1]["requests"] == 1


def test_the_whole_of_such_a_log_is_refused_at_the_memory_limit(big_log_run) -> None:
    envelope = big_log_run('return #bk.get_job_log(with{format = "text"})')
    assert not envelope["success"]
    assert "larger than 16 MiB" in envelope["error"]


def test_search_and_size_of_a_log_bigger_than_memory(big_log_run) -> None:
    envelope = big_log_run(
        "local info = bk.get_job_log_info(job)\n"
        'local hits, meta = bk.search_job_log(with{pattern = "/^FAIL /", with_meta = true})\n'
        "return info.bytes, #hits, hits[1].line, meta.lines_read, meta.truncated"
    )
    assert envelope["success"], envelope["error"]
    size, count, line, read, truncated = envelope["result"]
    assert size == SyntheticLog(BIG).size
    assert count == 1 and line == read - 2 and truncated is False


def _endless(piece: bytes) -> httpx.Response:
    """A reply whose body never ends: a hostile or broken server."""

    def body() -> Iterator[bytes]:
        while True:
            yield piece

    return httpx.Response(200, stream=_Stream(body()))


class _Stream(httpx.SyncByteStream):
    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks

    def __iter__(self) -> Iterator[bytes]:
        return self._chunks


@pytest.mark.parametrize(
    ("name", "args", "problem"),
    [
        ("search_job_log", {"pattern": "/x/"}, "a line of the log is longer than 2 MiB"),
        ("get_job_log", {"head": 1}, "the first 1 lines of the log are longer than 2 MiB"),
        ("get_job_log", {"tail": 1}, "the last 1 lines of the log are longer than 2 MiB"),
    ],
)
def test_an_endless_line_stops_at_the_memory_limit(kosmo_home, api, name, args, problem) -> None:
    api.get(LOG).mock(side_effect=lambda request: _endless(b"y" * 65536))
    with pytest.raises(LimitExceeded, match=problem):
        _invoke(kosmo_home, name, memory=2 << 20, **args)


def test_a_pattern_that_needs_unicode_searches_decoded_text(kosmo_home, api) -> None:
    """ASCII patterns run on the bytes; others (here a "u" modifier and an emoji) on text,
    with the same line numbers and context."""
    log = "ok\n\x1b[31m🚨 Error: exit 1\x1b[0m\nÄrger\nend\n".encode()
    api.get(LOG).respond(200, content=log)
    for pattern in ("/🚨 error/iu", "/^ärger$/iu"):
        hits = _invoke(kosmo_home, "search_job_log", pattern=pattern, context=1)
        assert len(hits) == 1, pattern
    hits = _invoke(kosmo_home, "search_job_log", pattern="/🚨/", context=1)
    assert hits == [{"line": 2, "text": "🚨 Error: exit 1", "before": ["ok"], "after": ["Ärger"]}]


def test_a_hostile_log_is_stripped_in_time_in_proportion_to_its_size(kosmo_home, api) -> None:
    # An OSC sequence ("ESC ]") never ended by BEL: the pattern read on to the log's end
    # from each of them, quadratic in the log (~7 s for 200 KB, hours for 10 MB).
    import time

    hostile = b"\x1b]0;title\x07" + b"\x1b]" * 100_000 + b"done\n"
    api.get(LOG).mock(return_value=httpx.Response(200, content=hostile))
    started = time.process_time()
    text = _invoke(kosmo_home, "get_job_log", format="text", strip_ansi=True)
    assert time.process_time() - started < 2
    assert text.startswith("\x1b]\x1b]") and text.endswith("done\n")
