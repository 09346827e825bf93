"""`/api/channels/meta` and its numbers: how the page opens Embedded Signup, finishing it
(or its offline imitation in the sandbox), and registering a number with its two-step PIN."""

from __future__ import annotations

from typing import Any

import httpx
import structlog
from fastapi import Depends, HTTPException, Request, status

from console.auth.deps import Scoped, scoped
from console.channels.meta_graph import (
    admin_client,
    credential,
    graph_failed,
    graph_http,
    graph_refusal,
    number_view,
    signup_mode,
    tenant_number,
    tenant_numbers,
)
from console.channels.meta_models import (
    RegisterIn,
    SandboxSignupIn,
    SignupIn,
)
from wacommon.console.meta_signup import PIN_KEY, NumberTaken, Signup, finish_signup
from wacommon.infra.errors import RouteTaken
from wacommon.infra.netguard import AddressBlocked, HostNotFound
from wacommon.providers.meta.admin import GraphCallFailed
from wacommon.repositories import providers as providers_repo

log = structlog.get_logger(__name__)

NUMBER_TAKEN = "este número já está conectado a outra conta"
SANDBOX_ONLY = "a imitação do cadastro só existe sem META_APP_ID (o sandbox local)"
SANDBOX_PATH = "/_sandbox/embedded_signup"


async def overview(s: Scoped = Depends(scoped)) -> dict[str, Any]:
    """How the page opens the signup, and the tenant's Meta numbers."""
    mode = signup_mode(s.deps.settings)
    numbers = await tenant_numbers(s.deps, s.tenant)
    return {
        "mode": mode.kind,
        "app_id": mode.app_id if mode.kind == "sdk" else None,
        "config_id": mode.config_id,
        "graph_version": s.deps.settings.meta_graph_version,
        "numbers": [number_view(r) for r in numbers],
    }


async def signup(body: SignupIn, request: Request, s: Scoped = Depends(scoped)) -> dict[str, Any]:
    """Finish Embedded Signup: exchange the code (it lives 30 s), subscribe the app,
    store the number (token encrypted). Registration is the next step, with a PIN."""
    mode = signup_mode(s.deps.settings)
    if not mode.app_secret:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "o cadastro da Meta precisa de META_APP_ID e META_APP_SECRET no servidor",
        )
    try:
        done = await finish_signup(
            s.deps.pool,
            s.deps.secrets,
            admin_client(request, mode),
            str(s.tenant),
            Signup(body.code, body.waba_id, body.phone_number_id, body.event),
            app_id=mode.app_id,
            register=False,
        )
    except GraphCallFailed as exc:
        log.warning("console_meta_signup_failed", tenant_id=str(s.tenant), step=exc.step)
        raise graph_refusal(exc) from None
    except (NumberTaken, RouteTaken):
        raise HTTPException(status.HTTP_409_CONFLICT, NUMBER_TAKEN) from None
    return number_view(done.row)


async def sandbox_signup(
    body: SandboxSignupIn, request: Request, s: Scoped = Depends(scoped)
) -> dict[str, Any]:
    """The offline imitation of Facebook's popup: the sandbox Graph creates a WABA and a
    number and hands back what the popup would (a code and the session-info ids)."""
    if signup_mode(s.deps.settings).kind != "sandbox":
        raise HTTPException(status.HTTP_404_NOT_FOUND, SANDBOX_ONLY)
    url = s.deps.settings.meta_graph_url.rstrip("/") + SANDBOX_PATH
    try:
        resp = await graph_http(request).post(url, json=body.model_dump(exclude_defaults=True))
        data = resp.json()
    except (httpx.HTTPError, ValueError, AddressBlocked, HostNotFound) as exc:
        raise HTTPException(
            status.HTTP_502_BAD_GATEWAY,
            f"o Graph configurado não imita o cadastro ({type(exc).__name__}):"
            " defina META_APP_ID para usar o da Meta",
        ) from None
    keys = ("code", "waba_id", "phone_number_id", "business_id")
    if resp.status_code != 200 or not isinstance(data, dict) or not all(k in data for k in keys):
        raise HTTPException(
            status.HTTP_502_BAD_GATEWAY,
            f"o Graph configurado não imita o cadastro (HTTP {resp.status_code})",
        )
    return {k: str(data[k]) for k in keys}


async def register(
    provider_id: str, body: RegisterIn, request: Request, s: Scoped = Depends(scoped)
) -> dict[str, Any]:
    """Register the number for the Cloud API; the PIN becomes its two-step PIN (kept
    encrypted: a later registration must repeat it)."""
    row = await tenant_number(s.deps, s.tenant, provider_id)
    phone, token = credential(row, "phone_id"), credential(row, "access_token")
    try:
        await admin_client(request).register_number(phone, token, body.pin)
    except GraphCallFailed as exc:
        raise await graph_failed(s.deps, s.tenant, row, exc) from None
    updated = await providers_repo.update_provider(
        s.deps.pool,
        s.deps.secrets,
        str(s.tenant),
        str(row["id"]),
        {"config": {PIN_KEY: s.deps.secrets.encrypt(body.pin)}},
    )
    if updated is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "número não encontrado")
    log.info("console_meta_number_registered", tenant_id=str(s.tenant), provider_id=provider_id)
    return number_view(updated)
