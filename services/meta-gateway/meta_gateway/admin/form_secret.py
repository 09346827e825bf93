"""The lead-form secret: generated when forms are switched on, shown once, rotatable."""

from __future__ import annotations

import secrets
from typing import Any, cast

import asyncpg
from fastapi import APIRouter, Depends, HTTPException, status
from pydantic import BaseModel

from meta_gateway.admin.auth import ADMIN_RESPONSES, parse_id, require_admin
from wacommon.infra.crypto import SecretBox
from wacommon.infra.settings import Settings
from wacommon.web.api_types import TenantPath


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def _form(tools_config: dict[str, Any]) -> dict[str, Any] | None:
    """`form_context` as a dict (the legacy `true` shape expanded), None when absent."""
    raw = tools_config.get("form_context")
    if isinstance(raw, dict):
        return dict(raw)
    if raw is True:
        return {"active": True}
    return None


def ensure_form_secret(tools_config: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """(config, the secret generated now or None): forms switched on always carry a secret."""
    form = _form(tools_config)
    if form is None or form.get("active") is not True or form.get("secret"):
        return tools_config, None
    secret = new_secret()
    return {**tools_config, "form_context": {**form, "secret": secret}}, secret


class FormSecretOut(BaseModel):
    secret: str
    header: str = "X-Form-Secret"
    signature_header: str = "X-Form-Signature"
    signature: str = "sha256=<hex HMAC-SHA256 of the raw body with the secret>"


def form_secret_router(settings: Settings, pool: asyncpg.Pool, box: SecretBox) -> APIRouter:
    """`POST /admin/clients/{id}/form-secret`: a new secret (the old one stops working)."""
    router = APIRouter(
        prefix="/admin", tags=["admin"], dependencies=[Depends(require_admin(settings))]
    )

    @router.post(
        "/clients/{client_id}/form-secret", response_model=FormSecretOut, responses=ADMIN_RESPONSES
    )
    async def rotate(tenant_id: TenantPath) -> FormSecretOut:
        """Generate the tenant's form secret; the answer is the only place it is shown."""
        cid = parse_id(tenant_id, "client")
        secret = new_secret()
        async with pool.acquire() as proxy, proxy.transaction():
            conn = cast(asyncpg.Connection, proxy)
            tools = await conn.fetchval(
                "SELECT tools_config FROM clients WHERE id = $1 FOR UPDATE", cid
            )
            if tools is None:
                raise HTTPException(status.HTTP_404_NOT_FOUND, "client not found")
            form = _form(tools) or {"active": False}
            form["secret"] = box.encrypt(secret)
            await conn.execute(
                "UPDATE clients SET tools_config = $2, updated_at = now() WHERE id = $1",
                cid,
                {**tools, "form_context": form},
            )
        return FormSecretOut(secret=secret)

    return router
