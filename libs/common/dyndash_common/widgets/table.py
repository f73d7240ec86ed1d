"""The table widget: plain HTML, cells formatted per column."""

from __future__ import annotations

from html import escape
from typing import Any

from dyndash_common.widgets.numbers import formatted


def table(title: str, data: dict[str, Any], config: dict[str, Any]) -> str:
    columns = data["columns"]
    currency = str(config.get("currency", "$"))
    head = "".join(
        f'<th scope="col" class="{_align(c)}">{escape(str(c["label"]))}</th>' for c in columns
    )
    rows = []
    for row in data["rows"]:
        cells = "".join(
            f'<td class="{_align(c)}">'
            f"{escape(formatted(row.get(c['key']), c.get('format'), currency))}</td>"
            for c in columns
        )
        rows.append(f"<tr>{cells}</tr>")
    return (
        f'<div class="dd-table-wrap"><table class="dd-table"><caption class="dd-sr">'
        f"{escape(title)}</caption><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _align(column: dict[str, Any]) -> str:
    return "dd-num" if column.get("format") in ("number", "percent", "currency") else ""
