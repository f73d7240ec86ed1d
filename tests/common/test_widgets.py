"""Built-in widget types: schemas with JSON paths, SVG charts, Markdown sanitising, CSP
additions, and the palette's contrast."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from dyndash.showcase import widgets as showcase_widgets
from dyndash_common.csp import CspError, allows_framing, check_csp, content_security_policy
from dyndash_common.widgets import (
    BUILT_IN_TYPES,
    MAX_POINTS,
    WidgetDataError,
    check_config,
    check_data,
    render_widget,
)
from dyndash_common.widgets.charts import PALETTE

XY = {"x": ["a", "b"], "series": [{"name": "s", "values": [1, None]}]}
VALID: dict[str, Any] = {
    "stat": {"value": 3, "unit": "%", "delta": -1, "series": [1, 2, 3]},
    "line": XY,
    "area": XY,
    "bar": XY,
    "pie": {"slices": [{"label": "a", "value": 1}]},
    "donut": {"slices": [{"label": "a", "value": 1}, {"label": "b", "value": 2}]},
    "table": {"columns": [{"key": "k", "label": "K", "format": "percent"}], "rows": [{"k": 0.5}]},
    "gauge": {"value": 3, "min": 0, "max": 10},
    "text": {"markdown": "**hi**"},
    "generic": {"anything": [1, "two"]},
}


def widget(kind: str, data: Any, **config: Any) -> dict[str, Any]:
    return {
        "id": 7,
        "key": "k",
        "title": "Sales <EMEA>",
        "type": kind,
        "config": config,
        "data": data,
        "data_version": 2,
    }


@pytest.mark.parametrize("kind", BUILT_IN_TYPES)
def test_every_type_accepts_its_schema_and_renders(kind: str) -> None:
    check_data(kind, VALID[kind])
    html = str(render_widget(widget(kind, VALID[kind])))
    assert 'id="dd-widget-7"' in html
    assert 'data-data-version="2"' in html
    assert "Sales &lt;EMEA&gt;" in html
    assert "dd-error" not in html


@pytest.mark.parametrize("kind", ["line", "area", "bar", "pie", "donut", "gauge"])
def test_charts_are_accessible_scalable_svg_with_native_tooltips(kind: str) -> None:
    html = str(render_widget(widget(kind, VALID[kind])))
    svg = re.search(r"<svg class=\"dd-chart\"[^>]*>", html)
    assert svg is not None
    assert 'role="img"' in svg[0]
    assert 'aria-label="Sales &lt;EMEA&gt;' in svg[0]
    assert 'viewBox="0 0 ' in svg[0]
    assert "<title>" in html


@pytest.mark.parametrize(
    ("kind", "data", "path"),
    [
        ("stat", {"value": "3"}, "data.value"),
        ("stat", {"value": 1, "extra": 1}, "data.extra"),
        (
            "line",
            {"x": [1, 2], "series": [{"name": "a", "values": [1, "x"]}]},
            "data.series[0].values[1]",
        ),
        ("line", {"x": [1, 2], "series": [{"name": "a", "values": [1]}]}, "data.series[0].values"),
        ("bar", {"x": [1], "series": [{"values": [1]}]}, "data.series[0].name"),
        ("pie", {"slices": [{"label": "a", "value": -1}]}, "data.slices[0].value"),
        (
            "table",
            {"columns": [{"key": "a", "label": "A", "format": "roman"}], "rows": []},
            "data.columns[0].format",
        ),
        ("table", {"columns": [], "rows": [1]}, "data.rows[0]"),
        ("gauge", {"value": 1, "min": 5, "max": 5}, "data.max"),
        ("text", {"markdown": 3}, "data.markdown"),
        ("text", [], "data"),
        ("custom-kind", {"a": [1.0, float("nan")]}, "data.a[1]"),
        ("generic", {"a": float("inf")}, "data.a"),
    ],
)
def test_bad_data_names_its_json_path(kind: str, data: Any, path: str) -> None:
    with pytest.raises(WidgetDataError) as raised:
        check_data(kind, data)
    assert raised.value.path == path


def test_a_huge_series_is_refused_by_the_documented_limit() -> None:
    data = {"x": list(range(100_000)), "series": [{"name": "a", "values": [1] * 100_000}]}
    with pytest.raises(WidgetDataError, match=f"limit is {MAX_POINTS}"):
        check_data("line", data)


def test_config_options_are_checked() -> None:
    check_config({"layout": {"w": 12, "h": 8}, "colors": ["#112233"], "stacked": True})
    cases: list[tuple[dict[str, Any], str]] = [
        ({"layout": {"w": 13}}, "config.layout.w"),
        ({"colors": ["red"]}, "config.colors[0]"),
        ({"horizontal": "yes"}, "config.horizontal"),
        ({"format": "hex"}, "config.format"),
    ]
    for config, path in cases:
        with pytest.raises(WidgetDataError) as raised:
            check_config(config)
        assert raised.value.path == path


def test_markdown_is_sanitised() -> None:
    source = (
        '<img src="x.png" onerror="alert(1)"> <script>alert(2)</script> '
        '[a](javascript:alert(3)) <a href="javascript:alert(4)">b</a> '
        '<p onclick="x()" style="color:red">c</p> [ok](https://example.com)'
    )
    html = str(render_widget(widget("text", {"markdown": source})))
    for forbidden in ("onerror", "<script", "alert(2)", 'href="javascript', "onclick", "style="):
        assert forbidden not in html
    assert '<img src="x.png">' in html
    assert 'href="https://example.com"' in html


def test_stored_data_that_no_longer_fits_renders_a_card_saying_why() -> None:
    html = str(render_widget(widget("gauge", {"value": 1})))
    assert "dd-error" in html
    assert "data.min" in html


def test_bar_options_and_gaps_render() -> None:
    data = {
        "x": ["a", "b"],
        "series": [{"name": "s", "values": [1, -2]}, {"name": "t", "values": [None, 3]}],
    }
    for config in (
        {},
        {"stacked": True},
        {"horizontal": True},
        {"stacked": True, "horizontal": True},
    ):
        html = str(render_widget(widget("bar", data, **config)))
        assert html.count("<rect class=") == 3


def _luminance(colour: str) -> float:
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _contrast(a: str, b: str) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_palette_passes_wcag_aa() -> None:
    from dyndash_common.widgets import layout

    css = layout.STYLESHEET
    light = dict(re.findall(r"--dd-(\w+):(#[0-9a-f]{6})", css.split("@media")[0]))
    dark = dict(re.findall(r"--dd-(\w+):(#[0-9a-f]{6})", css.split("prefers-color-scheme:dark")[1]))
    for scheme in (light, dark):
        for text in ("text", "muted", "up", "down"):
            for background in ("card", "bg"):
                assert _contrast(scheme[text], scheme[background]) >= 4.5, (text, background)
    # Series colours are graphics (WCAG 1.4.11): 3:1 against their card.
    for colour in PALETTE:
        assert _contrast(colour, light["card"]) >= 3, colour
    for colour in re.findall(r"\.dd-s\d+\{stroke:(#[0-9a-f]{6})\}", css):
        assert _contrast(colour, dark["card"]) >= 3, colour


def test_csp_additions_are_validated() -> None:
    ok = {
        "script-src": ["https://cdn.example.com", "'self'"],
        "frame-ancestors": ["https://a.b:8443", "http://localhost:3000", "http://127.0.0.1"],
    }
    assert check_csp(ok) == ok
    for bad, path in [
        ({"default-src": ["https://a.com"]}, "csp.default-src"),
        ({"script-src": ["https://a.com/path"]}, "csp.script-src[0]"),
        ({"script-src": ["https://*.a.com"]}, "csp.script-src[0]"),
        ({"script-src": ["*"]}, "csp.script-src[0]"),
        ({"script-src": ["https:"]}, "csp.script-src[0]"),
        ({"script-src": ["http://example.com"]}, "csp.script-src[0]"),
        ({"script-src": ["'unsafe-inline'"]}, "csp.script-src[0]"),
        ({"script-src": ["https://a.com'"]}, "csp.script-src[0]"),
        ({"img-src": ["https://a.com:99999"]}, "csp.img-src[0]"),
        ({"img-src": "https://a.com"}, "csp.img-src"),
    ]:
        with pytest.raises(CspError) as raised:
            check_csp(bad)
        assert raised.value.path == path


def test_default_policy_is_unchanged_and_additions_widen_it() -> None:
    strict = content_security_policy("n")
    assert strict == (
        "default-src 'self'; script-src 'self' 'nonce-n'; style-src 'self' 'nonce-n'; "
        "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; "
        "form-action 'self'; frame-ancestors 'none'"
    )
    assert not allows_framing(strict)
    wide = content_security_policy(
        "n",
        {"script-src": ["https://cdn.example.com"]},
        {
            "frame-ancestors": ["https://intra.example.com"],
            "font-src": ["https://fonts.example.com"],
        },
    )
    assert "script-src 'self' 'nonce-n' https://cdn.example.com;" in wide
    assert "font-src 'self' https://fonts.example.com;" in wide
    assert wide.endswith("frame-ancestors https://intra.example.com")
    assert allows_framing(wide)


def test_every_demo_widget_fits_its_type() -> None:
    kinds = set()
    for item in showcase_widgets(0) + showcase_widgets(5):
        check_config(item["config"])
        check_data(item["type"], item["data"])
        kinds.add(item["type"])
    assert kinds == set(BUILT_IN_TYPES)


def test_a_500_point_chart_renders_quickly_and_small() -> None:
    xs = list(range(500))
    data = {
        "x": xs,
        "series": [{"name": f"s{i}", "values": [float(x % 37) for x in xs]} for i in range(3)],
    }
    started = time.perf_counter()
    html = str(render_widget(widget("line", data)))
    assert time.perf_counter() - started < 0.5
    assert len(html) < 60_000


def test_dyndash_csp_setting_is_json_checked_like_a_route(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    from dyndash_common.settings import Settings

    monkeypatch.setenv("DYNDASH_CSP", '{"script-src": ["https://cdn.example.com"]}')
    assert Settings().csp == {"script-src": ["https://cdn.example.com"]}
    for bad in ('{"script-src": ["https://cdn.example.com/x.js"]}', "not json", '{"sandbox": []}'):
        monkeypatch.setenv("DYNDASH_CSP", bad)
        with pytest.raises(ValidationError, match="DYNDASH_CSP"):
            Settings()
