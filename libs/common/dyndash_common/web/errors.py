"""Every error a client can see, in the envelope: no traceback, SQL or stack detail."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException

from dyndash_common.envelope import failure
from dyndash_common.errors import DyndashError
from dyndash_common.web.allow import allowed_methods

log = logging.getLogger("dyndash.api")


def error_response(
    status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(failure(code, message, details), status_code=status, headers=headers)


def _field_name(location: tuple[Any, ...]) -> str:
    parts = [str(part) for part in location if part not in ("body",)]
    return ".".join(parts) or "body"


def _validation_message(errors: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    details = []
    for error in errors:
        if error.get("type") == "json_invalid":
            reason = error.get("ctx", {}).get("error", "invalid JSON")
            return f"the request body is not valid JSON: {reason}", [{"field": "body"}]
        reason = str(error.get("msg", "")).removeprefix("Value error, ")
        details.append({"field": _field_name(tuple(error.get("loc", ()))), "error": reason})
    summary = "; ".join(f"{item['field']}: {item['error']}" for item in details[:5])
    return f"invalid request: {summary}", details


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DyndashError)
    async def dyndash_error(_request: Request, error: DyndashError) -> JSONResponse:
        return error_response(
            error.status_code, error.code, error.message, error.details, error.headers
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, error: RequestValidationError) -> JSONResponse:
        message, details = _validation_message(list(error.errors()))
        return error_response(422, "validation_error", message, details)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> JSONResponse:
        code = {
            400: "bad_request",
            404: "not_found",
            405: "method_not_allowed",
            413: "payload_too_large",
        }.get(error.status_code, "http_error")
        headers = dict(error.headers or {})
        if error.status_code == 405:
            methods = allowed_methods(request.app.openapi(), request.url.path)
            if methods:
                headers["Allow"] = ", ".join(methods)
        return error_response(error.status_code, code, str(error.detail), None, headers)

    @app.exception_handler(IntegrityError)
    async def integrity_error(_request: Request, error: DBAPIError) -> JSONResponse:
        reason = str(error.orig).lower()
        log.info("integrity_error", extra={"details": {"error": reason[:300]}})
        if "unique" in reason or "duplicate" in reason:
            # Pre-checks catch the usual cases; this is the race where two writers collide.
            return error_response(
                409,
                "conflict",
                "the change conflicts with existing data (a concurrent write)",
            )
        return error_response(
            422, "validation_error", "a value is missing or refers to something that does not exist"
        )

    @app.exception_handler(DataError)
    async def data_error(_request: Request, error: DBAPIError) -> JSONResponse:
        log.info("data_error", extra={"details": {"error": str(error.orig)[:300]}})
        return error_response(
            422,
            "validation_error",
            "a value is out of range or cannot be stored",
        )

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    @app.exception_handler(OSError)
    async def unavailable(_request: Request, error: Exception) -> JSONResponse:
        log.error("dependency_unavailable", extra={"details": {"error": repr(error)[:300]}})
        return error_response(
            503,
            "unavailable",
            "the database is unavailable; retry shortly",
            headers={"Retry-After": "2"},
        )

    @app.exception_handler(DBAPIError)
    async def database_error(request: Request, error: Exception) -> JSONResponse:
        # asyncpg's errors reach SQLAlchemy as a plain DBAPIError; their SQLSTATE class tells
        # a value the database refused (22: data exception, 23: integrity) from an outage.
        assert isinstance(error, DBAPIError)
        sqlstate = str(getattr(error.orig, "sqlstate", "") or "")
        if sqlstate.startswith("22"):
            return await data_error(request, error)
        if sqlstate.startswith("23"):
            return await integrity_error(request, error)
        return await unavailable(request, error)

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, error: Exception) -> JSONResponse:
        log.exception("unhandled_error")
        # Starlette answers this one outside every middleware, so it sets its own nosniff.
        return error_response(
            500,
            "internal_error",
            "internal error; it has been logged",
            headers={"X-Content-Type-Options": "nosniff"},
        )
