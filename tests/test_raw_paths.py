"""Raw helpers can only ever reach the account's base URL: hostile paths are refused unsent."""

from __future__ import annotations

import pytest
import respx
from hostile import HOSTILE_PATHS as HOSTILE

from kosmo_lua.catalog import Catalog
from kosmo_lua.config import Config
from kosmo_lua.errors import HostError
from kosmo_lua.integrations import load
from kosmo_lua.invoker import Invoker
from kosmo_lua.rest import safe_path


@pytest.mark.parametrize("path", HOSTILE)
def test_hostile_path_is_refused(path):
    with pytest.raises(HostError, match=r"Refused API path|non-empty relative API path"):
        safe_path(path)


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
    ],
)
def test_ordinary_paths_pass(path, expected):
    assert safe_path(path) == expected
