"""One widget as an HTML card: the function templates call as `render_widget(w)`.

It runs inside the render processes, under their budget (README, "Render budget"); its input
is the widget as the template context holds it. Stored data that no longer fits its type (a
widget written before its type was checked) renders as a card saying why, never as an error
of the whole page.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

import orjson
from jinja2 import Undefined
from jinja2.exceptions import SecurityError
from markupsafe import Markup
from markupsafe import escape as markup_escape

from dyndash_common.widgets.charts import bar_chart, gauge, pie_chart, sparkline, xy_chart
from dyndash_common.widgets.markdown import markdown_html
from dyndash_common.widgets.numbers import formatted
from dyndash_common.widgets.schemas import WidgetDataError, check_config, check_data
from dyndash_common.widgets.table import table

# Grid cells (of 12 columns, rows of the layout's row height) a type takes by default.
DEFAULT_SIZES = {
    "stat": (3, 1),
    "gauge": (3, 2),
    "pie": (3, 2),
    "donut": (3, 2),
    "line": (6, 2),
    "area": (6, 2),
    "bar": (6, 2),
    "table": (6, 2),
    "text": (6, 1),
}
GENERIC_SIZE = (4, 2)


def _text(widget: Mapping[str, Any], name: str) -> str:
    """The widget's `name` field as text ("" when absent). Only text and numbers are taken:
    anything else would print its Python repr, memory address included, which templates are
    not allowed to print (README, "Templates")."""
    value = widget.get(name)
    if value is None or isinstance(value, Undefined):
        return ""
    if isinstance(value, str | int | float):
        return str(value)
    what = "a class" if isinstance(value, type) else "a function" if callable(value) else None
    raise SecurityError(
        f"printing {what or f'a {type(value).__name__} object'} (the widget's {name}) is not "
        "allowed; render_widget takes text or a number there"
    )


def _kind(widget: Mapping[str, Any]) -> str:
    return _text(widget, "type") or "generic"


def _title(widget: Mapping[str, Any], default: str) -> str:
    return _text(widget, "title") or _text(widget, "key") or default


def widget_size(widget: Mapping[str, Any]) -> tuple[int, int]:
    default = DEFAULT_SIZES.get(_kind(widget), GENERIC_SIZE)
    config = widget.get("config") or {}
    layout = config.get("layout") if isinstance(config, Mapping) else None
    if not isinstance(layout, Mapping):
        return default
    w, h = layout.get("w", default[0]), layout.get("h", default[1])
    valid = isinstance(w, int) and 1 <= w <= 12 and isinstance(h, int) and 1 <= h <= 8
    return (w, h) if valid else default


def _id(widget: Mapping[str, Any]) -> int:
    # A template may pass a widget of its own making (a preview, a mock-up): no id is 0.
    value = widget.get("id")
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _config(widget: Mapping[str, Any]) -> dict[str, Any]:
    config = widget.get("config")
    return dict(config) if isinstance(config, Mapping) else {}


def _version(widget: Mapping[str, Any]) -> int:
    value = widget.get("data_version")
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _open(widget: Mapping[str, Any], extra_class: str = "", extra: str = "") -> str:
    w, h = widget_size(widget)
    wid = _id(widget)
    kind = escape(_kind(widget))
    return (
        f'<section class="dd-card dd-w{w} dd-h{h} dd-t-{kind}{extra_class}" id="dd-widget-{wid}" '
        f'data-widget-id="{wid}" data-data-version="{_version(widget)}" '
        f'aria-labelledby="dd-title-{wid}"{extra}><h2 class="dd-card-title" id="dd-title-{wid}">'
        f"{escape(_title(widget, ''))}</h2>"
    )


def _stat(title: str, data: dict[str, Any], config: dict[str, Any]) -> str:
    value = formatted(data["value"], config.get("format"), str(config.get("currency", "$")))
    unit = f'<span class="dd-unit">{escape(data["unit"])}</span>' if data.get("unit") else ""
    delta = ""
    if "delta" in data:
        change = data["delta"]
        direction = "up" if change > 0 else "down" if change < 0 else "flat"
        arrow = {"up": "▲", "down": "▼", "flat": "■"}[direction]
        delta = (
            f'<span class="dd-delta dd-{direction}"><span aria-hidden="true">{arrow}</span> '
            f"{escape(f'{change:+,.4g}')}</span>"
        )
    spark = sparkline(title, data.get("series") or [], config)
    return (
        f'<p class="dd-stat"><span class="dd-value">{escape(value)}</span>{unit}</p>{delta}{spark}'
    )


def _body(widget: Mapping[str, Any]) -> str:
    kind = _kind(widget)
    title = _title(widget, "widget")
    data: Any = widget.get("data")
    config = _config(widget)
    if kind == "stat":
        return _stat(title, data, config)
    if kind in ("line", "area"):
        return xy_chart(title, data, config, area=kind == "area")
    if kind == "bar":
        return bar_chart(title, data, config)
    if kind in ("pie", "donut"):
        return pie_chart(title, data, config, donut=kind == "donut")
    if kind == "table":
        return table(title, data, config)
    if kind == "gauge":
        return gauge(title, data, config)
    if kind == "text":
        return f'<div class="dd-markdown">{markdown_html(data["markdown"])}</div>'
    dumped = orjson.dumps(data, option=orjson.OPT_INDENT_2).decode()
    # Escaped as Jinja's autoescape does (`&#34;`), as the fragments were before built-in types.
    return f'<pre class="dd-generic">{markup_escape(dumped)}</pre>'


def render_widget(widget: Mapping[str, Any]) -> Markup:
    """The widget's card: its title and its type's rendering of its data."""
    if not isinstance(widget, Mapping):
        raise TypeError("render_widget takes a widget (an item of `widgets`, or `widget`)")
    try:
        check_config(_config(widget))
        check_data(_kind(widget), widget.get("data"))
        body = _body(widget)
    except WidgetDataError as error:
        body = (
            '<p class="dd-error" role="status">This widget\'s data does not fit its type: '
            f"{escape(str(error))}</p>"
        )
    return Markup(f'{_open(widget)}<div class="dd-body">{body}</div></section>')  # noqa: S704 (escaped above)


def widget_placeholder(widget: Mapping[str, Any]) -> Markup:
    """A card of the widget's size, filled later from its fragment (README, "Priority
    loading"): the space is reserved, so nothing moves when it arrives."""
    wid = _id(widget)
    extra = f' data-fragment="/fragments/widgets/{wid}" aria-busy="true"'
    return Markup(  # noqa: S704 (escaped in _open)
        f'{_open(widget, " dd-placeholder", extra)}<div class="dd-body dd-skeleton">'
        f'<span class="dd-sr">Loading</span></div></section>'
    )
