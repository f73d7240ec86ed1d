"""API keys: random prefixed secrets, stored only as a keyed hash, checked in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dyndash_common.db.models import ApiKey
from dyndash_common.db.types import utcnow
from dyndash_common.errors import Forbidden, Unauthorized, ValidationFailed

SCOPES = frozenset(
    {
        "admin",
        "templates:write",
        "routes:write",
        "dashboards:write",
        "data:write",
        "data:read",
        "events:read",
    }
)
KEY_PREFIX = "ddk_"
# Generated keys show their first characters in listings, to tell them apart; keys supplied
# from outside (the bootstrap key) show nothing of themselves.
DISPLAY_LENGTH = 8
# last_used_at is a hint for operators, not an audit log: refresh it at most this often.
LAST_USED_RESOLUTION = timedelta(seconds=60)


def generate_secret() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_secret(pepper: str, secret: str) -> str:
    return hmac.new(pepper.encode(), secret.encode(), hashlib.sha256).hexdigest()


def validate_scopes(scopes: Iterable[str]) -> list[str]:
    chosen = sorted(set(scopes))
    unknown = [scope for scope in chosen if scope not in SCOPES]
    if unknown or not chosen:
        raise ValidationFailed(
            f"unknown scope(s) {unknown}; choose from {sorted(SCOPES)}"
            if unknown
            else "at least one scope is required",
            details={"field": "scopes", "allowed": sorted(SCOPES)},
        )
    return chosen


async def create_key(
    session: AsyncSession,
    *,
    pepper: str,
    name: str,
    scopes: Iterable[str],
    expires_at: datetime | None = None,
    secret: str | None = None,
) -> tuple[ApiKey, str]:
    """Store a new key; returns the row and the secret, which is never retrievable again."""
    secret = secret or generate_secret()
    row = ApiKey(
        name=name,
        prefix=secret[:DISPLAY_LENGTH] if secret.startswith(KEY_PREFIX) else "",
        key_hash=hash_secret(pepper, secret),
        scopes=validate_scopes(scopes),
        created_at=utcnow(),
        expires_at=expires_at,
    )
    session.add(row)
    await session.flush()
    return row, secret


async def ensure_key(session: AsyncSession, *, pepper: str, secret: str, name: str) -> ApiKey:
    """Make sure a live admin key with this secret exists (the bootstrap key)."""
    key_hash = hash_secret(pepper, secret)
    row = (await session.execute(select(ApiKey).where(ApiKey.key_hash == key_hash))).scalar()
    if row is None:
        row, _ = await create_key(
            session, pepper=pepper, name=name, scopes=["admin"], secret=secret
        )
    elif row.revoked_at is not None or "admin" not in row.scopes:
        row.revoked_at = None
        row.expires_at = None
        row.scopes = ["admin"]
    return row


async def authenticate(session: AsyncSession, *, pepper: str, presented: str | None) -> ApiKey:
    if not presented:
        raise Unauthorized("an API key is required: send it in the X-API-Key header")
    # The keyed hash is the lookup key: without the pepper nobody can aim at a stored hash, so
    # the index lookup leaks nothing; the final comparison is constant-time all the same.
    presented_hash = hash_secret(pepper, presented)
    match = (
        await session.execute(select(ApiKey).where(ApiKey.key_hash == presented_hash))
    ).scalar_one_or_none()
    if match is None or not hmac.compare_digest(match.key_hash, presented_hash):
        raise Unauthorized("the API key is not valid")
    now = utcnow()
    if match.revoked_at is not None:
        raise Unauthorized("the API key has been revoked")
    if match.expires_at is not None and match.expires_at <= now:
        raise Unauthorized("the API key has expired")
    if match.last_used_at is None or now - match.last_used_at > LAST_USED_RESOLUTION:
        await session.execute(update(ApiKey).where(ApiKey.id == match.id).values(last_used_at=now))
        match.last_used_at = now
    return match


def has_scope(key: ApiKey, scope: str) -> bool:
    return "admin" in key.scopes or scope in key.scopes


def require_scope(key: ApiKey, scope: str) -> None:
    if not has_scope(key, scope):
        raise Forbidden(
            f"this API key lacks the '{scope}' scope", details={"required_scope": scope}
        )
