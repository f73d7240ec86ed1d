"""Built-in widget types: their data schemas, their server-rendered HTML and SVG, and the
built-in dashboard layout (README, "Widgets")."""

from dyndash_common.widgets.layout import LAYOUT_ID, LAYOUT_NAME
from dyndash_common.widgets.render import render_widget, widget_placeholder, widget_size
from dyndash_common.widgets.schemas import (
    BUILT_IN_TYPES,
    MAX_POINTS,
    WidgetDataError,
    check_config,
    check_data,
)

__all__ = [
    "BUILT_IN_TYPES",
    "LAYOUT_ID",
    "LAYOUT_NAME",
    "MAX_POINTS",
    "WidgetDataError",
    "check_config",
    "check_data",
    "render_widget",
    "widget_placeholder",
    "widget_size",
]
