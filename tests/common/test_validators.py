"""Validators refuse a value with a trailing newline: Python's `$` matches before one, so every
check uses fullmatch (README, "Security: what is enforced where")."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from dyndash_common.csp import CspError, check_csp
from dyndash_common.settings import Settings
from dyndash_common.site.state import RouteInfo, RouteTable
from dyndash_common.widgets.schemas import WidgetDataError, check_config


def test_an_origin_with_a_trailing_newline_is_refused() -> None:
    assert check_csp({"script-src": ["https://cdn.example.com"]}) == {
        "script-src": ["https://cdn.example.com"]
    }
    for origin in ("https://cdn.example.com\n", "'self'\n", "http://localhost:8080\n"):
        with pytest.raises(CspError) as refused:
            check_csp({"script-src": [origin]})
        assert refused.value.path == "csp.script-src[0]"


def test_dyndash_csp_with_a_trailing_newline_stops_the_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DYNDASH_CSP", '{"frame-ancestors": ["https://intranet.example.com\\n"]}')
    with pytest.raises(ValidationError, match=r"DYNDASH_CSP\.frame-ancestors\[0\]: must be an"):
        Settings()


def test_a_colour_with_a_trailing_newline_is_refused() -> None:
    check_config({"colors": ["#ffffff"]})
    with pytest.raises(WidgetDataError) as refused:
        check_config({"colors": ["#ffffff", "#ffffff\n"]})
    assert refused.value.path == "config.colors[1]"


def _route(path: str) -> RouteInfo:
    return RouteInfo(
        id=1,
        path=path,
        version=1,
        template_id=1,
        dashboard_id=None,
        context={},
        query_params=(),
        cache_ttl=0,
        auth="public",
    )


def test_a_route_pattern_does_not_match_a_path_with_a_trailing_newline() -> None:
    table = RouteTable.build([_route("/sales/{region}/summary")])
    matched = table.match("/sales/north/summary")
    assert matched is not None
    assert matched[1] == {"region": "north"}
    assert table.match("/sales/north/summary\n") is None
