"""LancePilot on the channels page: the token (sealed at rest, shown masked), the webhook
URL the owner pastes into LancePilot, and a test message sent for real.

LancePilot has no call to register a webhook, so the page shows the URL (our
lancepilot-ingest route with the instance's secret). The token is checked with a cheap
real call (`GET /workspaces`) before it is stored, so a mistyped token changes nothing.
The test message is LancePilot's text send (`POST /workspaces/{w}/contacts/number/{n}/
messages/text`, as the sender's client sends it); outside the 24-hour window LancePilot
refuses free text, and the page says so with LancePilot's own words.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import HTTPException
from pydantic import BaseModel, ConfigDict, Field

from console.channels.common import guarded_client, instance_of, phone_digits
from console.channels.provider_http import ProviderFailure, call
from console.deps import ConsoleDeps
from wacommon.infra.crypto import MASK
from wacommon.infra.errors import RouteTaken
from wacommon.infra.netguard import UnsafePathSegment, path_segment
from wacommon.repositories import providers as providers_repo
from wacommon.web.api_types import NUL_FREE
from wacommon.web.http_errors import invalid

PROVIDER = "a LancePilot"
TEST_TEXT = "Mensagem de teste do seu assistente: o canal LancePilot está funcionando. ✅"
NUMBER_TAKEN = "este número já está conectado em outro canal"
WINDOW_HINT = (
    "fora da janela de 24 horas a LancePilot só aceita modelos aprovados: mande um “oi” "
    "deste número para o número do negócio e tente de novo"
)


class LancePilotSave(BaseModel):
    """The token (`****` keeps the stored one), the workspace, the business number."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    token: str = Field(min_length=1, max_length=500, pattern=NUL_FREE)
    workspace_id: str = Field(min_length=1, max_length=100, pattern=NUL_FREE)
    number: str | None = Field(default=None, max_length=30, pattern=NUL_FREE)


class LancePilotTest(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    phone: str = Field(min_length=1, max_length=30, pattern=NUL_FREE)


def _base_url(deps: ConsoleDeps, config: dict[str, Any]) -> str:
    return str(config.get("base_url") or config.get("url") or deps.settings.lancepilot_url).rstrip(
        "/"
    )


def _headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Accept": "application/json"}


async def current(deps: ConsoleDeps, tenant: UUID) -> dict[str, Any] | None:
    """The tenant's LancePilot instance the page edits (the default, else the oldest)."""
    rows = await providers_repo.list_providers(deps.pool, deps.secrets, str(tenant))
    mine = [r for r in rows if r["provider_type"] == "lancepilot"]
    mine.sort(key=lambda r: (not r["is_default"], r["created_at"]))
    return mine[0] if mine else None


async def save(deps: ConsoleDeps, tenant: UUID, body: LancePilotSave) -> dict[str, Any]:
    """Create or update the instance once LancePilot accepted the token."""
    existing = await current(deps, tenant)
    token = body.token
    if token == MASK:
        if existing is None or not existing["config"].get("token"):
            raise invalid(("body", "token"), "informe o token da LancePilot")
        token = str(existing["config"]["token"])
    elif any(ch.isspace() for ch in token):
        raise invalid(("body", "token"), "o token não tem espaços: copie-o de novo da LancePilot")
    number = phone_digits(body.number, "number")
    config: dict[str, Any] = {"token": token, "workspace_id": body.workspace_id}
    if number:
        config["number"] = number
    base = _base_url(deps, existing["config"] if existing else {})
    async with guarded_client(deps) as http:
        try:
            await call(
                http,
                PROVIDER,
                "GET",
                f"{base}/workspaces",
                headers=_headers(token),
                timeout_s=deps.settings.channels_http_timeout_s,
            )
        except ProviderFailure as exc:
            if exc.token_refused:
                raise invalid(("body", "token"), exc.detail) from None
            raise HTTPException(exc.status, exc.detail) from None
    try:
        if existing is None:
            return await providers_repo.create_provider(
                deps.pool,
                deps.secrets,
                str(tenant),
                {
                    "provider_type": "lancepilot",
                    "instance_name": "LancePilot",
                    "config": config,
                    "is_default": True,
                },
            )
        updated = await providers_repo.update_provider(
            deps.pool, deps.secrets, str(tenant), str(existing["id"]), {"config": config}
        )
    except RouteTaken:
        raise invalid(("body", "number"), NUMBER_TAKEN) from None
    assert updated is not None  # scoped to the tenant, found above
    return updated


async def send_test(
    deps: ConsoleDeps, tenant: UUID, instance_id: str, body: LancePilotTest
) -> dict[str, Any]:
    """One real text message to the number the owner typed."""
    phone = phone_digits(body.phone, "phone")
    assert phone is not None  # min_length=1
    row = await instance_of(deps, tenant, instance_id, "lancepilot")
    config = row["config"]
    try:
        path = (
            f"/workspaces/{path_segment(config.get('workspace_id') or '')}"
            f"/contacts/number/{path_segment(phone)}/messages/text"
        )
    except UnsafePathSegment:
        raise HTTPException(409, "o workspace salvo não é válido: salve-o de novo") from None
    async with guarded_client(deps) as http:
        try:
            answer = await call(
                http,
                PROVIDER,
                "POST",
                _base_url(deps, config) + path,
                headers=_headers(str(config.get("token") or "")),
                body={"text": {"body": TEST_TEXT}},
                timeout_s=deps.settings.channels_http_timeout_s,
            )
        except ProviderFailure as exc:
            if exc.provider_status == 422:
                raise HTTPException(409, f"{exc.detail}. Dica: {WINDOW_HINT}") from None
            raise HTTPException(exc.status, exc.detail) from None
    data = answer.get("data") if isinstance(answer, dict) else None
    message_id = data.get("id") if isinstance(data, dict) else None
    return {"status": "sent", "to": phone, "message_id": message_id, "text": TEST_TEXT}
