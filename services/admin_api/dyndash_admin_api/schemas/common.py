"""Shapes shared by every resource: pagination and size-limited JSON documents."""

from __future__ import annotations

import math
from typing import Annotated, Any, ClassVar, Generic, TypeVar

import orjson
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    GetJsonSchemaHandler,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from dyndash_common.web import MAX_ID as MAX_ID
from dyndash_common.web import without_null

T = TypeVar("T")

MAX_JSON_DOCUMENT_BYTES = 64 * 1024
MAX_DATA_DOCUMENT_BYTES = 512 * 1024


def _bounded(limit: int) -> AfterValidator:
    def check(value: Any) -> Any:
        try:
            size = len(orjson.dumps(value))
        except TypeError as error:
            # Integers past 64 bits and nesting past 255 levels: not storable as JSON here.
            raise ValueError(f"not a storable JSON document: {error}") from None
        if size > limit:
            raise ValueError(f"JSON document is {size} bytes; the limit is {limit} bytes")
        return value

    return AfterValidator(check)


def _whole_number(value: Any) -> Any:
    # JSON Schema's `integer` is any number with no fractional part, 895.0 included, and the
    # document says `integer`: such a number is the integer it names. 895.5 and "895" stay
    # refused (strict mode).
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# On every integer field of a request body, after its Field (placed before the constraints,
# it would hide them from the document): what the document's `integer` promises.
WholeNumber = BeforeValidator(_whole_number)

JsonObject = Annotated[dict[str, Any], _bounded(MAX_JSON_DOCUMENT_BYTES)]
DataDocument = Annotated[Any, _bounded(MAX_DATA_DOCUMENT_BYTES)]


def _reject_unstorable(value: Any, path: str = "") -> None:
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError(f"{path or 'value'}: NUL characters are not allowed")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{path or 'value'}: NaN and infinite numbers are not JSON")
    elif isinstance(value, dict):
        for key, item in value.items():
            _reject_unstorable(key, path)
            _reject_unstorable(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _reject_unstorable(item, f"{path}[{index}]")


class Input(BaseModel):
    """Request bodies refuse unknown fields, so a typo is an error instead of a silent no-op;
    NUL characters, which PostgreSQL cannot store in text; NaN or infinite numbers (`NaN`,
    `Infinity`, `1e999`), which Python's JSON parser accepts but JSON cannot hold; and values
    of another JSON type than the document declares (`0` for a boolean, `"5"` for an
    integer)."""

    model_config = ConfigDict(
        extra="forbid", str_strip_whitespace=False, allow_inf_nan=False, strict=True
    )

    @model_validator(mode="before")
    @classmethod
    def _storable(cls, data: Any) -> Any:
        _reject_unstorable(data)
        return data


class Patch(Input):
    """A partial update: omitted fields stay as they are; null is allowed only where the
    field itself may be null (listed in NULLABLE)."""

    NULLABLE: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        """The document says what _no_null_for_required enforces: null only where NULLABLE
        allows it (the Python type is `X | None` so that a field can be omitted)."""
        schema = handler.resolve_ref_schema(handler(core_schema))
        for name, field in schema.get("properties", {}).items():
            if name not in cls.NULLABLE:
                without_null(field)
        return schema

    @model_validator(mode="after")
    def _no_null_for_required(self) -> Patch:
        for name in self.model_fields_set:
            if getattr(self, name) is None and name not in self.NULLABLE:
                raise ValueError(f"{name} may not be null; omit it to leave it unchanged")
        return self


class Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int
