"""What every page route shares: who is signed in, their stored preferences, error pages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote
from uuid import UUID

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from console.auth.models import ActingTenant, CurrentUser, Session
from console.deps import ConsoleDeps
from console.pages.render import PAGE_HEADERS, render, translator_for
from wacommon.repositories import users as users_repo


@dataclass(frozen=True, slots=True)
class Viewer:
    """The signed-in user of a page and their stored row (preferences the session lacks)."""

    user: CurrentUser
    row: dict[str, Any]

    @property
    def sound_on(self) -> bool:
        return bool(self.row.get("notify_sound", True))


def to_login(request: Request) -> RedirectResponse:
    """303 to /login, remembering where the user was going (same-site paths only)."""
    target = request.url.path
    if request.url.query:
        target += "?" + request.url.query
    return RedirectResponse(
        f"/login?next={quote(target, safe='')}", status_code=303, headers=PAGE_HEADERS
    )


async def viewer(deps: ConsoleDeps, user: CurrentUser | None) -> Viewer | None:
    """None when nobody is signed in or the account is gone or deactivated."""
    if user is None:
        return None
    row = await users_repo.get_user(deps.pool, str(user.id))
    if row is None or not row.get("is_active", True):
        return None
    return Viewer(user, row)


def acting_tenant(request: Request) -> ActingTenant | None:
    """The tenant an operator chose in this session (read by `optional_session`)."""
    session: Session | None = getattr(request.state, "session", None)
    return session.acting if session is not None else None


def needs_tenant_choice(request: Request, user: CurrentUser) -> bool:
    """An operator who has not chosen a tenant (nor named one): the page sends them to
    the chooser instead of answering 404."""
    return (
        user.role == "operator"
        and not request.query_params.get("tenant_id")
        and acting_tenant(request) is None
    )


def to_chooser(request: Request) -> Response:
    """303 to the tenant chooser; an htmx fragment request gets `HX-Redirect` instead (htmx
    would swap a followed redirect's whole page into the fragment's slot)."""
    if request.headers.get("hx-request") == "true":
        return Response(status_code=200, headers={**PAGE_HEADERS, "HX-Redirect": "/clientes"})
    return redirect("/clientes")


def error_page(request: Request, who: Viewer | None, status_code: int) -> HTMLResponse:
    """The 403 / 404 page, in the reader's language."""
    user = who.user if who else None
    t = translator_for(request, user)
    heading, message = (
        ("error.forbidden_title", "error.forbidden_body")
        if status_code == 403
        else ("error.not_found_title", "error.not_found_body")
    )
    return render(
        request,
        "error.html",
        user,
        {"status": status_code, "heading": t(heading), "message": t(message)},
        status_code=status_code,
        sound_on=who.sound_on if who else True,
    )


def safe_next(value: str | None) -> str:
    """Only a path on this site (no scheme, no `//host`), else the inbox."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/inbox"


def redirect(url: str) -> Response:
    return RedirectResponse(url, status_code=303, headers=PAGE_HEADERS)


async def page_tenant(request: Request, deps: ConsoleDeps, user: CurrentUser) -> UUID | None:
    """The tenant a page shows, as `tenant_scope` decides it for the API; None means 404.

    Owners and agents: their own (another `tenant_id` is 404). Operators: the `tenant_id`
    query parameter, else the tenant chosen in the session; it must exist.
    """
    raw = request.query_params.get("tenant_id")
    if user.tenant_id is not None:
        return user.tenant_id if raw in (None, "", str(user.tenant_id)) else None
    if not raw:
        acting = acting_tenant(request)
        raw = str(acting.id) if acting else None
    try:
        tenant = UUID(raw or "")
    except ValueError:
        return None
    exists = await deps.pool.fetchval("SELECT EXISTS (SELECT 1 FROM clients WHERE id = $1)", tenant)
    return tenant if exists else None


@dataclass(frozen=True, slots=True)
class OwnerPage:
    """An owner's (or an operator's) page, with the tenant it shows."""

    who: Viewer
    tenant: UUID


async def owner_page(
    request: Request, deps: ConsoleDeps, user: CurrentUser | None
) -> OwnerPage | Response:
    """The guard of every owner-only page: to /login when signed out, 403 for agents, the
    chooser for an operator without a tenant, 404 for a tenant not theirs; else the page."""
    who = await viewer(deps, user)
    if who is None:
        return to_login(request)
    if who.user.role == "agent":
        return error_page(request, who, 403)
    if needs_tenant_choice(request, who.user):
        return to_chooser(request)
    tenant = await page_tenant(request, deps, who.user)
    if tenant is None:
        return error_page(request, who, 404)
    return OwnerPage(who, tenant)
