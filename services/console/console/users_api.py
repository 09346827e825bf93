"""The team: owners list, add and change their own tenant's accounts (`/api/users`)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, status
from pydantic import BaseModel, ConfigDict

from console.auth.deps import require_owner, tenant_scope
from console.auth.models import CurrentUser
from console.deps import ConsoleDeps, get_deps
from wacommon.console import passwords
from wacommon.console.users import Name, Password, TenantRole, UserCreate, UserOut, user_out
from wacommon.repositories import users as users_repo

USER_NOT_FOUND = "usuário não encontrado"
EMAIL_TAKEN = "este e-mail já é usado por outra conta"
LAST_OWNER = "a conta precisa de pelo menos um proprietário ativo"


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    role: TenantRole | None = None
    is_active: bool | None = None
    password: Password | None = None


async def list_users(
    _: CurrentUser = Depends(require_owner),
    tenant: UUID = Depends(tenant_scope),
    deps: ConsoleDeps = Depends(get_deps),
) -> list[UserOut]:
    """Every account of the tenant."""
    return [user_out(r) for r in await users_repo.list_users(deps.pool, str(tenant))]


async def create_user(
    body: UserCreate,
    _: CurrentUser = Depends(require_owner),
    tenant: UUID = Depends(tenant_scope),
    deps: ConsoleDeps = Depends(get_deps),
) -> UserOut:
    """Add an agent or another owner to the tenant."""
    try:
        row = await users_repo.create_user(
            deps.pool,
            tenant_id=str(tenant),
            email=body.email,
            name=body.name,
            role=body.role,
            password_hash=await passwords.hash_password(body.password),
        )
    except users_repo.EmailTaken:
        raise HTTPException(status.HTTP_409_CONFLICT, EMAIL_TAKEN) from None
    return user_out(row)


async def update_user(
    user_id: str,
    body: UserUpdate,
    _: CurrentUser = Depends(require_owner),
    tenant: UUID = Depends(tenant_scope),
    deps: ConsoleDeps = Depends(get_deps),
) -> UserOut:
    """Rename, change role, (de)activate or set a new password; the change applies to the
    user's open sessions at once (a deactivated account or a new password ends them)."""
    uid = _parse(user_id)
    fields: dict[str, Any] = body.model_dump(exclude_none=True, exclude={"password"})
    if body.password is not None:
        fields["password_hash"] = await passwords.hash_password(body.password)
    async with deps.pool.acquire() as conn, conn.transaction():
        current = await conn.fetchrow(
            "SELECT role, is_active FROM console_users WHERE id = $1 AND client_id = $2 FOR UPDATE",
            uid,
            tenant,
        )
        if current is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, USER_NOT_FOUND)
        stops_owning = current["role"] == "owner" and current["is_active"]
        stops_owning = stops_owning and (
            fields.get("role", "owner") != "owner" or fields.get("is_active", True) is False
        )
        if stops_owning:
            # serialises concurrent demotions of a tenant's owners
            await conn.execute(
                "SELECT 1 FROM console_users WHERE client_id = $1 AND role = 'owner' FOR UPDATE",
                tenant,
            )
            if await users_repo.count_active_owners(conn, str(tenant)) <= 1:
                raise HTTPException(status.HTTP_409_CONFLICT, LAST_OWNER)
        row = await users_repo.update_user(conn, str(uid), fields, str(tenant))
    assert row is not None
    if row["is_active"] is False or body.password is not None:
        await deps.sessions.revoke_user(uid)
    else:
        await deps.sessions.refresh_user(CurrentUser.from_row(row))
    return user_out(row)


def users_router() -> APIRouter:
    """This module's routes, in the order they are matched (the handlers are above)."""
    router = APIRouter(prefix="/api/users", tags=["users"])
    router.add_api_route("", list_users, methods=["GET"], response_model=list[UserOut])
    router.add_api_route(
        "",
        create_user,
        methods=["POST"],
        response_model=UserOut,
        status_code=status.HTTP_201_CREATED,
    )
    router.add_api_route("/{user_id}", update_user, methods=["PATCH"], response_model=UserOut)
    return router


def _parse(user_id: str) -> UUID:
    try:
        return UUID(user_id)
    except ValueError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, USER_NOT_FOUND) from None
