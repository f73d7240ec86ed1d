"""Charts and extreme numbers and labels: a number too large for the chart math is refused
with its JSON path, on write and when rendered, and axis labels are cut before they are
escaped (README, "Widgets")."""

from __future__ import annotations

import re
from typing import Any

import pytest

from dyndash_common.widgets import render_widget
from dyndash_common.widgets.schemas import WidgetDataError, check_data
from tests.conftest import Api

HUGE = 1e308
# What a broken chart prints: coordinates of NaN or infinity.
BROKEN = re.compile(r"nan|inf", re.IGNORECASE)
# Every `&` in escaped text starts a whole entity.
SPLIT_ENTITY = re.compile(r"&(?!(?:amp|lt|gt|quot|#x27|#39|#34);)")


def _xy(values: list[float]) -> dict[str, Any]:
    return {"x": list(range(len(values))), "series": [{"name": "s", "values": values}]}


EXTREMES = [
    ("stat", {"value": 1, "series": [HUGE, -HUGE, 0]}, "data.series[0]"),
    ("stat", {"value": -HUGE}, "data.value"),
    ("gauge", {"value": 1, "min": -HUGE, "max": HUGE}, "data.min"),
    ("line", _xy([1, -HUGE, HUGE]), "data.series[0].values[1]"),
    ("area", _xy([HUGE, 0]), "data.series[0].values[0]"),
    ("bar", _xy([HUGE, -HUGE]), "data.series[0].values[0]"),
    ("pie", {"slices": [{"label": "a", "value": HUGE}, {"label": "b", "value": HUGE}]}, None),
]


@pytest.mark.parametrize(("kind", "data", "path"), EXTREMES)
def test_a_number_past_the_chart_bound_is_refused_with_its_path(
    kind: str, data: dict[str, Any], path: str | None
) -> None:
    with pytest.raises(WidgetDataError) as refused:
        check_data(kind, data)
    assert refused.value.path == (path or "data.slices[0].value")
    assert "1e+300" in str(refused.value)


@pytest.mark.parametrize(("kind", "data", "path"), EXTREMES)
def test_stored_extreme_numbers_render_a_card_saying_why(
    kind: str, data: dict[str, Any], path: str | None
) -> None:
    html = str(render_widget({"type": kind, "title": "t", "data": data}))
    assert BROKEN.search(html) is None, html
    assert "does not fit its type" in html


BOUND = 1e300
AT_THE_BOUND = [
    ("stat", {"value": BOUND, "series": [BOUND, -BOUND, 0]}),
    ("line", _xy([BOUND, -BOUND, 0])),
    ("area", _xy([-BOUND, BOUND])),
    ("bar", _xy([BOUND, -BOUND])),
    ("pie", {"slices": [{"label": str(i), "value": BOUND} for i in range(50)]}),
    ("donut", {"slices": [{"label": "a", "value": BOUND}, {"label": "b", "value": 1}]}),
]


@pytest.mark.parametrize(("kind", "data"), AT_THE_BOUND)
def test_numbers_at_the_bound_draw_a_whole_chart(kind: str, data: dict[str, Any]) -> None:
    html = str(render_widget({"type": kind, "title": "t", "data": data}))
    assert "does not fit" not in html
    assert "<svg" in html
    assert BROKEN.search(html) is None, html


def test_stacked_and_horizontal_bars_at_the_bound() -> None:
    data = {
        "x": ["a", "b"],
        "series": [{"name": str(i), "values": [BOUND, -BOUND]} for i in range(12)],
    }
    for config in ({"stacked": True}, {"horizontal": True}, {"stacked": True, "horizontal": True}):
        html = str(render_widget({"type": "bar", "title": "t", "data": data, "config": config}))
        assert "<rect" in html, config
        assert BROKEN.search(html) is None, (config, html)


def test_a_gauge_over_the_widest_range_keeps_its_arc_and_a_short_label() -> None:
    html = str(
        render_widget(
            {"type": "gauge", "title": "t", "data": {"value": 1, "min": -BOUND, "max": BOUND}}
        )
    )
    assert BROKEN.search(html) is None, html
    # The value's arc: half the track, from the left end to the top.
    assert '<path class="dd-s0" d="M15,115 A95.0,95.0 0 0 1 110,20"' in html
    label = re.search(r'aria-label="([^"]*)"', html)
    assert label is not None
    assert len(label[1]) < 80, label[1]


HOSTILE_LABEL = "&<>\"'" * 4


def _texts(html: str) -> list[str]:
    return re.findall(r"<text [^>]*>([^<]*)</text>", html)


@pytest.mark.parametrize(
    ("config", "limit"), [({}, 16), ({"horizontal": True}, 10)], ids=["x-axis", "horizontal"]
)
def test_axis_labels_are_cut_before_they_are_escaped(config: dict[str, Any], limit: int) -> None:
    kind = "bar" if config else "line"
    data = {"x": [HOSTILE_LABEL], "series": [{"name": "s", "values": [1]}]}
    html = str(render_widget({"type": kind, "title": "t", "data": data, "config": config}))
    expected = (
        HOSTILE_LABEL[:limit]
        .replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&#x27;")
    )
    assert expected in _texts(html), _texts(html)
    for text in _texts(html):
        assert SPLIT_ENTITY.search(text) is None, text


async def test_writes_with_a_number_too_large_for_a_chart_are_refused(api: Api) -> None:
    dashboard = await api.create_dashboard()
    widgets = f"/api/v1/dashboards/{dashboard['id']}/widgets"
    response = await api.client.post(
        widgets, json={"key": "s", "type": "stat", "data": {"value": 1, "series": [HUGE, 0]}}
    )
    assert response.status_code == 422, response.text
    assert response.json()["data"]["details"]["field"] == "data.series[0]"
    created = await api.client.post(
        widgets, json={"key": "g", "type": "gauge", "data": {"value": 1, "min": 0, "max": 2}}
    )
    assert created.status_code == 201, created.text
    pushed = await api.client.post(
        f"/api/v1/data/widget/{created.json()['data']['id']}",
        json={"data": {"value": 1, "min": -HUGE, "max": HUGE}},
    )
    assert pushed.status_code == 422, pushed.text
    assert pushed.json()["message"].startswith("data.min"), pushed.text
    listed = (await api.client.get(widgets)).json()["data"]
    assert [w["key"] for w in listed["items"]] == ["g"]
    assert listed["items"][0]["data"] == {"value": 1, "min": 0, "max": 2}
