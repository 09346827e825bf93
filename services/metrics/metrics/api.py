"""Read API of the dashboard: daily series and totals per tenant, and the operator view."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Annotated
from urllib.parse import parse_qsl

import asyncpg
import orjson
import structlog
from fastapi import APIRouter, Header, HTTPException, Query, Response
from pydantic import BeforeValidator
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from metrics import queries, report
from metrics.auth import KeyResolver, Principal
from wacommon.metrics.ranges import ISO_DAY, RangeRefused
from wacommon.web.http_errors import invalid

log = structlog.get_logger(__name__)

_JSON = "application/json"
_JSON_BYTES = _JSON.encode()
TENANT_DAILY_PATH = "/api/clients/{client_id}/metrics/daily"
_TENANT_DAILY = re.compile(r"/api/clients/([^/]+)/metrics/daily")
_NO_STORE = {"Cache-Control": "no-store"}
_DEFAULT_DAYS = 30


def _iso_day(value: object) -> object:
    """Only `YYYY-MM-DD` is a day here (pydantic alone would take `0` as 1970-01-01)."""
    if value is not None and not (isinstance(value, str) and ISO_DAY.fullmatch(value)):
        raise ValueError("expected a date as YYYY-MM-DD")
    return value


Auth = Annotated[str | None, Header()]
From = Annotated[date | None, BeforeValidator(_iso_day), Query(alias="from")]
To = Annotated[date | None, BeforeValidator(_iso_day), Query(alias="to")]


def _json(text: str | bytes) -> Response:
    return Response(content=text, media_type=_JSON, headers=_NO_STORE)


def _failure(
    status: int, detail: str, extra: list[tuple[bytes, bytes]] | None = None
) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
    headers = [(b"content-type", _JSON_BYTES), *(extra or [])]
    return status, orjson.dumps({"detail": detail}), headers


def _header(scope: Scope, name: bytes) -> str | None:
    # the first one, as Starlette's Headers.get (ASGI header names are lower-case)
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _day(value: str | None) -> date | None:
    return date.fromisoformat(str(_iso_day(value))) if value else None


def _range(start: date | None, end: date | None, max_days: int) -> tuple[date, date]:
    end = end or datetime.now(UTC).date()
    start = start or end - timedelta(days=_DEFAULT_DAYS - 1)
    if start > end:
        raise RangeRefused("from", "from must not be after to")
    if (end - start).days + 1 > max_days:
        raise RangeRefused("from", f"range longer than {max_days} days")
    return start, end


class TenantDaily:
    """`GET /api/clients/{client_id}/metrics/daily`, the dashboard's hot path, as an ASGI app.

    A plain endpoint function would go through Starlette's Request/Response objects and
    exception wrapper on every read; reading the scope and sending the two messages
    directly keeps the per-read Python work to auth, the query and the report. Errors
    are answered here as the FastAPI routes answer them (`{"detail": ...}`).
    """

    def __init__(self, pool: asyncpg.Pool, resolver: KeyResolver, max_days: int) -> None:
        self._pool = pool
        self._resolver = resolver
        self._max_days = max_days

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            status, body, headers = await self._answer(scope)
        except Exception:
            # nothing was sent yet: answer like FastAPI's error middleware would
            log.exception("tenant_daily_failed", path=scope.get("path"))
            status, body, headers = _failure(500, "Internal Server Error")
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _answer(self, scope: Scope) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        try:
            cid = str(uuid.UUID(scope["path_params"]["client_id"]))
            # as Starlette's QueryParams: latin-1 bytes, %-escapes as UTF-8, last value wins
            query = dict(parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True))
            start, end = _day(query.get("from")), _day(query.get("to"))
        except ValueError:
            return _failure(422, "invalid client id or date")
        principal = await self._resolver.resolve(_header(scope, b"authorization"))
        if principal is None:
            return _failure(401, "unauthorized", [(b"www-authenticate", b"Bearer")])
        if not principal.may_read(cid):
            return _failure(404, "not found")
        try:
            first, last = _range(start, end, self._max_days)
        except RangeRefused as exc:
            return _failure(422, exc.reason)
        body = await report.tenant_daily(self._pool, cid, first, last)
        return 200, body, [(b"cache-control", b"no-store"), (b"content-type", _JSON_BYTES)]


def tenant_daily_route(tenant_daily: TenantDaily) -> Route:
    """The tenant read as a route of the FastAPI app too (HEAD, and 405 for other methods)."""
    return Route(TENANT_DAILY_PATH, tenant_daily, methods=["GET"])


class TenantDailyFirst:
    """Answers `GET` of the tenant read before the FastAPI app; everything else goes to `app`.

    Inside FastAPI the read crossed five middleware layers and the router (error, telemetry,
    body limit, exception and exit-stack middleware) that cost ~14 % of the service's CPU
    per read under load; `TenantDaily` answers its own errors, so it needs none of them.
    """

    def __init__(self, app: ASGIApp, tenant_daily: TenantDaily) -> None:
        self._app = app
        self._tenant_daily = tenant_daily

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            match = _TENANT_DAILY.fullmatch(scope["path"])
            if match is not None:
                scope["path_params"] = {"client_id": match.group(1)}
                await self._tenant_daily(scope, receive, send)
                return
        await self._app(scope, receive, send)


def api_router(pool: asyncpg.Pool, resolver: KeyResolver, *, max_days: int) -> APIRouter:
    """The operator routes under /api (the tenant read is `tenant_daily_route`)."""
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

    @router.get("/metrics/daily")
    async def operator_daily(
        authorization: Auth = None, start: From = None, end: To = None
    ) -> Response:
        await operator(authorization)
        try:
            first, last = _range(start, end, max_days)
        except RangeRefused as exc:
            raise invalid(("query", exc.field), exc.reason) from None
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
            "client_id": principal.tenant_id,
            "name": principal.name,
        }
        return Response(content=orjson.dumps(body), media_type=_JSON, headers=_NO_STORE)

    return router
