"""`/equipe`: the tenant's people (owners only; an agent gets a 403 page in Portuguese)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from console.auth.deps import optional_user
from console.auth.models import CurrentUser
from console.deps import ConsoleDeps, get_deps
from console.pages.common import OwnerPage, owner_page
from console.pages.render import render
from wacommon.repositories import users as users_repo

# the owners' user management API (console-core) these forms post to
USERS_API: dict[str, str] = {
    "create_url": "/api/users",
    "update_url": "/api/users/{id}",
    "update_method": "PATCH",
    "reset_url": "/api/users/{id}",
    "reset_method": "PATCH",
}


def _user_view(row: dict[str, Any]) -> dict[str, Any]:
    last = row.get("last_login_at")
    return {
        "id": str(row["id"]),
        "name": row["name"],
        "email": row["email"],
        "role": row["role"],
        "is_active": bool(row["is_active"]),
        "last_login_at": last.isoformat() if last else None,
    }


def team_router() -> APIRouter:
    router = APIRouter(tags=["pages"], include_in_schema=False)

    @router.get("/equipe")
    async def team(
        request: Request,
        user: CurrentUser | None = Depends(optional_user),
        deps: ConsoleDeps = Depends(get_deps),
    ) -> Response:
        page = await owner_page(request, deps, user)
        if not isinstance(page, OwnerPage):
            return page
        who = page.who
        rows = await users_repo.list_users(deps.pool, str(page.tenant))
        return render(
            request,
            "team.html",
            who.user,
            {"nav": "team", "users": [_user_view(r) for r in rows], "api": USERS_API},
            sound_on=who.sound_on,
        )

    return router
