"""Operator-only API: the tenant list (`/api/operator/tenants`) and the tenant the
operator's session works in (`/api/operator/acting-tenant`).

Owners and agents get 403 on all of it: they belong to one tenant and never choose.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Query, status
from pydantic import BaseModel, ConfigDict

from console.auth.deps import NOT_SIGNED_IN, current_session, require_operator
from console.auth.models import ActingTenant, CurrentUser, Session
from console.deps import ConsoleDeps, get_deps
from console.tenant_directory import MAX_LIMIT, BadCursor, list_tenants, tenant_name

NO_TENANT = "cliente não encontrado"


class ActingTenantIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tenant_id: UUID


async def choose_tenant(deps: ConsoleDeps, session: Session, tenant_id: UUID) -> ActingTenant:
    """Make `tenant_id` the session's tenant (404 when no such tenant; 401 if the session
    ended meanwhile). Shared by the API and the chooser page's form."""
    name = await tenant_name(deps.pool, tenant_id)
    if name is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, NO_TENANT)
    acting = ActingTenant(tenant_id, name)
    if not await deps.sessions.set_acting(session, acting):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, NOT_SIGNED_IN)
    return acting


def operator_router() -> APIRouter:
    router = APIRouter(prefix="/api/operator", tags=["operator"])

    @router.get("/tenants")
    async def tenants(
        q: str = Query("", max_length=100),
        cursor: str | None = Query(None, max_length=400),
        limit: int = Query(50, ge=1, le=MAX_LIMIT),
        _: CurrentUser = Depends(require_operator),
        deps: ConsoleDeps = Depends(get_deps),
    ) -> dict[str, Any]:
        """Tenants by name (`q`: part of the name or at least 3 digits of a number), each
        with its active numbers and how many conversations a human holds."""
        try:
            page, next_cursor = await list_tenants(deps.pool, q=q, cursor=cursor, limit=limit)
        except BadCursor:
            raise HTTPException(422, "cursor inválido") from None
        return {"tenants": page, "next_cursor": next_cursor}

    @router.get("/acting-tenant")
    async def current(
        _: CurrentUser = Depends(require_operator),
        session: Session = Depends(current_session),
    ) -> dict[str, Any]:
        return {"tenant": session.acting.to_json() if session.acting else None}

    @router.put("/acting-tenant")
    async def choose(
        body: ActingTenantIn,
        _: CurrentUser = Depends(require_operator),
        session: Session = Depends(current_session),
        deps: ConsoleDeps = Depends(get_deps),
    ) -> dict[str, Any]:
        """Work in this tenant: pages, API calls without `tenant_id` and the event stream
        of this session follow it until changed or cleared."""
        acting = await choose_tenant(deps, session, body.tenant_id)
        return {"tenant": acting.to_json()}

    @router.delete("/acting-tenant")
    async def clear(
        _: CurrentUser = Depends(require_operator),
        session: Session = Depends(current_session),
        deps: ConsoleDeps = Depends(get_deps),
    ) -> dict[str, Any]:
        if not await deps.sessions.set_acting(session, None):
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, NOT_SIGNED_IN)
        return {"tenant": None}

    return router
