"""The text widget: CommonMark by markdown-it-py, its HTML cleaned by nh3 (README, "Widgets").

Raw HTML in the Markdown is allowed through the parser and then sanitised: nh3 (ammonia)
keeps an allow-list of tags and attributes, drops every event handler (`onerror=`), script
and style, and keeps only http(s) and mailto links, so `javascript:` URLs go too.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from markdown_it import MarkdownIt

_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5",
    "h6", "hr", "i", "img", "li", "ol", "p", "pre", "s", "strong", "sub", "sup", "table",
    "tbody", "td", "th", "thead", "tr", "ul",
}  # fmt: skip
_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "th": {"align"},
    "td": {"align"},
}


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    # Imported on the first text widget, not in the render processes' fork server: a larger
    # fork server slowed the serving process's answers while hostile renders replaced children
    # (tests/gateway/test_isolation.py).
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": True}).enable("table").enable("strikethrough")


def markdown_html(source: str) -> str:
    """Safe HTML for `source`."""
    import nh3

    return nh3.clean(
        _parser().render(source),
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer",
    )
