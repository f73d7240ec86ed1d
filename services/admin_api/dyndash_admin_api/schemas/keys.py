"""API key shapes; the secret appears once, in the creation response."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, Field

from dyndash_admin_api.schemas.common import Input, Output
from dyndash_common.apikeys import SCOPES


def _in_utc(value: datetime | None) -> datetime | None:
    """Stored in UTC: a time whose UTC equivalent is past year 9999 cannot be."""
    if value is None or value.tzinfo is None:
        return value  # refused with a clearer message by the route
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("must be before 9999-12-31T23:59:59Z") from None


class KeyCreate(Input):
    name: Annotated[str, Field(min_length=1, max_length=100)]
    # Documented as an enum; validate_scopes refuses others with the list of valid ones.
    scopes: list[Annotated[str, Field(json_schema_extra={"enum": sorted(SCOPES)})]] = Field(
        min_length=1, max_length=10
    )
    # JSON has no time type: the RFC 3339 string is parsed (strict mode would refuse it).
    expires_at: Annotated[datetime | None, Field(strict=False), AfterValidator(_in_utc)] = None


class KeyPublic(Output):
    id: int
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


class KeyCreated(KeyPublic):
    secret: str
