"""Operator authentication: `Authorization: Bearer <ADMIN_TOKEN>`, compared in constant time."""

from __future__ import annotations

import hmac
import uuid
from collections.abc import Awaitable, Callable

import asyncpg
from fastapi import HTTPException, Request, status

from wacommon.infra.settings import Settings
from wacommon.repositories import clients as clients_repo
from wacommon.web.http_errors import error_responses

# a list offset is bound to a PostgreSQL bigint: a huge one is a 422, not an overflow (a 500)
MAX_OFFSET = 2**31 - 1

# what every admin route may answer besides its own codes and the 422
ADMIN_RESPONSES = error_responses(
    {
        400: "the body could not be read (not UTF-8 or not the declared content type)",
        401: "missing or wrong operator token",
        404: "no such tenant or resource (another tenant's id answers the same)",
    }
)


def require_admin(settings: Settings) -> Callable[[Request], Awaitable[None]]:
    """A dependency refusing every call without the operator token (and all calls when none is set)."""
    expected = settings.admin_token.get_secret_value().encode() if settings.admin_token else b""

    async def check(request: Request) -> None:
        if not expected:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED, "admin API disabled: ADMIN_TOKEN is not configured"
            )
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected):
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "missing or wrong bearer token",
                headers={"WWW-Authenticate": "Bearer"},
            )

    return check


def parse_id(value: str, what: str) -> str:
    """A UUID path parameter; anything else is simply not found."""
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"{what} not found") from None


async def tenant_or_404(pool: asyncpg.Pool, tenant_id: str) -> str:
    """The tenant id named in a path, parsed; 404 when no such tenant exists."""
    cid = parse_id(tenant_id, "client")
    if await clients_repo.get_client(pool, cid) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "client not found")
    return cid
