"""JSON documents as bytes, fast, whatever numbers the database hands back.

orjson cannot write integers past 64 bits, and PostgreSQL's JSONB returns a stored float such
as 1e119 as an integer of 120 digits. Such documents fall back to the standard library.
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def dumps(value: Any, *, sort_keys: bool = False) -> bytes:
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS if sort_keys else None)
    except TypeError:
        return json.dumps(value, sort_keys=sort_keys, separators=(",", ":")).encode()
