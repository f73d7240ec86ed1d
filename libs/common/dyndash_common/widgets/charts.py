# ruff: noqa: E501  (SVG markup reads better unbroken)
"""Charts as lean inline SVG (README, "Widgets": why not a charting library).

Every chart is `role="img"` with an `aria-label` naming its widget and a `viewBox`, so it
scales to its card. Colours are presentation attributes (a chart pasted into any template has
colours) that the layout's stylesheet overrides through `dd-c<n>` classes for dark mode.
Points and bars carry a `<title>`: the browser's own tooltip, no script.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape
from typing import Any

from dyndash_common.widgets.numbers import compact, formatted, nice_ticks

# Light-mode series colours, each at least 3:1 against white (WCAG AA for graphics); the
# stylesheet swaps in lighter ones for dark mode.
PALETTE = (
    "#2563eb",
    "#d97706",
    "#059669",
    "#dc2626",
    "#7c3aed",
    "#0891b2",
    "#c026d3",
    "#65a30d",
    "#ea580c",
    "#4f46e5",
    "#0d9488",
    "#be123c",
)
WIDTH, HEIGHT = 600, 260
LEFT, RIGHT, TOP, BOTTOM = 58, 12, 12, 34
# Above this many points per series a `<title>` per point costs more bytes than it helps:
# the series line carries one summary title instead.
MAX_TITLED_POINTS = 120


def _colour(config: dict[str, Any], index: int) -> str:
    colours = config.get("colors") or ()
    if index < len(colours):
        return str(colours[index])
    return PALETTE[index % len(PALETTE)]


def _n(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _svg(label: str, body: str, width: int = WIDTH, height: int = HEIGHT) -> str:
    return (
        f'<svg class="dd-chart" role="img" aria-label="{escape(label)}" '
        f'viewBox="0 0 {width} {height}" preserveAspectRatio="xMidYMid meet" '
        f'xmlns="http://www.w3.org/2000/svg" font-size="12">{body}</svg>'
    )


def _legend(names: Sequence[str], config: dict[str, Any]) -> str:
    items = "".join(
        f'<li><span class="dd-swatch dd-c{i % len(PALETTE)}" data-colour="{_colour(config, i)}">'
        f'<svg viewBox="0 0 10 10" aria-hidden="true"><rect width="10" height="10" rx="2" '
        f'fill="{_colour(config, i)}" class="dd-f{i % len(PALETTE)}"/></svg></span>'
        f"{escape(name)}</li>"
        for i, name in enumerate(names)
    )
    return f'<ul class="dd-legend">{items}</ul>' if len(names) > 1 else ""


def _x_labels(xs: Sequence[Any], count: int = 6) -> list[int]:
    if len(xs) <= count:
        return list(range(len(xs)))
    step = (len(xs) - 1) / (count - 1)
    return sorted({round(i * step) for i in range(count)})


def _axes(low: float, high: float, ticks: list[float], config: dict[str, Any]) -> tuple[str, Any]:
    plot_h = HEIGHT - TOP - BOTTOM

    def y_of(value: float) -> float:
        return TOP + plot_h - (value - low) / (high - low) * plot_h

    parts = []
    style = config.get("format") if config.get("format") != "date" else None
    for tick in ticks:
        y = y_of(tick)
        label = _tick_label(tick, style, config)
        parts.append(
            f'<line class="dd-grid-line" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{_n(y)}" '
            f'y2="{_n(y)}" stroke="#d1d5db" stroke-width="1"/>'
            f'<text x="{LEFT - 6}" y="{_n(y + 4)}" text-anchor="end" fill="currentColor">'
            f"{escape(label)}</text>"
        )
    if config.get("y_title"):
        parts.append(
            f'<text x="10" y="{TOP + plot_h / 2:.0f}" transform="rotate(-90 10 '
            f'{TOP + plot_h / 2:.0f})" text-anchor="middle" fill="currentColor">'
            f"{escape(str(config['y_title']))}</text>"
        )
    return "".join(parts), y_of


def _tick_label(tick: float, style: Any, config: dict[str, Any]) -> str:
    """Axis ticks stay short: compact numbers, with the currency sign or percent sign."""
    if style == "currency":
        sign = "-" if tick < 0 else ""
        return f"{sign}{config.get('currency', '$')}{compact(abs(tick))}"
    if style == "percent":
        return f"{tick * 100:.0f}%"
    return compact(tick)


def _x_axis(xs: Sequence[Any], x_of: Any, config: dict[str, Any]) -> str:
    parts = [
        f'<text x="{_n(x_of(i))}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle" '
        f'fill="currentColor">{escape(str(xs[i])[:16])}</text>'
        for i in _x_labels(xs)
    ]
    if config.get("x_title"):
        parts.append(
            f'<text x="{(LEFT + WIDTH - RIGHT) / 2:.0f}" y="{HEIGHT - 2}" text-anchor="middle" '
            f'fill="currentColor">{escape(str(config["x_title"]))}</text>'
        )
    return "".join(parts)


def _range(values: Sequence[float], include_zero: bool) -> tuple[float, float, list[float]]:
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    if include_zero:
        low, high = min(low, 0.0), max(high, 0.0)
    ticks = nice_ticks(low, high)
    return ticks[0], ticks[-1], ticks


def xy_chart(title: str, data: dict[str, Any], config: dict[str, Any], *, area: bool) -> str:
    """A line chart, or an area chart (each series filled down to zero)."""
    xs, series = data["x"], data["series"]
    values = [v for s in series for v in s["values"] if v is not None]
    low, high, ticks = _range(values, include_zero=area)
    grid, y_of = _axes(low, high, ticks, config)
    plot_w = WIDTH - LEFT - RIGHT
    span = max(1, len(xs) - 1)

    def x_of(i: int) -> float:
        return LEFT + i / span * plot_w

    parts = [grid, _x_axis(xs, x_of, config)]
    for s, item in enumerate(series):
        colour, name = _colour(config, s), str(item["name"])
        runs: list[list[tuple[float, float]]] = [[]]
        for i, v in enumerate(item["values"]):
            if v is None:  # a gap: the line breaks here
                runs.append([])
            else:
                runs[-1].append((x_of(i), y_of(v)))
        for run in (r for r in runs if r):
            points = " ".join(f"{_n(x)},{_n(y)}" for x, y in run)
            if area:
                base = _n(y_of(max(low, 0.0)))
                parts.append(
                    f'<polygon class="dd-f{s % len(PALETTE)}" fill="{colour}" fill-opacity="0.18" '
                    f'points="{_n(run[0][0])},{base} {points} {_n(run[-1][0])},{base}"/>'
                )
            summary = _summary(name, [v for v in item["values"] if v is not None])
            parts.append(
                f'<polyline class="dd-s{s % len(PALETTE)}" fill="none" stroke="{colour}" '
                f'stroke-width="2" stroke-linejoin="round" points="{points}">'
                f"<title>{escape(summary)}</title></polyline>"
            )
        if len(xs) <= MAX_TITLED_POINTS:
            for i, v in enumerate(item["values"]):
                if v is not None:
                    tip = f"{name} · {xs[i]}: {formatted(v, config.get('format'))}"
                    parts.append(
                        f'<circle class="dd-f{s % len(PALETTE)}" cx="{_n(x_of(i))}" '
                        f'cy="{_n(y_of(v))}" r="3" fill="{colour}"><title>'
                        f"{escape(tip)}"
                        "</title></circle>"
                    )
    return _svg(title, "".join(parts)) + _legend([str(s["name"]) for s in series], config)


def _summary(name: str, values: Sequence[float]) -> str:
    if not values:
        return name
    return f"{name}: last {compact(values[-1])}, min {compact(min(values))}, max {compact(max(values))}"


def bar_chart(title: str, data: dict[str, Any], config: dict[str, Any]) -> str:
    """Grouped bars, or stacked with `config.stacked`; horizontal with `config.horizontal`."""
    xs, series = data["x"], data["series"]
    stacked, horizontal = bool(config.get("stacked")), bool(config.get("horizontal"))
    if stacked:
        totals_pos = [sum(max(0.0, s["values"][i] or 0) for s in series) for i in range(len(xs))]
        totals_neg = [sum(min(0.0, s["values"][i] or 0) for s in series) for i in range(len(xs))]
        values = totals_pos + totals_neg
    else:
        values = [v for s in series for v in s["values"] if v is not None]
    low, high, ticks = _range(values, include_zero=True)
    parts: list[str] = []
    slot_count = max(1, len(xs))
    length = (HEIGHT - TOP - BOTTOM) if horizontal else (WIDTH - LEFT - RIGHT)
    slot = length / slot_count
    groups = 1 if stacked else max(1, len(series))
    bar = max(0.5, slot * 0.8 / groups)
    if horizontal:
        plot_w = WIDTH - LEFT - RIGHT

        def v_of(value: float) -> float:
            return LEFT + (value - low) / (high - low) * plot_w

        for tick in ticks:
            x = v_of(tick)
            parts.append(
                f'<line class="dd-grid-line" x1="{_n(x)}" x2="{_n(x)}" y1="{TOP}" '
                f'y2="{HEIGHT - BOTTOM}" stroke="#d1d5db"/><text x="{_n(x)}" '
                f'y="{HEIGHT - BOTTOM + 16}" text-anchor="middle" fill="currentColor">'
                f"{escape(_tick_label(tick, config.get('format'), config))}</text>"
            )
        for i in _x_labels(xs, 12):
            parts.append(
                f'<text x="{LEFT - 6}" y="{_n(TOP + slot * (i + 0.5) + 4)}" text-anchor="end" '
                f'fill="currentColor">{escape(str(xs[i])[:10])}</text>'
            )
    else:
        grid, v_of_y = _axes(low, high, ticks, config)
        parts.append(grid)
        v_of = v_of_y
        parts.append(_x_axis(xs, lambda i: LEFT + slot * (i + 0.5), config))
    zero = v_of(max(low, 0.0) if low >= 0 else 0.0)
    for i, x_label in enumerate(xs):
        up, down = 0.0, 0.0
        for s, item in enumerate(series):
            value = item["values"][i]
            if value is None:
                continue
            if stacked:
                base = up if value >= 0 else down
                start, end = v_of(base), v_of(base + value)
                if value >= 0:
                    up += value
                else:
                    down += value
                offset = slot * 0.1
            else:
                start, end = zero, v_of(value)
                offset = slot * 0.1 + s * bar
            a, b = sorted((start, end))
            pos = (TOP if horizontal else LEFT) + slot * i + offset
            x, y, w, h = (a, pos, b - a, bar) if horizontal else (pos, a, bar, b - a)
            label = f"{item['name']} · {x_label}: {formatted(value, config.get('format'))}"
            parts.append(
                f'<rect class="dd-f{s % len(PALETTE)}" x="{_n(x)}" y="{_n(y)}" '
                f'width="{_n(max(w, 0.5))}" height="{_n(max(h, 0.5))}" fill="{_colour(config, s)}">'
                f"<title>{escape(label)}</title></rect>"
            )
    return _svg(title, "".join(parts)) + _legend([str(s["name"]) for s in series], config)


def pie_chart(title: str, data: dict[str, Any], config: dict[str, Any], *, donut: bool) -> str:
    slices = [s for s in data["slices"] if s["value"] > 0]
    total = sum(s["value"] for s in slices)
    size, centre, radius = 220, 110.0, 100.0
    inner = radius * 0.58 if donut else 0.0
    parts: list[str] = []
    angle = -math.pi / 2
    for i, item in enumerate(slices):
        share = item["value"] / total
        label = f"{item['label']}: {formatted(item['value'], config.get('format'))} ({share:.1%})"
        colour, cls = _colour(config, i), f"dd-f{i % len(PALETTE)}"
        if share >= 0.9999:  # one slice: an arc from a point to itself draws nothing
            parts.append(
                f'<circle class="{cls}" cx="{centre}" cy="{centre}" r="{radius}" fill="{colour}">'
                f"<title>{escape(label)}</title></circle>"
            )
            continue
        end = angle + share * 2 * math.pi
        large = 1 if share > 0.5 else 0
        x1, y1 = centre + radius * math.cos(angle), centre + radius * math.sin(angle)
        x2, y2 = centre + radius * math.cos(end), centre + radius * math.sin(end)
        d = f"M{_n(centre)},{_n(centre)} L{_n(x1)},{_n(y1)} A{radius},{radius} 0 {large} 1 {_n(x2)},{_n(y2)} Z"
        parts.append(
            f'<path class="{cls} dd-sep-stroke" d="{d}" fill="{colour}" stroke="#ffffff" '
            f'stroke-width="1.5"><title>{escape(label)}</title></path>'
        )
        angle = end
    if donut:
        parts.append(
            f'<circle class="dd-hole" cx="{centre}" cy="{centre}" r="{_n(inner)}" fill="#ffffff"/>'
            f'<text x="{centre}" y="{centre + 6}" text-anchor="middle" font-size="20" '
            f'font-weight="600" class="dd-strong" fill="currentColor">{escape(compact(total))}</text>'
        )
    if not slices:
        parts.append(
            f'<text x="{centre}" y="{centre}" text-anchor="middle" fill="currentColor">no data</text>'
        )
    return _svg(title, "".join(parts), size, size) + _legend(
        [str(s["label"]) for s in slices], config
    )


def sparkline(title: str, values: Sequence[float], config: dict[str, Any]) -> str:
    if len(values) < 2:
        return ""
    width, height = 200, 40
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    points = " ".join(
        f"{_n(i / (len(values) - 1) * width)},{_n(height - 2 - (v - low) / span * (height - 4))}"
        for i, v in enumerate(values)
    )
    return (
        f'<svg class="dd-spark" role="img" aria-label="{escape(title)} trend" '
        f'viewBox="0 0 {width} {height}" preserveAspectRatio="none" '
        f'xmlns="http://www.w3.org/2000/svg"><polyline class="dd-s0" fill="none" '
        f'stroke="{_colour(config, 0)}" stroke-width="2" vector-effect="non-scaling-stroke" '
        f'points="{points}"><title>{escape(_summary(title, values))}</title></polyline></svg>'
    )


def gauge(title: str, data: dict[str, Any], config: dict[str, Any]) -> str:
    low, high, value = float(data["min"]), float(data["max"]), float(data["value"])
    share = min(1.0, max(0.0, (value - low) / (high - low)))
    width, height, centre_y, radius = 220, 130, 115.0, 95.0

    def point(fraction: float) -> tuple[float, float]:
        theta = math.pi * (1 - fraction)
        return 110 + radius * math.cos(theta), centre_y - radius * math.sin(theta)

    sx, sy = point(0)
    ex, ey = point(1)
    vx, vy = point(share)
    label = (
        f"{title}: {formatted(value, config.get('format'))} of {compact(low)} to {compact(high)}"
    )
    track = f"M{_n(sx)},{_n(sy)} A{radius},{radius} 0 0 1 {_n(ex)},{_n(ey)}"
    body = (
        f'<path class="dd-track" d="{track}" fill="none" stroke="#e5e7eb" stroke-width="18"/>'
        + (
            f'<path class="dd-s0" d="M{_n(sx)},{_n(sy)} A{radius},{radius} 0 0 1 {_n(vx)},{_n(vy)}" '
            f'fill="none" stroke="{_colour(config, 0)}" stroke-width="18"><title>{escape(label)}</title></path>'
            if share > 0
            else ""
        )
        + f'<text x="110" y="{centre_y - 12}" text-anchor="middle" font-size="26" '
        f'font-weight="600" class="dd-strong" fill="currentColor">{escape(formatted(value, config.get("format") or "compact"))}'
        f"{escape(str(config.get('unit', '')))}</text>"
        f'<text x="{_n(sx)}" y="{centre_y + 14}" text-anchor="middle" fill="currentColor">'
        f"{escape(compact(low))}</text>"
        f'<text x="{_n(ex)}" y="{centre_y + 14}" text-anchor="middle" fill="currentColor">'
        f"{escape(compact(high))}</text>"
    )
    return _svg(label, body, width, height)
