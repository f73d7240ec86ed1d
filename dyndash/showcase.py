"""The demo dashboard at `/`: sales and operations, one widget of every built-in type, shown
by the built-in layout; and the data of its live widgets, a step at a time, for the ticker."""

from __future__ import annotations

import math
import random
from typing import Any

NAME = "sales-ops"
DAYS = [f"Nov {day}" for day in range(1, 31)]
HOURS = [f"{hour:02d}:00" for hour in range(24)]


def _wave(n: int, base: float, swing: float, phase: float, noise: random.Random) -> list[float]:
    return [
        round(base + swing * math.sin(i / 4 + phase) + noise.uniform(-swing, swing) * 0.3, 1)
        for i in range(n)
    ]


def widgets(step: int = 0) -> list[dict[str, Any]]:
    """Every widget of the demo at tick `step` (0: as seeded). The same step gives the same
    data, so the seed is reproducible and the screenshot stable."""
    noise = random.Random(step)
    revenue = _wave(30, 42_000, 6_000, step / 5, noise)
    last = revenue[-1]
    return [
        {
            "key": "revenue",
            "title": "Revenue today",
            "type": "stat",
            "config": {"format": "currency", "layout": {"w": 3, "h": 1}},
            "data": {"value": last, "delta": round(last - revenue[-2], 1), "series": revenue},
        },
        {
            "key": "orders",
            "title": "Orders",
            "type": "stat",
            "config": {"layout": {"w": 3, "h": 1}},
            "data": {
                "value": 1_284 + step * 3,
                "delta": 3 + step % 4,
                "series": [round(v / 33) for v in revenue],
            },
        },
        {
            "key": "conversion",
            "title": "Conversion",
            "type": "stat",
            "config": {"layout": {"w": 3, "h": 1}},
            "data": {"value": round(3.1 + noise.uniform(-0.3, 0.3), 2), "unit": "%", "delta": -0.2},
        },
        {
            "key": "uptime",
            "title": "API uptime (30 d)",
            "type": "stat",
            "config": {"layout": {"w": 3, "h": 1}},
            "data": {"value": 99.97, "unit": "%", "delta": 0.01},
        },
        {
            "key": "revenue-trend",
            "title": "Revenue by day",
            "type": "line",
            "config": {"format": "currency", "y_title": "USD", "layout": {"w": 8, "h": 2}},
            "data": {
                "x": DAYS,
                "series": [
                    {"name": "This month", "values": revenue},
                    {"name": "Last month", "values": _wave(30, 38_000, 5_000, 1.3, noise)},
                ],
            },
        },
        {
            "key": "channels",
            "title": "Revenue by channel",
            "type": "donut",
            "config": {"format": "currency", "layout": {"w": 4, "h": 2}},
            "data": {
                "slices": [
                    {"label": "Web", "value": 18_400 + step * 40},
                    {"label": "Mobile", "value": 12_900},
                    {"label": "Partners", "value": 6_300},
                    {"label": "Retail", "value": 4_100},
                ]
            },
        },
        {
            "key": "regions",
            "title": "Orders by region",
            "type": "bar",
            "config": {"stacked": True, "layout": {"w": 6, "h": 2}},
            "data": {
                "x": ["EMEA", "Americas", "APAC", "LATAM", "Africa"],
                "series": [
                    {"name": "New", "values": [320, 410, 280 + step % 7 * 5, 120, 60]},
                    {"name": "Returning", "values": [210, 260, 190, 80, 35]},
                ],
            },
        },
        {
            "key": "latency",
            "title": "API latency (ms)",
            "type": "area",
            "priority": 1,
            "config": {"layout": {"w": 6, "h": 2}, "y_title": "ms"},
            "data": {
                "x": HOURS,
                "series": [
                    {"name": "p99", "values": _wave(24, 180, 40, step / 3, noise)},
                    {"name": "p50", "values": _wave(24, 60, 10, step / 3, noise)},
                ],
            },
        },
        {
            "key": "cpu",
            "title": "Cluster CPU",
            "type": "gauge",
            "priority": 1,
            "config": {"unit": "%", "layout": {"w": 3, "h": 2}},
            "data": {"value": round(55 + 20 * math.sin(step / 3), 1), "min": 0, "max": 100},
        },
        {
            "key": "tickets",
            "title": "Support tickets",
            "type": "pie",
            "priority": 1,
            "config": {"layout": {"w": 3, "h": 2}},
            "data": {
                "slices": [
                    {"label": "Open", "value": 42},
                    {"label": "Pending", "value": 17},
                    {"label": "Solved", "value": 128},
                ]
            },
        },
        {
            "key": "products",
            "title": "Top products",
            "type": "table",
            "priority": 1,
            "config": {"layout": {"w": 6, "h": 2}},
            "data": {
                "columns": [
                    {"key": "name", "label": "Product"},
                    {"key": "units", "label": "Units", "format": "number"},
                    {"key": "revenue", "label": "Revenue", "format": "currency"},
                    {"key": "margin", "label": "Margin", "format": "percent"},
                ],
                "rows": [
                    {"name": "Aurora desk", "units": 412, "revenue": 86_520, "margin": 0.31},
                    {"name": "Nimbus chair", "units": 655, "revenue": 78_600, "margin": 0.27},
                    {"name": "Halo lamp", "units": 1_210, "revenue": 36_300, "margin": 0.42},
                    {"name": "Drift shelf", "units": 233, "revenue": 27_960, "margin": 0.22},
                    {"name": "Pebble mat", "units": 980, "revenue": 14_700, "margin": 0.55},
                ],
            },
        },
        {
            "key": "notes",
            "title": "Notes",
            "type": "text",
            "priority": 2,
            "config": {"layout": {"w": 8, "h": 2}},
            "data": {
                "markdown": "**Black Friday** week: conversion targets are *3.5 %*.\n\n"
                "- Mobile checkout shipped on Nov 24\n- APAC warehouse back to normal\n\n"
                "See the [runbook](https://example.com/runbook)."
            },
        },
        {
            "key": "build",
            "title": "Build",
            "type": "generic",
            "priority": 2,
            "config": {"layout": {"w": 4, "h": 2}},
            "data": {"version": "2026.11.29", "region": "eu-west-1", "tasks": 6},
        },
    ]


def ticking() -> tuple[str, ...]:
    """The widgets whose data the ticker changes."""
    return (
        "revenue",
        "orders",
        "conversion",
        "revenue-trend",
        "channels",
        "regions",
        "latency",
        "cpu",
    )
