"""The signed-in user's own account (`/api/me`): name, language, alerts, password."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request, status
from pydantic import BaseModel, ConfigDict, Field

from console.auth.deps import current_session
from console.auth.models import CurrentUser, Session
from console.auth.routes import TOO_MANY, client_address
from console.deps import ConsoleDeps, get_deps
from wacommon.console import passwords
from wacommon.console.users import AlertNumber, Locale, Name, Password, UserOut, user_out
from wacommon.repositories import users as users_repo

WRONG_CURRENT = "a senha atual está incorreta"
ALERTS_FOR_OWNERS = "apenas proprietários recebem alertas no WhatsApp"


class AccountUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    locale: Locale | None = None
    notify_sound: bool | None = None
    # E.164 digits; "" or null removes the number
    alert_whatsapp: AlertNumber = Field(default=None)
    current_password: str | None = Field(default=None, max_length=passwords.MAX_LENGTH)
    new_password: Password | None = None


def account_router() -> APIRouter:
    router = APIRouter(prefix="/api/me", tags=["account"])

    @router.get("", response_model=UserOut)
    async def get_account(
        session: Session = Depends(current_session), deps: ConsoleDeps = Depends(get_deps)
    ) -> UserOut:
        row = await users_repo.get_user(deps.pool, str(session.user.id))
        if row is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "sessão inválida")
        return user_out(row)

    @router.patch("", response_model=UserOut)
    async def update_account(
        body: AccountUpdate,
        request: Request,
        session: Session = Depends(current_session),
        deps: ConsoleDeps = Depends(get_deps),
    ) -> UserOut:
        """Change one's own settings; a new password needs the current one and ends the
        account's other sessions."""
        user = session.user
        fields: dict[str, Any] = body.model_dump(
            exclude_unset=True, exclude={"current_password", "new_password"}
        )
        if "alert_whatsapp" in fields and user.role == "agent":
            raise HTTPException(status.HTTP_403_FORBIDDEN, ALERTS_FOR_OWNERS)
        for key in ("name", "locale", "notify_sound"):
            if key in fields and fields[key] is None:
                del fields[key]
        if body.new_password is not None:
            await _check_current_password(deps, request, user, body.current_password or "")
            fields["password_hash"] = await passwords.hash_password(body.new_password)
        row = await users_repo.update_user(deps.pool, str(user.id), fields)
        if row is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "sessão inválida")
        if body.new_password is not None:
            await deps.sessions.revoke_user(user.id, keep=session)
        await deps.sessions.refresh_user(CurrentUser.from_row(row))
        return user_out(row)

    return router


async def _check_current_password(
    deps: ConsoleDeps, request: Request, user: CurrentUser, given: str
) -> None:
    """Guesses count against the same throttle as sign-ins."""
    address = client_address(request)
    wait = await deps.throttle.attempt(user.email, address)
    if wait is not None:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS, TOO_MANY, headers={"Retry-After": str(wait)}
        )
    stored = await users_repo.password_hash(deps.pool, str(user.id))
    if not given or not await passwords.verify_password(stored, given):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, WRONG_CURRENT)
    await deps.throttle.succeeded(user.email, address)
