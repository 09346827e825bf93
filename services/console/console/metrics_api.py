"""`GET /api/metrics`: the metrics page's numbers as JSON (owners and operators; agents 403).

Query: `from`, `to` (YYYY-MM-DD, default the last 7 days up to today) or `days` (the last
N days), and for operators `tenant_id` (absent: every tenant, with each one's totals).
An owner naming another tenant gets 404, as for any other tenant's object.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request, status

from console.auth.deps import require_owner
from console.auth.models import CurrentUser
from console.deps import ConsoleDeps, get_deps
from console.metrics_view import UnknownTenant, load, parse_query
from wacommon.metrics.ranges import RangeRefused
from wacommon.web.http_errors import invalid


def metrics_router() -> APIRouter:
    router = APIRouter(prefix="/api", tags=["metrics"])

    @router.get("/metrics")
    async def metrics(
        request: Request,
        user: CurrentUser = Depends(require_owner),
        deps: ConsoleDeps = Depends(get_deps),
    ) -> dict[str, Any]:
        """Days of the range (today live, `live: true`), totals, handover causes, tenants."""
        try:
            query = await parse_query(deps, user, request.query_params)
        except UnknownTenant:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "cliente não encontrado") from None
        except RangeRefused as exc:
            raise invalid(("query", exc.field), exc.reason) from None
        return await load(deps, query)

    return router
