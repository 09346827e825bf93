"""`/api/auth/login`, `/api/auth/logout` and `/api/auth/me`."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from prometheus_client import Counter
from pydantic import BaseModel, Field

from console.auth.deps import current_session
from console.auth.models import CurrentUser, Session
from console.deps import ConsoleDeps, get_deps
from wacommon.console import passwords
from wacommon.console.users import user_out
from wacommon.repositories import users as users_repo

log = structlog.get_logger(__name__)
LOGINS = Counter("wa_console_logins_total", "Console sign-in attempts", ["outcome"])

# one message for an unknown email, a wrong password and a deactivated account
BAD_CREDENTIALS = "e-mail ou senha incorretos"
COOKIE_MAX_AGE_S = 30 * 24 * 3600
TOO_MANY = "muitas tentativas de entrada: tente novamente mais tarde"


class LoginBody(BaseModel):
    # not validated as an address: a malformed email is just a wrong sign-in
    email: str = Field(min_length=1, max_length=254)
    password: str = Field(min_length=1, max_length=passwords.MAX_LENGTH)


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def set_session_cookie(response: Response, deps: ConsoleDeps, session: Session) -> None:
    response.set_cookie(
        deps.settings.console_session_cookie,
        session.id,
        # the server decides when the session ends (idle expiry in Redis); the cookie just
        # has to outlive it
        max_age=COOKIE_MAX_AGE_S,
        httponly=True,
        samesite="lax",
        secure=not deps.settings.console_insecure_cookies,
        path="/",
    )


async def login(
    body: LoginBody,
    request: Request,
    response: Response,
    deps: ConsoleDeps = Depends(get_deps),
) -> dict[str, Any]:
    """Sign in: the user, the session's CSRF token and the session cookie."""
    address = client_address(request)
    wait = await deps.throttle.attempt(body.email, address)
    if wait is not None:
        LOGINS.labels("throttled").inc()
        log.warning("console_login_throttled", address=address, retry_after=wait)
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS, TOO_MANY, headers={"Retry-After": str(wait)}
        )
    row = await users_repo.credentials_by_email(deps.pool, body.email.strip())
    stored = row["password_hash"] if row else None
    # an unknown email is checked against a dummy hash: same work, same time, same answer
    ok = await passwords.verify_password(stored, body.password)
    if not ok or row is None or not row["is_active"]:
        LOGINS.labels("refused").inc()
        # no email in the log: a mistyped password is often typed into the email field
        log.info("console_login_refused", address=address)
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, BAD_CREDENTIALS)
    await deps.throttle.succeeded(body.email, address)
    new_hash = (
        await passwords.hash_password(body.password)
        if passwords.needs_rehash(row["password_hash"])
        else None
    )
    row["last_login_at"] = await users_repo.record_login(deps.pool, str(row["id"]), new_hash)
    old = request.cookies.get(deps.settings.console_session_cookie)
    if old:
        previous = await deps.sessions.get(old)
        if previous is not None:
            await deps.sessions.revoke(previous)  # a sign-in never reuses a session id
    session = await deps.sessions.create(CurrentUser.from_row(row))
    set_session_cookie(response, deps, session)
    LOGINS.labels("ok").inc()
    log.info("console_login", user_id=str(row["id"]), role=row["role"], address=address)
    return {
        "user": user_out(row).model_dump(mode="json"),
        "csrf_token": session.csrf_token,
    }


async def logout(
    response: Response,
    session: Session = Depends(current_session),
    deps: ConsoleDeps = Depends(get_deps),
) -> None:
    """End this session on the server and drop the cookie."""
    await deps.sessions.revoke(session)
    response.delete_cookie(
        deps.settings.console_session_cookie,
        httponly=True,
        samesite="lax",
        secure=not deps.settings.console_insecure_cookies,
        path="/",
    )


async def me(
    session: Session = Depends(current_session), deps: ConsoleDeps = Depends(get_deps)
) -> dict[str, Any]:
    """The signed-in user and the session's CSRF token (pages reload it after a refresh)."""
    row = await users_repo.get_user(deps.pool, str(session.user.id))
    if row is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "sessão inválida")
    return {"user": user_out(row).model_dump(mode="json"), "csrf_token": session.csrf_token}


def auth_router() -> APIRouter:
    """This module's routes, in the order they are matched (the handlers are above)."""
    router = APIRouter(prefix="/api/auth", tags=["auth"])
    router.add_api_route("/login", login, methods=["POST"])
    router.add_api_route(
        "/logout", logout, methods=["POST"], status_code=status.HTTP_204_NO_CONTENT
    )
    router.add_api_route("/me", me, methods=["GET"])
    return router
