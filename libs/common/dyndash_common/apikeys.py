"""API keys: random prefixed secrets, stored only as a keyed hash, checked in constant time."""

from __future__ import annotations

import hashlib
import hmac
import logging
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
        "site:plan",
        "site:apply",
    }
)
KEY_PREFIX = "ddk_"
# Generated keys show their first characters in listings, to tell them apart; keys supplied
# from outside (the bootstrap key) show nothing of themselves.
DISPLAY_LENGTH = 8
log = logging.getLogger("dyndash.keys")
# The longest key accepted anywhere: generated keys are 47 characters, a bootstrap key is
# chosen by the operator within this bound. Longer presented keys are refused before any
# hashing or caching, so a client cannot make the services hold or digest megabytes of them.
MAX_KEY_LENGTH = 128
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


async def ensure_key(
    session: AsyncSession, *, pepper: str, secret: str, name: str, source: str
) -> ApiKey:
    """Create the admin key with this secret (the bootstrap or dev key) unless it exists.

    An existing key is left as it is: restoring a revoked one on every start would make a
    leaked bootstrap key impossible to revoke. `source` names where the secret comes from, so
    the warning tells the operator what to rotate.
    """
    key_hash = hash_secret(pepper, secret)
    row = (await session.execute(select(ApiKey).where(ApiKey.key_hash == key_hash))).scalar()
    if row is None:
        row, _ = await create_key(
            session, pepper=pepper, name=name, scopes=["admin"], secret=secret
        )
    elif row.revoked_at is not None:
        log.warning(
            "bootstrap_key_revoked",
            extra={
                "details": {
                    "key_id": row.id,
                    "rotate": source,
                    "message": f"the key from {source} is revoked and stays so; "
                    f"set a new secret in {source}",
                }
            },
        )
    return row


async def authenticate(session: AsyncSession, *, pepper: str, presented: str | None) -> ApiKey:
    if not presented:
        raise Unauthorized("an API key is required: send it in the X-API-Key header")
    if len(presented) > MAX_KEY_LENGTH:
        raise Unauthorized(
            f"the API key is not valid (keys are at most {MAX_KEY_LENGTH} characters)"
        )
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


def scopes_allow(scopes: Iterable[str], scope: str) -> bool:
    """The one scope rule: `admin` implies every scope."""
    held = set(scopes)
    return "admin" in held or scope in held


def has_scope(key: ApiKey, scope: str) -> bool:
    return scopes_allow(key.scopes, scope)


def presented_in(x_api_key: str | None, authorization: str | None) -> str | None:
    """The key a request presents: its X-API-Key header, else a bearer token."""
    if x_api_key:
        return x_api_key
    scheme, _, credentials = (authorization or "").partition(" ")
    return (credentials.strip() or None) if scheme.lower() == "bearer" else None


def require_scope(key: ApiKey, scope: str) -> None:
    if not has_scope(key, scope):
        raise Forbidden(
            f"this API key lacks the '{scope}' scope", details={"required_scope": scope}
        )


def require_any_scope(key: ApiKey, *scopes: str) -> None:
    """Any one of `scopes` will do (a read that a narrower and a wider scope both allow)."""
    if not any(has_scope(key, scope) for scope in scopes):
        others = " or ".join(f"'{scope}'" for scope in scopes[1:])
        raise Forbidden(
            f"this API key lacks the '{scopes[0]}' scope" + (f" (or {others})" if others else ""),
            details={"required_scope": scopes[0], "accepted_scopes": list(scopes)},
        )
