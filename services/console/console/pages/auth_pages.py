"""`/login` and `/` (which goes to the inbox)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from console.auth.deps import optional_user
from console.auth.models import CurrentUser
from console.deps import ConsoleDeps, get_deps
from console.pages.common import redirect, safe_next, viewer
from console.pages.render import render


def auth_pages_router() -> APIRouter:
    router = APIRouter(tags=["pages"], include_in_schema=False)

    @router.get("/")
    async def home() -> Response:
        return redirect("/inbox")

    @router.get("/login")
    async def login(
        request: Request,
        next: str | None = None,
        user: CurrentUser | None = Depends(optional_user),
        deps: ConsoleDeps = Depends(get_deps),
    ) -> Response:
        """The sign-in form; a signed-in user goes straight on."""
        if await viewer(deps, user) is not None:
            return redirect(safe_next(next))
        return render(request, "login.html", None, {"next_url": safe_next(next)})

    return router
