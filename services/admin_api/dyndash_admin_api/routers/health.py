"""Liveness and readiness. Metrics are on the operator port (dyndash_common.web.operator)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from dyndash_admin_api.deps import RuntimeDep
from dyndash_common.web import dependency_checks

router = APIRouter(tags=["health"])


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
    checks = await dependency_checks(runtime)
    ready = all(value == "ok" for value in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not_ready", "checks": checks}, 200 if ready else 503
    )
