"""`/canais/meta`: connect a WhatsApp Cloud API number and run it (owners only; an agent
gets the 403 page). The page reads and writes through `/api/channels/meta`."""

from __future__ import annotations

from typing import get_args

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from console.auth.deps import optional_user
from console.auth.models import CurrentUser
from console.channels.meta_graph import number_view, signup_mode, tenant_numbers
from console.channels.meta_models import PROFILE_LIMITS
from console.deps import ConsoleDeps, get_deps
from console.pages.common import (
    owner_page,
)
from console.pages.render import CSP, render
from wacommon.providers.meta.admin import Vertical

API = "/api/channels/meta"
# (field, input kind, max length) in the order WhatsApp shows a profile
PROFILE_FORM = (
    ("about", "text", PROFILE_LIMITS["about"]),
    ("description", "textarea", PROFILE_LIMITS["description"]),
    ("address", "text", PROFILE_LIMITS["address"]),
    ("email", "email", PROFILE_LIMITS["email"]),
    ("websites", "text", 520),
    ("vertical", "select", 0),
)
# Facebook's SDK: its script, the login popup's frames and its calls (only with META_APP_ID)
SDK_CSP = (
    CSP.replace("script-src 'self'", "script-src 'self' https://connect.facebook.net").replace(
        "connect-src 'self'",
        "connect-src 'self' https://*.facebook.com https://connect.facebook.net",
    )
    + "; frame-src https://*.facebook.com"
)


def channels_meta_router() -> APIRouter:
    router = APIRouter(tags=["pages"], include_in_schema=False)

    @router.get("/canais/meta")
    async def channels_meta(
        request: Request,
        user: CurrentUser | None = Depends(optional_user),
        deps: ConsoleDeps = Depends(get_deps),
    ) -> Response:
        found = await owner_page(request, deps, user)
        if isinstance(found, Response):
            return found
        who, tenant = found
        mode = signup_mode(deps.settings)
        numbers = [number_view(r) for r in await tenant_numbers(deps, tenant)]
        page = render(
            request,
            "channels_meta.html",
            who.user,
            {
                "nav": "channels_meta",
                "api": API,
                "mode": mode,
                "graph_version": deps.settings.meta_graph_version,
                "numbers": numbers,
                "profile_fields": PROFILE_FORM,
                "verticals": [v for v in get_args(Vertical) if v != "UNDEFINED"],
            },
            sound_on=who.sound_on,
        )
        if mode.kind == "sdk":
            page.headers["Content-Security-Policy"] = SDK_CSP
        return page

    return router
