"""`/clientes`: the operator's tenant chooser (operators only; owners and agents get 403).

Choosing posts a plain form (CSRF field, no script needed) that stores the tenant in the
operator's session; every page, fragment, API call and the event stream of that session
then work in it (see docs/console-inbox.md, "Operators").
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from console.auth.deps import csrf_ok, optional_session
from console.auth.models import Session
from console.deps import ConsoleDeps, get_deps
from console.operator_api import choose_tenant
from console.pages.api_client import api_get
from console.pages.common import acting_tenant, error_page, redirect, to_login, viewer
from console.pages.render import is_htmx, render


async def tenants(
    request: Request,
    session: Session | None = Depends(optional_session),
    deps: ConsoleDeps = Depends(get_deps),
) -> Response:
    who = await viewer(deps, session.user if session else None)
    if who is None:
        if is_htmx(request):
            return HTMLResponse("", status_code=401)
        return to_login(request)
    if who.user.role != "operator":
        return error_page(request, who, 403)
    q = (request.query_params.get("q") or "").strip()[:100]
    fragment = request.query_params.get("fragment") if is_htmx(request) else None
    cursor = request.query_params.get("cursor") if fragment == "more" else None
    # the list is the operator API's, read in-process (one definition of who sees it)
    answer = await api_get(request, "/api/operator/tenants", {"q": q, "cursor": cursor})
    if answer.status == 401:
        return to_login(request)
    if not answer.ok:
        return error_page(request, who, 403 if answer.status == 403 else 404)
    acting = acting_tenant(request)
    context: dict[str, Any] = {
        "nav": "tenants",
        "q": q,
        "tenants": answer.data["tenants"],
        "next_cursor": answer.data.get("next_cursor"),
        "acting_id": str(acting.id) if acting else "",
    }
    template = {"list": "_tenant_list.html", "more": "_tenant_items.html"}.get(
        fragment or "", "tenants.html"
    )
    return render(request, template, who.user, context, sound_on=who.sound_on)


async def choose(
    request: Request,
    session: Session | None = Depends(optional_session),
    deps: ConsoleDeps = Depends(get_deps),
) -> Response:
    """The chooser's form: `tenant_id` and `csrf_token`; then the tenant's inbox."""
    who = await viewer(deps, session.user if session else None)
    if who is None or session is None:
        return to_login(request)
    if who.user.role != "operator" or not await csrf_ok(request, session):
        return error_page(request, who, 403)
    form = await request.form()
    raw = form.get("tenant_id")
    try:
        tenant = UUID(raw if isinstance(raw, str) else "")
    except ValueError:
        return error_page(request, who, 404)
    try:
        await choose_tenant(deps, session, tenant)
    except HTTPException as exc:
        if exc.status_code == 401:
            return to_login(request)
        return error_page(request, who, 404)
    return redirect("/inbox")


def tenants_router() -> APIRouter:
    """This module's routes, in the order they are matched (the handlers are above)."""
    router = APIRouter(tags=["pages"], include_in_schema=False)
    router.add_api_route("/clientes", tenants, methods=["GET"])
    router.add_api_route("/clientes/escolher", choose, methods=["POST"])
    return router
