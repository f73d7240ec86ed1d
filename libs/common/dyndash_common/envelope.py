"""The response envelope (README, "The admin API"), used by every JSON response under /api/v1."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel

T = TypeVar("T")


def utc_timestamp() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Envelope(BaseModel, Generic[T]):
    status: Literal["success", "error"]
    data: T
    message: str | None = None
    timestamp: str


class ErrorData(BaseModel):
    code: str
    details: Any = None


class ErrorEnvelope(BaseModel):
    """The body of every error answer, as `failure` builds it (for the OpenAPI documents)."""

    status: Literal["error"]
    data: ErrorData
    message: str
    timestamp: str


def success(data: Any, message: str | None = None) -> dict[str, Any]:
    return {"status": "success", "data": data, "message": message, "timestamp": utc_timestamp()}


def failure(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {
        "status": "error",
        "data": {"code": code, "details": details},
        "message": message,
        "timestamp": utc_timestamp(),
    }
