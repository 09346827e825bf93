"""`/api/channels/meta`: an owner connects and runs their WhatsApp Cloud API number.

Embedded Signup (the page's FB.login hands over a code and the session-info ids; the
server finishes it with `wacommon.console.meta_signup`), registration with the two-step PIN, the
business profile and the message templates. Owners and operators only (agents 403),
every number looked up inside the session's tenant (another tenant's id is 404), every
Graph call through the guarded client, Graph's refusals shown with Meta's code.
"""

from __future__ import annotations

from typing import Any

import httpx
import structlog
from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.responses import Response

from console.auth.deps import Scoped, require_owner, scoped
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
    TEMPLATE_NAME,
    ProfileIn,
    RegisterIn,
    SandboxSignupIn,
    SignupIn,
    TemplateIn,
)
from wacommon.console.meta_signup import PIN_KEY, NumberTaken, Signup, finish_signup
from wacommon.infra.errors import RouteTaken
from wacommon.infra.netguard import AddressBlocked, HostNotFound
from wacommon.providers.meta.admin import GraphCallFailed
from wacommon.repositories import providers as providers_repo
from wacommon.web.http_errors import invalid

log = structlog.get_logger(__name__)

NUMBER_TAKEN = "este número já está conectado a outra conta"
SANDBOX_ONLY = "a imitação do cadastro só existe sem META_APP_ID (o sandbox local)"
SANDBOX_PATH = "/_sandbox/embedded_signup"
PROFILE_FIELDS = ("about", "address", "description", "email", "websites", "vertical")


def meta_channels_router() -> APIRouter:
    router = APIRouter(
        prefix="/api/channels/meta",
        tags=["channels"],
        dependencies=[Depends(require_owner)],
    )

    @router.get("")
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

    @router.post("/signup", status_code=status.HTTP_201_CREATED)
    async def signup(
        body: SignupIn, request: Request, s: Scoped = Depends(scoped)
    ) -> dict[str, Any]:
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
            log.warning("console_meta_signup_failed", client_id=str(s.tenant), step=exc.step)
            raise graph_refusal(exc) from None
        except (NumberTaken, RouteTaken):
            raise HTTPException(status.HTTP_409_CONFLICT, NUMBER_TAKEN) from None
        return number_view(done.row)

    @router.post("/sandbox-signup")
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
        if (
            resp.status_code != 200
            or not isinstance(data, dict)
            or not all(k in data for k in keys)
        ):
            raise HTTPException(
                status.HTTP_502_BAD_GATEWAY,
                f"o Graph configurado não imita o cadastro (HTTP {resp.status_code})",
            )
        return {k: str(data[k]) for k in keys}

    @router.post("/numbers/{provider_id}/register")
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
        log.info("console_meta_number_registered", client_id=str(s.tenant), provider_id=provider_id)
        return number_view(updated)

    @router.get("/numbers/{provider_id}/profile")
    async def get_profile(
        provider_id: str, request: Request, s: Scoped = Depends(scoped)
    ) -> dict[str, Any]:
        """The number's business profile as WhatsApp users see it."""
        row = await tenant_number(s.deps, s.tenant, provider_id)
        phone, token = credential(row, "phone_id"), credential(row, "access_token")
        try:
            profile = await admin_client(request).get_business_profile(phone, token)
        except GraphCallFailed as exc:
            raise await graph_failed(s.deps, s.tenant, row, exc) from None
        return {k: profile.get(k) for k in (*PROFILE_FIELDS, "profile_picture_url")}

    @router.post("/numbers/{provider_id}/profile")
    async def update_profile(
        provider_id: str, body: ProfileIn, request: Request, s: Scoped = Depends(scoped)
    ) -> dict[str, Any]:
        """Change the filled fields; answers the profile as Graph now holds it."""
        fields = body.graph_fields()
        if not fields:
            raise invalid(("body",), "preencha pelo menos um campo do perfil")
        row = await tenant_number(s.deps, s.tenant, provider_id)
        phone, token = credential(row, "phone_id"), credential(row, "access_token")
        meta = admin_client(request)
        try:
            await meta.update_business_profile(phone, token, fields)
            profile = await meta.get_business_profile(phone, token)
        except GraphCallFailed as exc:
            raise await graph_failed(s.deps, s.tenant, row, exc) from None
        log.info("console_meta_profile_updated", client_id=str(s.tenant), fields=sorted(fields))
        return {k: profile.get(k) for k in (*PROFILE_FIELDS, "profile_picture_url")}

    @router.get("/numbers/{provider_id}/templates")
    async def list_templates(
        provider_id: str, request: Request, s: Scoped = Depends(scoped)
    ) -> list[dict[str, Any]]:
        """The WABA's templates with their review status (APPROVED, PENDING, REJECTED...)."""
        row = await tenant_number(s.deps, s.tenant, provider_id)
        waba, token = credential(row, "waba_id"), credential(row, "access_token")
        try:
            found = await admin_client(request).list_templates(waba, token)
        except GraphCallFailed as exc:
            raise await graph_failed(s.deps, s.tenant, row, exc) from None
        return [_template_view(t) for t in found]

    @router.post("/numbers/{provider_id}/templates", status_code=status.HTTP_201_CREATED)
    async def create_template(
        provider_id: str, body: TemplateIn, request: Request, s: Scoped = Depends(scoped)
    ) -> dict[str, Any]:
        """Submit a text template for Meta's review; it starts PENDING."""
        row = await tenant_number(s.deps, s.tenant, provider_id)
        waba, token = credential(row, "waba_id"), credential(row, "access_token")
        try:
            answer = await admin_client(request).create_template(waba, token, body.graph_body())
        except GraphCallFailed as exc:
            raise await graph_failed(s.deps, s.tenant, row, exc) from None
        log.info("console_meta_template_created", client_id=str(s.tenant), template=body.name)
        return {
            "id": str(answer.get("id") or ""),
            "name": body.name,
            "language": body.language,
            "category": answer.get("category") or body.category,
            "status": answer.get("status") or "PENDING",
        }

    @router.delete(
        "/numbers/{provider_id}/templates/{name}", status_code=status.HTTP_204_NO_CONTENT
    )
    async def delete_template(
        provider_id: str, name: str, request: Request, s: Scoped = Depends(scoped)
    ) -> Response:
        """Delete the template `name` in every language."""
        if not TEMPLATE_NAME.fullmatch(name):
            raise HTTPException(status.HTTP_404_NOT_FOUND, "modelo não encontrado")
        row = await tenant_number(s.deps, s.tenant, provider_id)
        waba, token = credential(row, "waba_id"), credential(row, "access_token")
        try:
            await admin_client(request).delete_template(waba, token, name)
        except GraphCallFailed as exc:
            raise await graph_failed(s.deps, s.tenant, row, exc) from None
        log.info("console_meta_template_deleted", client_id=str(s.tenant), template=name)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    return router


def _template_view(t: dict[str, Any]) -> dict[str, Any]:
    parts = {
        str(c.get("type", "")).upper(): c for c in t.get("components") or [] if isinstance(c, dict)
    }
    return {
        "id": t.get("id"),
        "name": t.get("name"),
        "language": t.get("language"),
        "category": t.get("category"),
        "status": t.get("status"),
        "rejected_reason": t.get("rejected_reason"),
        "header": (parts.get("HEADER") or {}).get("text"),
        "body": (parts.get("BODY") or {}).get("text"),
        "footer": (parts.get("FOOTER") or {}).get("text"),
    }
