"""Liveness and readiness. Metrics are on the operator port (dyndash_common.web.operator)."""

from __future__ import annotations

import asyncio
from typing import Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text

from dyndash_admin_api.deps import RuntimeDep

router = APIRouter(tags=["health"])

READY_TIMEOUT_SECONDS = 1.0


class Liveness(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ready", "not_ready"]
    checks: dict[str, str]


@router.get("/healthz", operation_id="health_live", response_model=Liveness)
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    operation_id="health_ready",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "The database or Redis is unreachable"}},
)
async def readyz(runtime: RuntimeDep) -> JSONResponse:
    checks: dict[str, str] = {}

    async def database() -> None:
        async with runtime.database.read() as session:
            await session.execute(text("SELECT 1"))

    async def redis() -> None:
        assert runtime.redis is not None
        await runtime.redis.ping()

    probes = {"database": database()}
    if runtime.redis is not None:
        probes["redis"] = redis()
    for name, probe in probes.items():
        try:
            await asyncio.wait_for(probe, READY_TIMEOUT_SECONDS)
            checks[name] = "ok"
        except Exception as error:
            checks[name] = f"failed: {type(error).__name__}"
    ready = all(value == "ok" for value in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not_ready", "checks": checks}, 200 if ready else 503
    )
