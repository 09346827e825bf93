"""Admin routes for a tenant's console accounts (owners and agents)."""

from __future__ import annotations

import asyncpg
from fastapi import APIRouter, Depends, HTTPException, status

from meta_gateway.admin.auth import ADMIN_RESPONSES, require_admin, tenant_or_404
from wacommon.console import passwords
from wacommon.console.users import UserCreate, UserOut, user_out
from wacommon.infra.settings import Settings
from wacommon.repositories import users as users_repo
from wacommon.web.api_types import TenantPath
from wacommon.web.http_errors import error_responses


def users_router(settings: Settings, pool: asyncpg.Pool) -> APIRouter:
    """`/admin/clients/{id}/users`."""
    router = APIRouter(
        prefix="/admin", tags=["admin"], dependencies=[Depends(require_admin(settings))]
    )

    async def existing_tenant(tenant_id: str) -> str:
        return await tenant_or_404(pool, tenant_id)

    @router.post(
        "/clients/{client_id}/users",
        status_code=status.HTTP_201_CREATED,
        response_model=UserOut,
        responses={
            **ADMIN_RESPONSES,
            **error_responses({409: "this email already has an account"}),
        },
    )
    async def create_user(tenant_id: TenantPath, body: UserCreate) -> UserOut:
        """Create a console account (owner or agent) for the tenant."""
        cid = await existing_tenant(tenant_id)
        try:
            row = await users_repo.create_user(
                pool,
                tenant_id=cid,
                email=body.email,
                name=body.name,
                role=body.role,
                password_hash=await passwords.hash_password(body.password),
            )
        except users_repo.EmailTaken:
            raise HTTPException(
                status.HTTP_409_CONFLICT, "email already used by a console account"
            ) from None
        return user_out(row)

    @router.get(
        "/clients/{client_id}/users", response_model=list[UserOut], responses=ADMIN_RESPONSES
    )
    async def list_users(tenant_id: TenantPath) -> list[UserOut]:
        """The tenant's console accounts."""
        cid = await existing_tenant(tenant_id)
        return [user_out(r) for r in await users_repo.list_users(pool, cid)]

    return router
