"""Console accounts: field rules and bodies shared by the operator admin API and the console.

Emails are sign-in names, never mailed to: they are checked for syntax only (no DNS).
The one exception to the syntax rules is the `localhost` domain, allowed only when the
caller says so (the `make run` demo users `demo@localhost` and `atendente@localhost`):
the APIs refuse it, so a real deployment cannot end up with such accounts by mistake.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, AliasChoices, BaseModel, ConfigDict, Field

from wacommon.console.passwords import MAX_LENGTH, MIN_LENGTH

Role = Literal["operator", "owner", "agent"]
TenantRole = Literal["owner", "agent"]
Locale = Literal["pt-BR", "en"]

LOCAL_DOMAIN = "localhost"
_E164 = re.compile(r"[1-9]\d{7,14}")


def normalize_email(value: str, *, allow_local: bool = False) -> str:
    """The lower-cased address; ValueError (with the reason) when it is not one."""
    value = value.strip()
    local, at, domain = value.rpartition("@")
    local_demo = allow_local and bool(at) and domain.lower() == LOCAL_DOMAIN
    try:
        # email-validator refuses special-use domains: check the local part on a stand-in
        checked = validate_email(
            f"{local}@example.com" if local_demo else value, check_deliverability=False
        )
    except EmailNotValidError as exc:
        raise ValueError(f"e-mail inválido: {exc}") from None
    if local_demo:
        return f"{checked.local_part}@{LOCAL_DOMAIN}".lower()
    return checked.normalized.lower()


def _email(value: str) -> str:
    return normalize_email(value)


def _alert_number(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    digits = re.sub(r"[\s()+\-.]", "", value)
    if not _E164.fullmatch(digits):
        raise ValueError("número inválido: use o formato internacional, só dígitos (5511999990000)")
    return digits


Email = Annotated[str, Field(max_length=254), AfterValidator(_email)]
Password = Annotated[
    str,
    Field(
        min_length=MIN_LENGTH,
        max_length=MAX_LENGTH,
        description=f"at least {MIN_LENGTH} characters",
    ),
]
Name = Annotated[str, Field(min_length=1, max_length=200)]
AlertNumber = Annotated[str | None, AfterValidator(_alert_number)]


class UserCreate(BaseModel):
    """A tenant account (owner or agent) created by the operator or by an owner."""

    model_config = ConfigDict(extra="forbid")

    email: Email
    name: Name
    role: TenantRole
    password: Password


class UserOut(BaseModel):
    """A console account as every API answers it: never the hash."""

    # the JSON says client_id (the API's contract, like the column); the code says tenant_id
    model_config = ConfigDict(serialize_by_alias=True)

    id: str
    tenant_id: str | None = Field(
        validation_alias=AliasChoices("client_id", "tenant_id"), serialization_alias="client_id"
    )
    email: str
    name: str
    role: Role
    is_active: bool
    locale: Locale
    notify_sound: bool
    alert_whatsapp: str | None
    created_at: datetime
    updated_at: datetime
    last_login_at: datetime | None


def user_out(row: dict[str, Any]) -> UserOut:
    fields = {k: v for k, v in row.items() if k in UserOut.model_fields}
    fields["id"] = str(row["id"])
    fields["client_id"] = str(row["client_id"]) if row["client_id"] else None
    return UserOut(**fields)
