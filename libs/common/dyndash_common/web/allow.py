"""The Allow header of a 405: every method the requested path really answers.

Starlette names only the methods of the first route whose path matched, and FastAPI makes one
route per method, so `POST /api/v1/templates/1` was told `Allow: GET` although PUT and DELETE
work there too. The app's own OpenAPI document lists every operation of every path, and the
tests hold it to what the routes do, so the answer is read from there.
"""

from __future__ import annotations

import functools
import re
from typing import Any

# The order methods are listed in.
ORDER = ("get", "head", "post", "put", "patch", "delete", "options", "trace")


@functools.cache
def _template(path: str) -> re.Pattern[str]:
    """`/api/v1/templates/{template_id}` → a pattern matching its URLs."""
    parts = re.split(r"(\{[^}/]+\})", path)
    return re.compile(
        "".join("[^/]+" if part.startswith("{") else re.escape(part) for part in parts)
    )


def allowed_methods(document: dict[str, Any], path: str) -> list[str]:
    """The methods the document lists for `path`. A path without parameters wins over a
    templated one that also matches, OpenAPI's rule for which path a URL means
    (`/api/v1/templates/preview` is not template "preview")."""
    matching = [
        (template, operations)
        for template, operations in document.get("paths", {}).items()
        if _template(template).fullmatch(path)
    ]
    concrete = [(template, ops) for template, ops in matching if "{" not in template]
    methods = {method for _, ops in (concrete or matching) for method in ops if method in ORDER}
    return [method.upper() for method in ORDER if method in methods]
