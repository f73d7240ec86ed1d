"""Shapes shared by every resource: pagination and size-limited JSON documents."""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

import orjson
from pydantic import AfterValidator, BaseModel, ConfigDict

T = TypeVar("T")

MAX_JSON_DOCUMENT_BYTES = 64 * 1024
MAX_DATA_DOCUMENT_BYTES = 512 * 1024


def _bounded(limit: int) -> AfterValidator:
    def check(value: Any) -> Any:
        size = len(orjson.dumps(value))
        if size > limit:
            raise ValueError(f"JSON document is {size} bytes; the limit is {limit} bytes")
        return value

    return AfterValidator(check)


JsonObject = Annotated[dict[str, Any], _bounded(MAX_JSON_DOCUMENT_BYTES)]
DataDocument = Annotated[Any, _bounded(MAX_DATA_DOCUMENT_BYTES)]


class Input(BaseModel):
    """Request bodies refuse unknown fields, so a typo is an error instead of a silent no-op."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int
