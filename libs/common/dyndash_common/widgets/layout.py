# ruff: noqa: E501  (the page, stylesheet and script read better unbroken)
"""The built-in dashboard layout: a page for a route with a dashboard and no template.

It is a template like any other to the rest of the system (`LAYOUT`, in every catalog), so its
pages are keyed, cached, warmed and served as any page; its CSS and the loader script are its
asset bundles under `/assets`. Its name cannot be taken by an admin's template (no `@` there).
"""

from __future__ import annotations

import hashlib

LAYOUT_NAME = "@dyndash/layout"
# The route's template id when it has none: the layout. Database ids start at 1.
LAYOUT_ID = 0

LAYOUT_HTML = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>{{ (dashboard.title or dashboard.name) if dashboard else "Dashboard" }}</title>
<link rel="icon" href="data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'%3E%3Crect width='16' height='16' rx='3' fill='%232563eb'/%3E%3Cpath d='M4 11V8m4 3V5m4 6V7' stroke='white' stroke-width='2'/%3E%3C/svg%3E">
<link rel="stylesheet" href="{{ asset_url('css') }}">
<script src="{{ asset_url('js') }}" defer></script>
</head>
<body>
{% if dashboard %}
<header class="dd-header">
  <div>
    <h1>{{ dashboard.title or dashboard.name }}</h1>
    {% if dashboard.description %}<p class="dd-description">{{ dashboard.description }}</p>{% endif %}
  </div>
  <p class="dd-updated">Updated <time datetime="{{ dashboard.updated_at }}">{{ dashboard.updated_at[:16]|replace("T", " ") }} UTC</time></p>
</header>
<main class="dd-grid" data-dashboard-id="{{ dashboard.id }}" data-live="/live/dashboards/{{ dashboard.id }}">
{% for w in widgets %}{% if w.config.template is not defined and (inline_priority is none or w.priority <= inline_priority) %}{{ render_widget(w) }}{% else %}{{ widget_placeholder(w) }}{% endif %}
{% endfor %}
</main>
{% else %}
<main class="dd-grid"><p class="dd-empty">This dashboard no longer exists.</p></main>
{% endif %}
</body>
</html>
"""

LAYOUT_CSS = """
:root{color-scheme:light dark;--dd-bg:#f3f4f6;--dd-card:#ffffff;--dd-text:#111827;
--dd-muted:#4b5563;--dd-line:#e5e7eb;--dd-up:#047857;--dd-down:#b91c1c;--dd-row:150px}
@media (prefers-color-scheme:dark){:root{--dd-bg:#0b1120;--dd-card:#151e30;--dd-text:#e5e7eb;
--dd-muted:#a3acb9;--dd-line:#2a3548;--dd-up:#34d399;--dd-down:#f87171}}
*{box-sizing:border-box}
body{margin:0;background:var(--dd-bg);color:var(--dd-text);font:15px/1.45 system-ui,-apple-system,
"Segoe UI",Roboto,"Helvetica Neue",Arial,"Noto Sans",sans-serif;-webkit-font-smoothing:antialiased}
.dd-header{display:flex;flex-wrap:wrap;justify-content:space-between;align-items:flex-end;gap:8px 24px;
padding:24px 24px 8px;max-width:1440px;margin:0 auto}
.dd-header h1{margin:0;font-size:1.6rem;font-weight:650;letter-spacing:-.01em}
.dd-description,.dd-updated{margin:4px 0 0;color:var(--dd-muted)}
.dd-updated{font-size:.85rem}
.dd-grid{display:grid;grid-template-columns:repeat(12,minmax(0,1fr));grid-auto-rows:var(--dd-row);
grid-auto-flow:dense;gap:16px;padding:16px 24px 32px;max-width:1440px;margin:0 auto}
.dd-card{background:var(--dd-card);border:1px solid var(--dd-line);border-radius:12px;padding:14px 16px;
display:flex;flex-direction:column;min-width:0;min-height:0;overflow:hidden;
box-shadow:0 1px 2px rgba(0,0,0,.05)}
.dd-card-title{margin:0 0 8px;font-size:.8rem;font-weight:600;text-transform:uppercase;
letter-spacing:.04em;color:var(--dd-muted)}
.dd-body{flex:1;min-height:0;display:flex;flex-direction:column;overflow:auto}
.dd-chart{display:block;width:100%;height:100%;min-height:0;flex:1;color:var(--dd-muted)}
.dd-spark{display:block;width:100%;height:36px;margin-top:auto}
.dd-stat{margin:0;display:flex;align-items:baseline;gap:6px}
.dd-value{font-size:2.1rem;font-weight:650;letter-spacing:-.02em;font-variant-numeric:tabular-nums}
.dd-unit{color:var(--dd-muted);font-size:1rem}
.dd-delta{font-size:.85rem;font-weight:600}
.dd-up{color:var(--dd-up)}.dd-down{color:var(--dd-down)}.dd-flat{color:var(--dd-muted)}
.dd-legend{display:flex;flex-wrap:wrap;gap:4px 14px;margin:6px 0 0;padding:0;list-style:none;
font-size:.8rem;color:var(--dd-muted)}
.dd-legend li{display:flex;align-items:center;gap:6px}
.dd-swatch svg{width:10px;height:10px;display:block}
.dd-table-wrap{overflow:auto}
.dd-table{width:100%;border-collapse:collapse;font-size:.875rem;font-variant-numeric:tabular-nums}
.dd-table th{text-align:left;color:var(--dd-muted);font-weight:600;border-bottom:1px solid var(--dd-line);
padding:6px 8px;position:sticky;top:0;background:var(--dd-card)}
.dd-table td{padding:6px 8px;border-bottom:1px solid var(--dd-line)}
.dd-table .dd-num{text-align:right}
.dd-markdown{font-size:.95rem}.dd-markdown :first-child{margin-top:0}
.dd-markdown a{color:#1d4ed8}
.dd-generic{margin:0;font-size:.8rem;white-space:pre-wrap;color:var(--dd-muted)}
.dd-error{color:var(--dd-down)}
.dd-sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
.dd-skeleton{border-radius:8px;background:linear-gradient(90deg,var(--dd-line),var(--dd-bg),var(--dd-line));
background-size:200% 100%;animation:dd-pulse 1.4s ease-in-out infinite}
@keyframes dd-pulse{0%{background-position:100% 0}100%{background-position:-100% 0}}
@media (prefers-reduced-motion:reduce){.dd-skeleton{animation:none}}
.dd-grid-line,.dd-track{stroke:var(--dd-line)}.dd-strong{fill:var(--dd-text)}
.dd-hole{fill:var(--dd-card)}.dd-sep-stroke{stroke:var(--dd-card)}
"""
_SPANS = "".join(f".dd-w{n}{{grid-column:span {n}}}" for n in range(1, 13)) + "".join(
    f".dd-h{n}{{grid-row:span {n}}}" for n in range(1, 9)
)
_RESPONSIVE = (
    "@media (max-width:1000px){"
    + "".join(f".dd-w{n}{{grid-column:span {min(12, n * 2)}}}" for n in range(1, 13))
    + "}@media (max-width:640px){.dd-grid{padding:12px;gap:12px}"
    + "".join(f".dd-w{n}{{grid-column:span 12}}" for n in range(1, 13))
    + "}"
)
_DARK = ("#60a5fa", "#fbbf24", "#34d399", "#f87171", "#a78bfa", "#22d3ee", "#e879f9", "#a3e635",
         "#fb923c", "#818cf8", "#2dd4bf", "#fb7185")  # fmt: skip
_PALETTE_DARK = (
    "@media (prefers-color-scheme:dark){"
    + "".join(
        f".dd-s{i}{{stroke:{c}}}.dd-f{i}{{fill:{c}}}.dd-markdown a{{color:#93c5fd}}"
        if i == 0
        else f".dd-s{i}{{stroke:{c}}}.dd-f{i}{{fill:{c}}}"
        for i, c in enumerate(_DARK)
    )
    + "}"
)
STYLESHEET = LAYOUT_CSS + _SPANS + _RESPONSIVE + _PALETTE_DARK

# Fills the placeholders of widgets below the route's inline priority as they come near the
# viewport, and swaps a widget's card in place when the live stream says it changed.
LOADER_JS = """
(function () {
  "use strict";
  function place(card, html) {
    var holder = document.createElement("template");
    holder.innerHTML = html.trim();
    var next = holder.content.firstElementChild;
    if (next && next.id === card.id) {
      card.replaceWith(next);
      return next;
    }
    var body = card.querySelector(".dd-body");
    if (body) { body.className = "dd-body"; body.innerHTML = html; }
    card.classList.remove("dd-placeholder");
    card.removeAttribute("aria-busy");
    return card;
  }
  function load(card) {
    var url = "/fragments/widgets/" + card.getAttribute("data-widget-id");
    card.setAttribute("data-loading", "1");
    return fetch(url, {credentials: "same-origin"})
      .then(function (r) { if (!r.ok) { throw new Error(String(r.status)); } return r.text(); })
      .then(function (html) { place(card, html); })
      .catch(function () { card.removeAttribute("data-loading"); });
  }
  function start() {
    var grid = document.querySelector(".dd-grid[data-live]");
    var waiting = document.querySelectorAll(".dd-placeholder");
    if ("IntersectionObserver" in window) {
      var seen = new IntersectionObserver(function (entries) {
        entries.forEach(function (entry) {
          if (entry.isIntersecting) { seen.unobserve(entry.target); load(entry.target); }
        });
      }, {rootMargin: "400px 0px"});
      waiting.forEach(function (card) { seen.observe(card); });
    } else {
      waiting.forEach(load);
    }
    if (!grid || !window.EventSource) { return; }
    var stream = new EventSource(grid.getAttribute("data-live"));
    stream.addEventListener("widget", function (message) {
      var change = JSON.parse(message.data);
      var card = document.getElementById("dd-widget-" + change.widget_id);
      if (!card || card.classList.contains("dd-placeholder")) { return; }
      if (change.type === "widget.deleted") { card.remove(); return; }
      load(card).then(function () {
        var stamp = document.querySelector(".dd-updated time");
        if (!stamp) { return; }
        var now = new Date().toISOString();
        stamp.setAttribute("datetime", now.slice(0, 19) + "Z");
        stamp.textContent = now.slice(0, 16).replace("T", " ") + " UTC";
      });
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
"""

# The layout's version: a new release with a changed layout gets new cache keys.
LAYOUT_VERSION = int.from_bytes(
    hashlib.blake2b((LAYOUT_HTML + STYLESHEET + LOADER_JS).encode(), digest_size=4).digest()
)
