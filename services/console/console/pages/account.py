"""`/conta`: the signed-in user's own name, language, sound, alert number and password."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from console.auth.deps import optional_user
from console.auth.models import CurrentUser
from console.deps import ConsoleDeps, get_deps
from console.pages.common import to_login, viewer
from console.pages.render import render

# the API these forms talk to (console-core owns it)
ACCOUNT_API: dict[str, str] = {
    "password_url": "/api/me",
    "password_method": "PATCH",
    "password_field": "new_password",
}


def account_router() -> APIRouter:
    router = APIRouter(tags=["pages"], include_in_schema=False)

    @router.get("/conta")
    async def account(
        request: Request,
        user: CurrentUser | None = Depends(optional_user),
        deps: ConsoleDeps = Depends(get_deps),
    ) -> Response:
        who = await viewer(deps, user)
        if who is None:
            return to_login(request)
        me = {
            "name": who.row["name"],
            "locale": who.row.get("locale") or "pt-BR",
            "notify_sound": bool(who.row.get("notify_sound", True)),
            "alert_whatsapp": who.row.get("alert_whatsapp"),
        }
        return render(
            request,
            "account.html",
            who.user,
            {"nav": "account", "me": me, "api": ACCOUNT_API},
            sound_on=who.sound_on,
        )

    return router
