"""API key shapes; the secret appears once, in the creation response."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field

from dyndash_admin_api.schemas.common import Input, Output


class KeyCreate(Input):
    name: Annotated[str, Field(min_length=1, max_length=100)]
    scopes: list[str] = Field(min_length=1, max_length=10)
    expires_at: datetime | None = None


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
