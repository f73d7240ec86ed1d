"""Ids taken from request paths: ASCII digits only, within the schema's range.

`int()` and pydantic's lax integers accept more than digits: '¹' passes `str.isdigit` but
not `int()`, the Arabic-Indic one (U+0661) is `int()` 1, pydantic reads '1_0' as 10 and
' +1' as 1. Each would be a second address for the same resource, or a crash.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Path
from pydantic import BeforeValidator

# The largest id the schema stores (a 32-bit INTEGER on PostgreSQL).
MAX_ID = 2**31 - 1
ID_DIGITS = re.compile(r"[0-9]{1,10}")


def _ascii_digits(value: object) -> object:
    if isinstance(value, str) and not ID_DIGITS.fullmatch(value):
        raise ValueError("must be a positive integer written in ASCII digits")
    return value


# Path first: FastAPI documents a path parameter's constraints only from the first metadata.
PathId = Annotated[
    int,
    Path(ge=1, le=MAX_ID, description="the resource's id"),
    BeforeValidator(_ascii_digits),
]
