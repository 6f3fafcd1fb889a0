"""Raw helpers can only ever reach the account's base URL: hostile paths are refused unsent."""

from __future__ import annotations

import pytest
import respx
from hostile import HOSTILE_PATHS as HOSTILE

from kosmo_lua.catalog import Catalog
from kosmo_lua.config import Config
from kosmo_lua.errors import ArgumentError, HostError
from kosmo_lua.integrations import load
from kosmo_lua.invoker import Invoker
from kosmo_lua.rest import MAX_PATH_LENGTH, safe_path

UNUSED_URL = "http://127.0.0.1:9/v2"


@pytest.mark.parametrize("path", HOSTILE)
def test_hostile_path_is_refused(path):
    with pytest.raises(ArgumentError, match=r"Refused API path|non-empty relative API path"):
        safe_path(path)


def test_a_path_past_the_bound_is_an_argument_error_that_names_the_bound(kosmo_home, lua):
    config = Config.load(kosmo_home)  # nothing listens there: a request would fail otherwise
    config.set_account("buildkite", "default", {"access_token": "t0ken", "url": UNUSED_URL})
    config.save()
    result = lua(
        "return app.integrations.buildkite.api_get('/' .. string.rep('a', 5000))",
    )
    assert not result.success
    assert result.error_info["kind"] == "argument"
    assert f"more than {MAX_PATH_LENGTH}" in result.error
    assert safe_path("/" + "a" * (MAX_PATH_LENGTH - 1)).endswith("a")


@pytest.mark.parametrize("helper", ["api_get", "api_post", "api_put", "api_patch", "api_delete"])
@pytest.mark.parametrize("path", HOSTILE[:12])
def test_raw_helpers_send_nothing_for_hostile_paths(kosmo_home, helper, path):
    invoker = Invoker(
        Catalog(load()),
        Config.load(kosmo_home),
        force=True,
        report=lambda *_: None,
        environ={"BUILDKITE_API_TOKEN": "t0ken"},
    )
    with respx.mock(assert_all_mocked=False) as mock, pytest.raises(HostError):
        invoker(f"app.integrations.buildkite.{helper}", [path])
    assert mock.calls.call_count == 0


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/organizations/acme-inc", "/organizations/acme-inc"),
        ("organizations/acme-inc", "/organizations/acme-inc"),
        (
            "/organizations/acme-inc/builds?state=failed&page=2",
            "/organizations/acme-inc/builds?state=failed&page=2",
        ),
        ("/organizations/acme%20inc", "/organizations/acme%20inc"),
        ("/user?email=a@b.example", "/user?email=a@b.example"),
        ("/jobs/0193a-b_c~d/log.txt", "/jobs/0193a-b_c~d/log.txt"),
        ("/a;v=1/b:c/d,e/f+g/h!i/$j/k'l(m)*n=o&p", "/a;v=1/b:c/d,e/f+g/h!i/$j/k'l(m)*n=o&p"),
        ("/x/.hidden/a..b/..c", "/x/.hidden/a..b/..c"),
        ("/caf%C3%A9/%F0%9F%9A%80", "/caf%C3%A9/%F0%9F%9A%80"),
    ],
)
def test_ordinary_paths_pass(path, expected):
    assert safe_path(path) == expected
