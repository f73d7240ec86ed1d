"""The pages' Content-Security-Policy: strict by default, widened per route
(`handler_config.csp`) and site-wide (`DYNDASH_CSP`) by listed origins only (README, "CSP and
embedding").

Both take `{"<directive>": ["<origin>", …]}`. Origins add to `script-src`, `style-src`,
`img-src`, `font-src` and `connect-src`; `frame-ancestors` replaces `'none'`, allowing the
listed origins to embed the page. Nothing else can be loosened: no other directive, no
wildcard, no scheme-only source, no path, no keyword but `'self'`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

EXTENDABLE = ("script-src", "style-src", "img-src", "font-src", "connect-src", "frame-ancestors")
MAX_ORIGINS = 20
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST = rf"{_LABEL}(?:\.{_LABEL})*"
# 1 to 65535 without leading zeros, so that the document's pattern says all check_csp checks.
_PORT_NUMBER = (
    r"(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
)
_PORT = rf"(?::{_PORT_NUMBER})?"
# Anchored for the JSON Schema document; checked with fullmatch, since Python's `$` also matches
# before a final newline, and a newline in a header value fails every response carrying it.
ORIGIN_PATTERN = rf"^(?:https://{_HOST}{_PORT}|http://(?:localhost|127\.0\.0\.1){_PORT}|'self')$"
_ORIGIN = re.compile(ORIGIN_PATTERN)
# The same with any digits as the port: tells a port out of range from a wrong origin.
_ANY_PORT = re.compile(ORIGIN_PATTERN.replace(_PORT, r"(?::[0-9]+)?"))

CspExtras = Mapping[str, Sequence[str]]


class CspError(ValueError):
    """A CSP addition that is not allowed; `path` names it (`csp.script-src[0]`)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path


def check_csp(value: Any, path: str = "csp") -> dict[str, list[str]]:
    """`value` as a CSP addition, or CspError naming the first thing refused."""
    if not isinstance(value, Mapping):
        raise CspError(path, "must be an object of directive → list of origins")
    checked: dict[str, list[str]] = {}
    for directive, origins in value.items():
        where = f"{path}.{directive}"
        if directive not in EXTENDABLE:
            raise CspError(
                where, f"is not a directive that can be extended ({', '.join(EXTENDABLE)})"
            )
        if not isinstance(origins, list):
            raise CspError(where, "must be a list of origins")
        if len(origins) > MAX_ORIGINS:
            raise CspError(where, f"lists more than {MAX_ORIGINS} origins")
        for i, origin in enumerate(origins):
            if not isinstance(origin, str) or not _ORIGIN.fullmatch(origin):
                raise CspError(f"{where}[{i}]", _refusal(origin))
        checked[directive] = list(origins)
    return checked


def _refusal(origin: Any) -> str:
    if isinstance(origin, str) and _ANY_PORT.fullmatch(origin):
        return "has a port outside 1 to 65535 (or written with a leading zero)"
    return (
        "must be an origin: https://host[:port], http://localhost[:port], "
        "http://127.0.0.1[:port] or 'self' (no path, wildcard or other keyword)"
    )


def _merged(extras: Iterable[CspExtras]) -> dict[str, list[str]]:
    merged: dict[str, list[str]] = {}
    for extra in extras:
        for directive, origins in extra.items():
            listed = merged.setdefault(directive, [])
            listed.extend(o for o in origins if o not in listed)
    return merged


def content_security_policy(nonce: str, *extras: CspExtras) -> str:
    """The page's policy for this render's nonce, widened by `extras` (already checked)."""
    add = _merged(extras)

    def more(directive: str) -> str:
        return "".join(f" {origin}" for origin in add.get(directive, ()))

    ancestors = " ".join(add["frame-ancestors"]) if add.get("frame-ancestors") else "'none'"
    return (
        f"default-src 'self'; script-src 'self' 'nonce-{nonce}'{more('script-src')}; "
        f"style-src 'self' 'nonce-{nonce}'{more('style-src')}; "
        f"img-src 'self' data:{more('img-src')}; "
        + (f"font-src 'self'{more('font-src')}; " if add.get("font-src") else "")
        + f"connect-src 'self'{more('connect-src')}; "
        f"object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors {ancestors}"
    )


def allows_framing(policy: str) -> bool:
    """Whether `policy` lets other origins embed the page (then no `X-Frame-Options: DENY`,
    which would contradict it)."""
    return "frame-ancestors" in policy and "frame-ancestors 'none'" not in policy
