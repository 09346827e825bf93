"""Request dependencies: who is signed in, CSRF on state-changing calls, roles, tenant scope.

API routes use `current_user` (401 without a session, 403 without the session's CSRF
token on POST/PUT/PATCH/DELETE); pages use `optional_user` and redirect to /login
themselves. Every tenant query takes its tenant from `tenant_scope`.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from uuid import UUID

from fastapi import Depends, HTTPException, Request, status
from fastapi.exceptions import RequestValidationError

from console.auth.models import CurrentUser, Session
from console.deps import ConsoleDeps, get_deps

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"

NOT_SIGNED_IN = "sessão inválida ou expirada: entre novamente"
BAD_CSRF = "token CSRF ausente ou inválido"
OWNERS_ONLY = "apenas o proprietário da conta pode fazer isso"
OPERATORS_ONLY = "apenas operadores da plataforma podem fazer isso"


async def optional_session(
    request: Request, deps: ConsoleDeps = Depends(get_deps)
) -> Session | None:
    """The request's live session (renewed), or None; also kept on `request.state.session`."""
    if hasattr(request.state, "session"):
        cached: Session | None = request.state.session
        return cached
    cookie = request.cookies.get(deps.settings.console_session_cookie)
    session = await deps.sessions.get(cookie)
    request.state.session = session
    return session


async def optional_user(session: Session | None = Depends(optional_session)) -> CurrentUser | None:
    """The signed-in user, or None (no CSRF check: for GET pages)."""
    return session.user if session else None


async def _sent_csrf_token(request: Request) -> str:
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()  # Starlette caches it for the route's own parsing
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else ""
    return ""


async def csrf_ok(request: Request, session: Session) -> bool:
    """Whether the request carries the session's CSRF token (header or form field)."""
    sent = await _sent_csrf_token(request)
    return bool(sent) and hmac.compare_digest(sent.encode(), session.csrf_token.encode())


async def current_session(
    request: Request, session: Session | None = Depends(optional_session)
) -> Session:
    """The live session, CSRF-checked for state-changing methods."""
    if session is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, NOT_SIGNED_IN)
    if request.method not in SAFE_METHODS and not await csrf_ok(request, session):
        raise HTTPException(status.HTTP_403_FORBIDDEN, BAD_CSRF)
    return session


async def current_user(session: Session = Depends(current_session)) -> CurrentUser:
    return session.user


async def require_owner(user: CurrentUser = Depends(current_user)) -> CurrentUser:
    """Owners and operators; agents get 403."""
    if user.role == "agent":
        raise HTTPException(status.HTTP_403_FORBIDDEN, OWNERS_ONLY)
    return user


async def require_operator(user: CurrentUser = Depends(current_user)) -> CurrentUser:
    """Operators only (the tenant chooser); owners and agents get 403."""
    if user.role != "operator":
        raise HTTPException(status.HTTP_403_FORBIDDEN, OPERATORS_ONLY)
    return user


async def tenant_scope(
    request: Request,
    session: Session = Depends(current_session),
    deps: ConsoleDeps = Depends(get_deps),
) -> UUID:
    """The tenant every query of this request is scoped to.

    Owners and agents: their own (naming another tenant in `tenant_id` is 404, as for
    any other tenant's object). Operators: the `tenant_id` query parameter when given
    (scripts name it), else the tenant they chose in the console (`session.acting`);
    with neither, 422 naming `tenant_id`.
    """
    user = session.user
    raw = request.query_params.get("tenant_id")
    if user.tenant_id is not None:
        if raw is not None and raw != str(user.tenant_id) and _uuid(raw) != user.tenant_id:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "cliente não encontrado")
        return user.tenant_id
    if not raw and session.acting is not None:
        raw = str(session.acting.id)
    if not raw:
        raise RequestValidationError(
            [
                {
                    "type": "missing",
                    "loc": ("query", "tenant_id"),
                    "msg": "Field required",
                    "input": None,
                }
            ]
        )
    tenant = _uuid(raw)
    if tenant is None or not await deps.pool.fetchval(
        "SELECT EXISTS (SELECT 1 FROM clients WHERE id = $1)", tenant
    ):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "cliente não encontrado")
    return tenant


def _uuid(value: str) -> UUID | None:
    try:
        return UUID(value)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class Scoped:
    """What a tenant-scoped route needs, resolved by one dependency (`scoped`)."""

    deps: ConsoleDeps
    user: CurrentUser
    tenant: UUID


async def scoped(request: Request) -> Scoped:
    """`get_deps`, `current_user` and `tenant_scope` in one dependency, same answers (401,
    403 without CSRF on a state-changing method, 404/422 for the tenant).

    For the inbox's hot reads: FastAPI resolves each `Depends` of a route on every request
    (its signature, its cache key, its own parameters), and the four chained ones cost
    about as much CPU as shaping a 50-message thread.
    """
    deps: ConsoleDeps = request.app.state.deps
    session = await current_session(request, await optional_session(request, deps))
    return Scoped(deps, session.user, await tenant_scope(request, session, deps))
