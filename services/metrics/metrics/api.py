"""Read API of the dashboard: daily series and totals per tenant, and the operator view."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Annotated

import asyncpg
import orjson
from fastapi import APIRouter, Header, HTTPException, Query, Request, Response

from metrics import queries, report
from metrics.auth import KeyResolver, Principal

_JSON = "application/json"
_NO_STORE = {"Cache-Control": "no-store"}
_DEFAULT_DAYS = 30

Auth = Annotated[str | None, Header()]
From = Annotated[date | None, Query(alias="from")]
To = Annotated[date | None, Query(alias="to")]


def _json(text: str | bytes) -> Response:
    return Response(content=text, media_type=_JSON, headers=_NO_STORE)


def _error(status: int, detail: str, headers: dict[str, str] | None = None) -> Response:
    body = orjson.dumps({"detail": detail})
    return Response(body, status, headers=headers, media_type=_JSON)


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def _range(start: date | None, end: date | None, max_days: int) -> tuple[date, date]:
    end = end or datetime.now(UTC).date()
    start = start or end - timedelta(days=_DEFAULT_DAYS - 1)
    if start > end:
        raise HTTPException(422, "from must not be after to")
    if (end - start).days + 1 > max_days:
        raise HTTPException(422, f"range longer than {max_days} days")
    return start, end


def api_router(pool: asyncpg.Pool, resolver: KeyResolver, *, max_days: int) -> APIRouter:
    """Routes under /api; every one needs a bearer token."""
    router = APIRouter(prefix="/api", tags=["metrics"])

    async def caller(authorization: str | None) -> Principal:
        principal = await resolver.resolve(authorization)
        if principal is None:
            raise HTTPException(401, "unauthorized", headers={"WWW-Authenticate": "Bearer"})
        return principal

    async def operator(authorization: str | None) -> Principal:
        principal = await caller(authorization)
        if not principal.operator:
            raise HTTPException(403, "operator token required")
        return principal

    async def tenant_daily(request: Request) -> Response:
        # the dashboard's hot path: a plain Starlette route (no dependency injection or
        # response validation), the body built by PostgreSQL and passed through as bytes
        try:
            cid = str(uuid.UUID(request.path_params["client_id"]))
            query = request.query_params
            start, end = (_day(query.get(name)) for name in ("from", "to"))
        except ValueError:
            return _error(422, "invalid client id or date")
        principal = await resolver.resolve(request.headers.get("authorization"))
        if principal is None:
            return _error(401, "unauthorized", {"WWW-Authenticate": "Bearer"})
        if not principal.may_read(cid):
            return _error(404, "not found")
        try:
            first, last = _range(start, end, max_days)
        except HTTPException as exc:
            return _error(exc.status_code, str(exc.detail))
        return _json(await report.tenant_daily(pool, cid, first, last))

    # add_route (unlike the decorators) does not apply the router prefix
    router.add_route(
        router.prefix + "/clients/{client_id}/metrics/daily", tenant_daily, methods=["GET"]
    )

    @router.get("/metrics/daily")
    async def operator_daily(
        authorization: Auth = None, start: From = None, end: To = None
    ) -> Response:
        await operator(authorization)
        first, last = _range(start, end, max_days)
        return _json(await queries.operator_daily(pool, first, last))

    @router.get("/metrics/tenants")
    async def tenants(authorization: Auth = None) -> Response:
        await operator(authorization)
        return _json(await queries.tenant_list(pool))

    @router.get("/whoami")
    async def whoami(authorization: Auth = None) -> Response:
        principal = await caller(authorization)
        body = {
            "role": "operator" if principal.operator else "tenant",
            "client_id": principal.client_id,
            "name": principal.name,
        }
        return Response(content=orjson.dumps(body), media_type=_JSON, headers=_NO_STORE)

    return router
