"""Outages of the console's stores answer 503 with a reason, never a bare 500."""

from __future__ import annotations

import asyncpg
import redis.exceptions
import structlog
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

log = structlog.get_logger(__name__)

UNAVAILABLE = "serviço temporariamente indisponível: tente de novo em instantes"
OUTAGES: tuple[type[Exception], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.InterfaceError,
    ConnectionError,
    TimeoutError,
)


async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.warning("console_dependency_unavailable", path=request.url.path, error=type(exc).__name__)
    return JSONResponse({"detail": UNAVAILABLE}, status_code=503, headers={"Retry-After": "5"})


def install_outage_handlers(app: FastAPI) -> None:
    for exc_type in OUTAGES:
        app.add_exception_handler(exc_type, _unavailable)
