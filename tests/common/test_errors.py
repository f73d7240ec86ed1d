"""Database errors caused by a request's values are the client's (4xx), not an outage (503)."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.exc import DBAPIError

from dyndash_common.web import RequestIdMiddleware, install_error_handlers


class DriverError(Exception):
    """What asyncpg's errors look like behind SQLAlchemy's adapter: a SQLSTATE attribute."""

    def __init__(self, sqlstate: str, message: str) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    ("sqlstate", "status"),
    [
        pytest.param("22P02", 422, id="invalid-text-representation"),
        pytest.param("22003", 422, id="numeric-out-of-range"),
        pytest.param("23505", 409, id="unique-violation"),
        pytest.param("23503", 422, id="foreign-key-violation"),
        pytest.param("57P01", 503, id="admin-shutdown"),
        pytest.param("08006", 503, id="connection-failure"),
    ],
)
async def test_driver_errors_are_answered_by_their_sqlstate_class(
    sqlstate: str, status: int
) -> None:
    app = FastAPI()
    install_error_handlers(app)
    message = "duplicate key value violates unique constraint" if status == 409 else "refused"

    @app.get("/fail")
    async def fail() -> None:
        raise DBAPIError("INSERT …", None, DriverError(sqlstate, message))

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/fail")
    assert response.status_code == status
    assert response.json()["status"] == "error"


async def test_an_unexpected_error_is_a_nosniff_envelope() -> None:
    app = FastAPI()
    install_error_handlers(app)
    app.add_middleware(RequestIdMiddleware)

    @app.get("/crash")
    async def crash() -> None:
        raise RuntimeError("boom")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/crash")
    assert response.status_code == 500
    assert response.json()["data"]["code"] == "internal_error"
    assert response.headers.get_list("x-content-type-options") == ["nosniff"]
