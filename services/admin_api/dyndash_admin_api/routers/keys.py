"""/api/v1/keys: create (secret shown once), list (never secrets), revoke."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status
from sqlalchemy import select

from dyndash_admin_api.deps import AdminKey, EntityId, Limit, Offset, RuntimeDep
from dyndash_admin_api.operations.common import get_or_404, paginate
from dyndash_admin_api.responses import answers
from dyndash_admin_api.schemas.common import Page
from dyndash_admin_api.schemas.keys import KeyCreate, KeyCreated, KeyPublic
from dyndash_common.apikeys import create_key
from dyndash_common.db import ApiKey, utcnow
from dyndash_common.envelope import Envelope, success
from dyndash_common.errors import ValidationFailed

router = APIRouter(prefix="/api/v1/keys", tags=["keys"])


@router.get(
    "",
    operation_id="keys_list",
    response_model=Envelope[Page[KeyPublic]],
    responses=answers(403),
)
async def list_keys(
    *, runtime: RuntimeDep, _key: AdminKey, limit: Limit = 50, offset: Offset = 0
) -> dict[str, Any]:
    async with runtime.database.read() as session:
        rows, total = await paginate(session, select(ApiKey).order_by(ApiKey.id), limit, offset)
    items = [KeyPublic.model_validate(row).model_dump() for row in rows]
    return success({"items": items, "total": total, "limit": limit, "offset": offset})


@router.post(
    "",
    operation_id="keys_create",
    status_code=status.HTTP_201_CREATED,
    response_model=Envelope[KeyCreated],
    # A date-time format cannot say "in the future".
    responses=answers(
        400,
        403,
        413,
        success=201,
        beyond_schema="an expires_at that is not in the future, or past year 9999 in UTC",
    ),
)
async def create(*, runtime: RuntimeDep, _key: AdminKey, body: KeyCreate) -> dict[str, Any]:
    if body.expires_at is not None and (
        body.expires_at.tzinfo is None or body.expires_at <= utcnow()
    ):
        raise ValidationFailed(
            "expires_at: must be a future time with a timezone, e.g. 2030-01-01T00:00:00Z",
            details={"field": "expires_at"},
        )
    async with runtime.database.write() as session:
        row, secret = await create_key(
            session,
            pepper=runtime.settings.key_pepper,
            name=body.name,
            scopes=body.scopes,
            expires_at=body.expires_at,
        )
    created = KeyPublic.model_validate(row).model_dump()
    return success({**created, "secret": secret}, "store the secret now: it is not shown again")


@router.delete(
    "/{key_id}",
    operation_id="keys_revoke",
    response_model=Envelope[KeyPublic],
    responses=answers(403, 404),
)
async def revoke(*, runtime: RuntimeDep, _key: AdminKey, key_id: EntityId) -> dict[str, Any]:
    async with runtime.database.write() as session:
        row = await get_or_404(session, ApiKey, key_id, lock=True)
        if row.revoked_at is None:
            row.revoked_at = utcnow()
    return success(KeyPublic.model_validate(row).model_dump(), f"key {key_id} revoked")
