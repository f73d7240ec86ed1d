"""The data schemas of the built-in widget types, checked on every write (README, "Widgets").

`check_data` refuses the first thing that does not fit, naming its JSON path
(`data.series[0].values[3]`), so an admin can find it in a large document. Every type,
built-in or custom, refuses non-finite numbers: JSON has no such values and PostgreSQL's
`jsonb` refuses them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

BUILT_IN_TYPES = (
    "stat",
    "line",
    "area",
    "bar",
    "pie",
    "donut",
    "table",
    "gauge",
    "text",
    "generic",
)
# Documented limits: past them a chart is unreadable and its SVG too big to send.
MAX_POINTS = 5_000
MAX_SERIES = 12
MAX_SLICES = 50
MAX_COLUMNS = 30
MAX_ROWS = 1_000
MAX_MARKDOWN_CHARS = 50_000
MAX_NESTED_VALUES = 200_000
# The largest magnitude a chart number may have: the charts subtract and add them (a range, a
# stack of 12 series, a pie of 50 slices), and past this bound a sum or difference of finite
# numbers can overflow to infinity and draw NaN coordinates (README, "Widgets").
MAX_CHART_NUMBER = 1e300
TABLE_FORMATS = ("number", "percent", "currency", "date")
_COLOUR = re.compile(r"^#[0-9A-Fa-f]{6}$")


class WidgetDataError(ValueError):
    """Data or config that does not fit its widget type; `path` is the JSON path of the first
    offending value."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.reason = message


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _number(value: Any, path: str) -> float:
    if not _is_number(value):
        raise WidgetDataError(path, "must be a number")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if math.isnan(number):
        raise WidgetDataError(path, "must be a finite number (not NaN or Infinity)")
    if not -MAX_CHART_NUMBER <= number <= MAX_CHART_NUMBER:
        raise WidgetDataError(
            path, f"must be between -{MAX_CHART_NUMBER:g} and {MAX_CHART_NUMBER:g} for a chart"
        )
    return number


def _text(value: Any, path: str, max_chars: int = 200) -> str:
    if not isinstance(value, str):
        raise WidgetDataError(path, "must be a string")
    if len(value) > max_chars:
        raise WidgetDataError(path, f"must be at most {max_chars} characters")
    return value


def _object(
    value: Any, path: str, required: tuple[str, ...], optional: tuple[str, ...] = ()
) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise WidgetDataError(path, "must be an object")
    for name in required:
        if name not in value:
            raise WidgetDataError(f"{path}.{name}", "is required")
    for name in value:
        if name not in required and name not in optional:
            allowed = ", ".join((*required, *optional))
            raise WidgetDataError(f"{path}.{name}", f"is not a field of this type ({allowed})")
    return value


def _list(value: Any, path: str, limit: int, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise WidgetDataError(path, "must be an array")
    if len(value) > limit:
        raise WidgetDataError(path, f"has {len(value)} {what}; the limit is {limit}")
    return value


def check_finite(value: Any, path: str = "data") -> None:
    """Refuse NaN and ±Infinity anywhere in `value` (iteratively: depth is not bounded here)."""
    stack: list[tuple[Any, str]] = [(value, path)]
    seen = 0
    while stack:
        item, where = stack.pop()
        seen += 1
        if seen > MAX_NESTED_VALUES:
            raise WidgetDataError(path, f"holds more than {MAX_NESTED_VALUES} values")
        if isinstance(item, float) and not math.isfinite(item):
            raise WidgetDataError(where, "must be a finite number (not NaN or Infinity)")
        if isinstance(item, dict):
            stack.extend((v, f"{where}.{k}") for k, v in item.items())
        elif isinstance(item, list):
            stack.extend((v, f"{where}[{i}]") for i, v in enumerate(item))


def _stat(data: Any) -> None:
    data = _object(data, "data", ("value",), ("unit", "delta", "series"))
    _number(data["value"], "data.value")
    if "unit" in data:
        _text(data["unit"], "data.unit", 20)
    if "delta" in data:
        _number(data["delta"], "data.delta")
    if "series" in data:
        for i, v in enumerate(_list(data["series"], "data.series", MAX_POINTS, "points")):
            _number(v, f"data.series[{i}]")


def _xy(data: Any) -> None:
    data = _object(data, "data", ("x", "series"))
    xs = _list(data["x"], "data.x", MAX_POINTS, "points")
    for i, x in enumerate(xs):
        if not (_is_number(x) or isinstance(x, str)):
            raise WidgetDataError(f"data.x[{i}]", "must be a string or a number")
        if isinstance(x, str):
            _text(x, f"data.x[{i}]", 100)
    series = _list(data["series"], "data.series", MAX_SERIES, "series")
    for s, item in enumerate(series):
        where = f"data.series[{s}]"
        item = _object(item, where, ("name", "values"))
        _text(item["name"], f"{where}.name", 100)
        values = _list(item["values"], f"{where}.values", MAX_POINTS, "points")
        if len(values) != len(xs):
            raise WidgetDataError(
                f"{where}.values", f"has {len(values)} values for {len(xs)} x positions"
            )
        for i, v in enumerate(values):
            if v is not None:
                _number(v, f"{where}.values[{i}]")


def _slices(data: Any) -> None:
    data = _object(data, "data", ("slices",))
    for i, item in enumerate(_list(data["slices"], "data.slices", MAX_SLICES, "slices")):
        where = f"data.slices[{i}]"
        item = _object(item, where, ("label", "value"))
        _text(item["label"], f"{where}.label", 100)
        if _number(item["value"], f"{where}.value") < 0:
            raise WidgetDataError(f"{where}.value", "must not be negative")


def _table(data: Any) -> None:
    data = _object(data, "data", ("columns", "rows"))
    columns = _list(data["columns"], "data.columns", MAX_COLUMNS, "columns")
    for i, column in enumerate(columns):
        where = f"data.columns[{i}]"
        column = _object(column, where, ("key", "label"), ("format",))
        _text(column["key"], f"{where}.key", 100)
        _text(column["label"], f"{where}.label", 100)
        if "format" in column and column["format"] not in TABLE_FORMATS:
            raise WidgetDataError(f"{where}.format", f"must be one of {', '.join(TABLE_FORMATS)}")
    for i, row in enumerate(_list(data["rows"], "data.rows", MAX_ROWS, "rows")):
        if not isinstance(row, dict):
            raise WidgetDataError(f"data.rows[{i}]", "must be an object")


def _gauge(data: Any) -> None:
    data = _object(data, "data", ("value", "min", "max"))
    _number(data["value"], "data.value")
    low, high = _number(data["min"], "data.min"), _number(data["max"], "data.max")
    if high <= low:
        raise WidgetDataError("data.max", "must be greater than data.min")


def _text_widget(data: Any) -> None:
    data = _object(data, "data", ("markdown",))
    _text(data["markdown"], "data.markdown", MAX_MARKDOWN_CHARS)


_CHECKS = {
    "stat": _stat,
    "line": _xy,
    "area": _xy,
    "bar": _xy,
    "pie": _slices,
    "donut": _slices,
    "table": _table,
    "gauge": _gauge,
    "text": _text_widget,
}


def check_data(widget_type: str, data: Any) -> None:
    """Raise WidgetDataError when `data` does not fit `widget_type`'s schema. `generic` and
    custom types take any JSON document of finite numbers."""
    check = _CHECKS.get(widget_type)
    if check is not None:
        check(data)
    check_finite(data)


def check_config(config: Mapping[str, Any]) -> None:
    """The options every type shares: `layout` (grid size), `colors`, axis titles, `format`."""
    check_finite(dict(config), "config")
    if "layout" in config:
        layout = _object(config["layout"], "config.layout", (), ("w", "h"))
        for name, high in (("w", 12), ("h", 8)):
            if name in layout:
                value = layout[name]
                if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= high:
                    raise WidgetDataError(
                        f"config.layout.{name}", f"must be an integer 1 to {high}"
                    )
    if "colors" in config:
        for i, colour in enumerate(_list(config["colors"], "config.colors", MAX_SERIES, "colours")):
            if not isinstance(colour, str) or not _COLOUR.fullmatch(colour):
                raise WidgetDataError(f"config.colors[{i}]", "must be a colour like '#1f77b4'")
    for name in ("stacked", "horizontal"):
        if name in config and not isinstance(config[name], bool):
            raise WidgetDataError(f"config.{name}", "must be true or false")
    for name in ("x_title", "y_title", "unit", "currency"):
        if name in config:
            _text(config[name], f"config.{name}", 40)
    if "format" in config and config["format"] not in (*TABLE_FORMATS, "compact"):
        raise WidgetDataError(
            "config.format", f"must be one of {', '.join((*TABLE_FORMATS, 'compact'))}"
        )
