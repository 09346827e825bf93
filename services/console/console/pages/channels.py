"""`/canais`: the tenant's channels and the set-up of each provider (owners only).

The page is a list of provider sections (`SECTIONS`), each its own template, so another
provider's section sits beside these without touching them. Uazapi's connection panel is
an htmx fragment: it shows the QR code (or pairing code) and re-reads itself every two
seconds while Uazapi says `connecting`, and stops once connected or expired.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import ValidationError

from console.auth.deps import csrf_ok, optional_session, optional_user
from console.auth.models import CurrentUser, Session
from console.channels import lancepilot, uazapi
from console.channels.health import list_channels
from console.deps import ConsoleDeps, get_deps
from console.pages.common import error_page, owner_page
from console.pages.render import render

# every provider section of the page: (key, template); a provider adds its own line
SECTIONS: list[tuple[str, str]] = [
    ("uazapi", "channels_uazapi.html"),
    ("lancepilot", "channels_lancepilot.html"),
]
POLL_SECONDS = 2
# the Uazapi panel's fragment URLs: /canais/uazapi/{id}/{action}
PANEL_ACTIONS = {"painel": "GET", "conectar": "POST", "desconectar": "POST"}


def _reason(exc: Exception) -> tuple[str | None, str]:
    """(field, sentence) of a refused request, for a fragment that shows it in place."""
    if isinstance(exc, RequestValidationError):
        first = exc.errors()[0]
        return str(first["loc"][-1]), str(first["msg"])
    if isinstance(exc, HTTPException):
        return None, str(exc.detail)
    return None, str(exc)


def _tenant_query(request: Request) -> str:
    """Operators name the tenant in the query: fragment URLs keep it."""
    raw = request.query_params.get("tenant_id")
    return f"?tenant_id={raw}" if raw else ""


async def _panel_action(
    request: Request, deps: ConsoleDeps, tenant: UUID, instance_id: str, action: str
) -> dict[str, Any]:
    if action == "painel":
        return await uazapi.status(deps, tenant, instance_id)
    if action == "desconectar":
        return await uazapi.disconnect(deps, tenant, instance_id)
    phone = (await request.form()).get("phone")
    try:
        body = uazapi.UazapiConnect(phone=str(phone) if phone else None)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None
    return await uazapi.connect(deps, tenant, instance_id, body)


async def channels(
    request: Request,
    user: CurrentUser | None = Depends(optional_user),
    deps: ConsoleDeps = Depends(get_deps),
) -> Response:
    found = await owner_page(request, deps, user)
    if isinstance(found, Response):
        return found
    who, tenant = found
    items = await list_channels(deps.pool, deps.secrets, tenant, deps.settings.public_base_url)
    lp = await lancepilot.current(deps, tenant)
    return render(
        request,
        "channels.html",
        who.user,
        {
            "nav": "channels",
            "channels": items,
            "sections": [{"key": key, "template": tpl} for key, tpl in SECTIONS],
            "uazapi_instances": [c for c in items if c["provider_type"] == "uazapi"],
            "uazapi_can_create": deps.settings.uazapi_admin_token is not None,
            "uazapi_default_url": deps.settings.uazapi_url,
            "lancepilot": next((c for c in items if lp and c["id"] == str(lp["id"])), None),
            "tenant_query": _tenant_query(request),
        },
        sound_on=who.sound_on,
    )


async def uazapi_panel(
    request: Request,
    instance_id: str,
    action: str,
    session: Session | None = Depends(optional_session),
    deps: ConsoleDeps = Depends(get_deps),
) -> Response:
    """The live status (`painel`, polled while connecting), `conectar` (a QR code, or a
    pairing code when the form carries `phone`) and `desconectar`."""
    found = await owner_page(request, deps, session.user if session else None)
    if isinstance(found, Response):
        return found
    who, tenant = found
    if PANEL_ACTIONS.get(action) != request.method:
        return error_page(request, who, 404)
    # a form post changes the instance: it must carry the session's CSRF token
    if request.method == "POST" and (session is None or not await csrf_ok(request, session)):
        return error_page(request, who, 403)
    context: dict[str, Any] = {
        "instance_id": instance_id,
        "poll_seconds": POLL_SECONDS,
        "tenant_query": _tenant_query(request),
        "state": None,
        "error": None,
        "error_field": None,
    }
    try:
        context["state"] = await _panel_action(request, deps, tenant, instance_id, action)
    except (HTTPException, RequestValidationError) as exc:
        if isinstance(exc, HTTPException) and exc.status_code == 404:
            return error_page(request, who, 404)
        context["error_field"], context["error"] = _reason(exc)
    return render(request, "_uazapi_panel.html", who.user, context)


def channels_router() -> APIRouter:
    """This module's routes, in the order they are matched (the handlers are above)."""
    router = APIRouter(tags=["pages"], include_in_schema=False)
    router.add_api_route("/canais", channels, methods=["GET"])
    router.add_api_route(
        "/canais/uazapi/{instance_id}/{action}",
        uazapi_panel,
        methods=["GET", "POST"],
    )
    return router
