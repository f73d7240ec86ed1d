"""Number formatting and axis ticks shared by the charts, the stat and the table."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any


def compact(value: float) -> str:
    """1234 → 1.2k, 2_500_000 → 2.5M: short enough for an axis tick or a stat."""
    magnitude = abs(value)
    if magnitude >= 1e15:
        return f"{value:.3g}"
    for limit, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if magnitude >= limit:
            return f"{value / limit:.3g}{suffix}"
    if magnitude >= 100 or value == int(value):
        return f"{value:,.0f}"
    return f"{value:.3g}"


def formatted(value: Any, style: str | None, currency: str = "$") -> str:
    """A value as a table cell or a stat shows it; anything not a number is shown as text."""
    if value is None:
        return ""
    if style == "date":
        if isinstance(value, int | float) and not isinstance(value, bool):
            return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d")
        return str(value)[:10]
    if not isinstance(value, int | float) or isinstance(value, bool):
        return str(value)
    if style == "percent":
        return f"{value * 100:.1f}%"
    if style == "currency":
        return f"{'-' if value < 0 else ''}{currency}{abs(value):,.2f}"
    if style == "compact":
        return compact(value)
    if abs(value) >= 1e15:
        # In full, such a number is hundreds of digits (up to 1e300 in a chart).
        return f"{value:.6g}"
    if value == int(value):
        return f"{int(value):,}"
    return f"{value:,.2f}"


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high]: steps of 1, 2 or 5 times a power of ten."""
    if high == low:
        high = low + 1 if low == 0 else low + abs(low) * 0.1
    raw = (high - low) / max(1, count - 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    start = math.floor(low / step) * step
    ticks = []
    value = start
    while value < high + step * 0.999:
        ticks.append(round(value, 10))
        value += step
    return ticks
