"""`/testar` ("Testar o bot"): the page, its polled thread, the composer and the reset.

Owners (and operators working in a tenant) only: an agent gets the 403 page, and 403 from
every fragment. Everything is scoped to the session's tenant; the test customer is the
user's own (`contact.py`).
"""

from __future__ import annotations

import uuid
from typing import Any
from uuid import UUID

import structlog
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from pydantic import ValidationError

from console.auth.deps import optional_user, require_owner, tenant_scope
from console.auth.models import CurrentUser
from console.deps import ConsoleDeps, get_deps
from console.pages.common import (
    owner_page,
)
from console.pages.render import PAGE_HEADERS, render, translator_for
from console.sandbox.contact import current_contact, reset_contact
from console.sandbox.publish import NotPublished, publish_typed
from console.sandbox.thread import SandboxThread, load_thread
from wacommon.providers.sandbox import MAX_TEXT, SandboxWebhook

log = structlog.get_logger(__name__)

POLL_MS = 1500
TEST_CUSTOMER = "Cliente de teste"


def _new_mid() -> str:
    return uuid.uuid4().hex


def _urls(tenant: UUID) -> dict[str, str]:
    query = f"?tenant_id={tenant}"
    return {
        "thread": f"/testar/conversa{query}",
        "send": f"/testar/mensagens{query}",
        "reset": f"/testar/reiniciar{query}",
    }


async def _thread(deps: ConsoleDeps, tenant: UUID, user: CurrentUser) -> SandboxThread:
    contact = await current_contact(deps.redis, deps.settings, str(tenant), str(user.id))
    return await load_thread(deps.pool, str(tenant), contact, dict(deps.settings.metrics_prices))


def _composer(
    request: Request,
    user: CurrentUser,
    tenant: UUID,
    *,
    text: str = "",
    mid: str | None = None,
    error: str | None = None,
    status_code: int = 200,
    refresh: bool = False,
) -> Response:
    response = render(
        request,
        "_sandbox_composer.html",
        user,
        {
            "urls": _urls(tenant),
            "text": text,
            "mid": mid or _new_mid(),
            "error": error,
            "max_text": MAX_TEXT,
        },
        status_code=status_code,
    )
    if refresh:
        response.headers["HX-Trigger"] = "sandbox-refresh"
    return response


def _thread_fragment(
    request: Request, user: CurrentUser, tenant: UUID, thread: SandboxThread
) -> Response:
    return render(
        request,
        "_sandbox_thread.html",
        user,
        {"thread": thread, "urls": _urls(tenant), "poll_ms": POLL_MS},
    )


async def page(
    request: Request,
    user: CurrentUser | None = Depends(optional_user),
    deps: ConsoleDeps = Depends(get_deps),
) -> Response:
    found = await owner_page(request, deps, user)
    if isinstance(found, Response):
        return found
    who, tenant = found
    thread = await _thread(deps, tenant, who.user)
    return render(
        request,
        "sandbox.html",
        who.user,
        {
            "nav": "sandbox",
            "thread": thread,
            "urls": _urls(tenant),
            "poll_ms": POLL_MS,
            "text": "",
            "mid": _new_mid(),
            "error": None,
            "max_text": MAX_TEXT,
        },
        sound_on=who.sound_on,
    )


async def thread(
    request: Request,
    v: str = "",
    user: CurrentUser = Depends(require_owner),
    tenant: UUID = Depends(tenant_scope),
    deps: ConsoleDeps = Depends(get_deps),
) -> Response:
    """The thread, or 204 when nothing changed since version `v` (htmx keeps it)."""
    current = await _thread(deps, tenant, user)
    if v and v == current.version:
        return Response(status_code=204, headers=PAGE_HEADERS)
    return _thread_fragment(request, user, tenant, current)


async def send(
    request: Request,
    text: str = Form(default=""),
    mid: str = Form(default=""),
    user: CurrentUser = Depends(require_owner),
    tenant: UUID = Depends(tenant_scope),
    deps: ConsoleDeps = Depends(get_deps),
) -> Response:
    """Publish the typed message as the test customer's; the composer comes back empty."""
    t = translator_for(request, user)
    contact = await current_contact(deps.redis, deps.settings, str(tenant), str(user.id))
    try:
        body = SandboxWebhook(id=mid, contact=contact, name=TEST_CUSTOMER, text=text.strip())
    except ValidationError as exc:
        field = str(exc.errors()[0]["loc"][0])
        message = _invalid(t, field, text)
        return _composer(request, user, tenant, text=text, mid=mid, error=message, status_code=422)
    try:
        await publish_typed(deps.publisher, str(tenant), body)
    except NotPublished as exc:
        log.warning("sandbox_not_published", error=str(exc))
        return _composer(
            request,
            user,
            tenant,
            text=text,
            mid=mid,
            error=t("sandbox.not_sent"),
            status_code=503,
        )
    return _composer(request, user, tenant, refresh=True)


async def reset(
    request: Request,
    user: CurrentUser = Depends(require_owner),
    tenant: UUID = Depends(tenant_scope),
    deps: ConsoleDeps = Depends(get_deps),
) -> Response:
    """A new test customer: the bot has never seen them."""
    await reset_contact(deps.redis, deps.settings, str(tenant), str(user.id))
    return _thread_fragment(request, user, tenant, await _thread(deps, tenant, user))


def sandbox_router() -> APIRouter:
    """This module's routes, in the order they are matched (the handlers are above)."""
    router = APIRouter(tags=["pages"], include_in_schema=False)
    router.add_api_route("/testar", page, methods=["GET"])
    router.add_api_route("/testar/conversa", thread, methods=["GET"])
    router.add_api_route("/testar/mensagens", send, methods=["POST"])
    router.add_api_route("/testar/reiniciar", reset, methods=["POST"])
    return router


def _invalid(t: Any, field: str, text: str) -> str:
    if field == "text":
        if not text.strip():
            return str(t("sandbox.text_empty"))
        return str(t("sandbox.text_too_long", max=MAX_TEXT))
    return str(t("sandbox.bad_field", field=field))
