"""`/inbox` and `/inbox/{id}`: whole pages for a normal visit, fragments for htmx.

A URL answers the page or, with `HX-Request`, a fragment (`Vary: HX-Request` on every
answer; htmx keeps no history snapshots). The data comes from the inbox JSON API, called
in-process with the visitor's own session (`api_client`).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from console.auth.deps import optional_user
from console.auth.models import CurrentUser
from console.deps import ConsoleDeps, get_deps
from console.pages.api_client import ApiAnswer, api_get
from console.pages.common import (
    Viewer,
    error_page,
    needs_tenant_choice,
    page_tenant,
    to_chooser,
    unauthorized,
    viewer,
)
from console.pages.render import is_htmx, render
from console.pages.views import conversation_view, message_view, template_view
from wacommon.repositories import users as users_repo

STATES = ("human", "bot", "closed", "opted_out", "all")
DEFAULT_STATE = "all"
THREAD_PAGE = 50


def _list_args(request: Request) -> tuple[str, str]:
    state = request.query_params.get("state") or DEFAULT_STATE
    q = (request.query_params.get("q") or "").strip()[:100]
    return (state if state in STATES else DEFAULT_STATE), q


def _list_qs(state: str, q: str) -> str:
    """The list's filter, kept in conversation links so Back and reload show the same list."""
    params = {k: v for k, v in (("state", state if state != DEFAULT_STATE else ""), ("q", q)) if v}
    return "?" + urlencode(params) if params else ""


def _failed(request: Request, who: Viewer, answer: ApiAnswer) -> Response:
    if answer.status == 401:
        return unauthorized(request)
    return error_page(request, who, 403 if answer.status == 403 else 404)


async def _list(request: Request, state: str, q: str, cursor: str | None) -> ApiAnswer:
    return await api_get(request, "/api/conversations", {"state": state, "q": q, "cursor": cursor})


async def _assignable(deps: ConsoleDeps, request: Request, who: Viewer) -> list[dict[str, str]]:
    tenant = await page_tenant(request, deps, who.user)
    if tenant is None:
        return []
    rows = await users_repo.list_users(deps.pool, str(tenant))
    return [{"id": str(r["id"]), "name": str(r["name"])} for r in rows if r["is_active"]]


async def inbox(
    request: Request,
    user: CurrentUser | None = Depends(optional_user),
    deps: ConsoleDeps = Depends(get_deps),
) -> Response:
    who = await viewer(deps, user)
    if who is None:
        return unauthorized(request)
    if needs_tenant_choice(request, who.user):
        return to_chooser(request)
    state, q = _list_args(request)
    fragment = request.query_params.get("fragment") if is_htmx(request) else None
    cursor = request.query_params.get("cursor") if fragment == "more" else None
    answer = await _list(request, state, q, cursor)
    if not answer.ok:
        return _failed(request, who, answer)
    context: dict[str, Any] = {
        "nav": "inbox",
        "state": state,
        "q": q,
        "list_qs": _list_qs(state, q),
        "convs": [conversation_view(c) for c in answer.data["conversations"]],
        "next_cursor": answer.data.get("next_cursor"),
        "current_id": request.query_params.get("current") or "",
        "conv": None,
    }
    template = {"list": "_conv_list.html", "more": "_conv_items.html"}.get(
        fragment or "", "inbox.html"
    )
    return render(request, template, who.user, context, sound_on=who.sound_on)


async def conversation(
    conversation_id: str,
    request: Request,
    user: CurrentUser | None = Depends(optional_user),
    deps: ConsoleDeps = Depends(get_deps),
) -> Response:
    who = await viewer(deps, user)
    if who is None:
        return unauthorized(request)
    if needs_tenant_choice(request, who.user):
        return to_chooser(request)
    try:
        cid = str(UUID(conversation_id))
    except ValueError:
        return error_page(request, who, 404)
    head = await api_get(request, f"/api/conversations/{cid}")
    if not head.ok:
        return _failed(request, who, head)
    conv = conversation_view(head.data)
    fragment = request.query_params.get("fragment") if is_htmx(request) else None
    state, q = _list_args(request)
    context: dict[str, Any] = {
        "nav": "inbox",
        "conv": conv,
        "user_id": str(who.user.id),
        "fragment": fragment or "",
        "list_qs": _list_qs(state, q),
        "state": state,
        "q": q,
    }
    if fragment == "templates":
        found = await api_get(request, f"/api/conversations/{cid}/templates")
        context["templates"] = (
            [template_view(tp) for tp in found.data["templates"]] if found.ok else []
        )
        context["templates_error"] = None if found.ok else _detail(found)
        return render(request, "_templates.html", who.user, context, sound_on=who.sound_on)
    before = request.query_params.get("before") if fragment == "older" else None
    thread = await api_get(
        request,
        f"/api/conversations/{cid}/messages",
        {"before": before, "limit": THREAD_PAGE},
    )
    if not thread.ok:
        return _failed(request, who, thread)
    context["messages"] = [message_view(m) for m in thread.data["messages"]]
    context["older_cursor"] = thread.data.get("before")
    if fragment == "older":
        return render(request, "_older.html", who.user, context, sound_on=who.sound_on)
    context["agents"] = await _assignable(deps, request, who)
    if fragment == "live":
        return render(request, "_thread_live.html", who.user, context, sound_on=who.sound_on)
    if is_htmx(request):
        return render(request, "_thread.html", who.user, context, sound_on=who.sound_on)
    listed = await _list(request, state, q, None)
    if not listed.ok:
        return _failed(request, who, listed)
    context["convs"] = [conversation_view(c) for c in listed.data["conversations"]]
    context["next_cursor"] = listed.data.get("next_cursor")
    context["current_id"] = cid
    return render(request, "inbox.html", who.user, context, sound_on=who.sound_on)


def inbox_router() -> APIRouter:
    """This module's routes, in the order they are matched (the handlers are above)."""
    router = APIRouter(tags=["pages"], include_in_schema=False)
    router.add_api_route("/inbox", inbox, methods=["GET"])
    router.add_api_route("/inbox/{conversation_id}", conversation, methods=["GET"])
    return router


def _detail(answer: ApiAnswer) -> str | None:
    detail = answer.data.get("detail") if isinstance(answer.data, dict) else None
    return detail if isinstance(detail, str) else None
