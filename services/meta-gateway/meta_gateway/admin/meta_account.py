"""Admin routes for a tenant's Meta account: Embedded Signup, message templates, business profile."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
import structlog
from fastapi import APIRouter, Depends, HTTPException, Query, status

from meta_gateway.admin.auth import ADMIN_RESPONSES, client_or_404, parse_id, require_admin
from meta_gateway.admin.meta_account_models import (
    GRAPH_ID,
    BusinessProfile,
    BusinessProfilePatch,
    EmbeddedSignupIn,
    SignupOut,
    TemplateCreated,
    TemplateIn,
)
from meta_gateway.admin.models import ProviderOut
from wacommon.console.meta_signup import PIN_KEY, NumberTaken, Signup, finish_signup
from wacommon.infra.crypto import SecretBox, mask
from wacommon.infra.errors import RouteTaken
from wacommon.infra.settings import Settings
from wacommon.providers.meta.admin import GraphCallFailed, MetaAdminClient, failure_status
from wacommon.repositories import providers as providers_repo
from wacommon.web.http_errors import error_responses, invalid

log = structlog.get_logger(__name__)

GRAPH_ID_KEYS = frozenset({"phone_id", "waba_id"})
HEADER_SAFE = r"[!-~]+"
GRAPH_RESPONSES = error_responses(
    {
        400: "Graph refused the call (detail: step, code, message)",
        409: "the instance's credentials no longer work, or it lacks waba_id / access_token",
        502: "Graph failed, throttled or could not be reached (detail: step, code, message)",
    }
)


def graph_failure(exc: GraphCallFailed) -> HTTPException:
    """The Graph step, code and message (which never carry a token), with a status saying
    whose problem it is (`failure_status`)."""
    code = failure_status(exc)
    detail = {
        "error": "meta_graph_error",
        "step": exc.step,
        "code": exc.code,
        "message": exc.message,
        "retryable": exc.retryable,
    }
    return HTTPException(code, detail)


def meta_account_router(
    settings: Settings, pool: asyncpg.Pool, box: SecretBox, *, http: httpx.AsyncClient | None = None
) -> APIRouter:
    """`/admin/clients/{id}/meta/...`: embedded-signup, templates, business-profile."""
    router = APIRouter(
        prefix="/admin/clients/{client_id}/meta",
        tags=["meta account"],
        dependencies=[Depends(require_admin(settings))],
        responses={**ADMIN_RESPONSES, **GRAPH_RESPONSES},
    )
    app_secret = settings.meta_app_secret.get_secret_value() if settings.meta_app_secret else None

    @asynccontextmanager
    async def graph() -> AsyncIterator[MetaAdminClient]:
        def client(h: httpx.AsyncClient) -> MetaAdminClient:
            return MetaAdminClient(
                h,
                base_url=settings.meta_graph_url,
                version=settings.meta_graph_version,
                app_id=settings.meta_app_id,
                app_secret=app_secret,
            )

        if http is not None:
            yield client(http)
            return
        async with httpx.AsyncClient(timeout=15.0) as own:
            yield client(own)

    async def tenant(client_id: str) -> str:
        return await client_or_404(pool, client_id)

    async def meta_instance(cid: str, provider_id: str | None) -> dict[str, Any]:
        if provider_id:
            row = await providers_repo.get_provider(
                pool, box, cid, parse_id(provider_id, "provider")
            )
            if row is None:
                raise HTTPException(status.HTTP_404_NOT_FOUND, "provider not found")
            if row["provider_type"] != "meta":
                raise invalid(("query", "provider_id"), "not a meta provider instance")
            return row
        rows = [
            r
            for r in await providers_repo.list_providers(pool, box, cid)
            if r["provider_type"] == "meta" and r["is_active"]
        ]
        if not rows:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "client has no active meta provider")
        return sorted(rows, key=lambda r: not r["is_default"])[0]

    def credential(row: dict[str, Any], key: str) -> str:
        value = row["config"].get(key)
        if not value:
            raise HTTPException(status.HTTP_409_CONFLICT, f"meta provider has no {key}")
        # a Graph id becomes a URL path segment, the token a header (rows written before
        # the admin API checked them may hold anything)
        pattern = GRAPH_ID if key in GRAPH_ID_KEYS else HEADER_SAFE
        if not re.fullmatch(pattern, str(value)):
            raise HTTPException(status.HTTP_409_CONFLICT, f"meta provider has an invalid {key}")
        return str(value)

    async def failed(cid: str, row: dict[str, Any], exc: GraphCallFailed) -> HTTPException:
        log.warning("meta_graph_call_failed", client_id=cid, step=exc.step, code=exc.code)
        if exc.credentials_invalid:
            await providers_repo.mark_health(
                pool, cid, str(row["id"]), healthy=False, error=exc.message[:500]
            )
        return graph_failure(exc)

    @router.post(
        "/embedded-signup",
        status_code=status.HTTP_201_CREATED,
        response_model=SignupOut,
        responses=error_responses({503: "META_APP_ID / META_APP_SECRET are not configured"}),
    )
    async def embedded_signup(client_id: str, body: EmbeddedSignupIn) -> SignupOut:
        """Finish Embedded Signup: token exchange, app subscription, registration, storage."""
        cid = await tenant(client_id)
        if not settings.meta_app_id or not app_secret:
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE,
                "Embedded Signup needs META_APP_ID and META_APP_SECRET",
            )
        configured = settings.meta_register_pin
        try:
            async with graph() as meta:
                done = await finish_signup(
                    pool,
                    box,
                    meta,
                    cid,
                    Signup(body.code, body.waba_id, body.phone_number_id, body.event),
                    app_id=settings.meta_app_id,
                    register=True,
                    pin=body.pin,
                    configured_pin=configured.get_secret_value() if configured else None,
                )
        except GraphCallFailed as exc:
            log.warning("meta_signup_failed", client_id=cid, step=exc.step, code=exc.code)
            raise graph_failure(exc) from None
        except (NumberTaken, RouteTaken) as exc:
            # the phone id, or its display number, is another tenant's
            raise HTTPException(status.HTTP_409_CONFLICT, _taken_message(exc)) from None
        return SignupOut(
            **_out_fields(done.row), registered=done.registered, pin=done.generated_pin
        )

    @router.get("/templates", response_model=list[dict[str, Any]])
    async def list_templates(
        client_id: str,
        provider_id: str | None = None,
        template_status: str | None = Query(None, alias="status", pattern=r"^[A-Z_]{1,32}$"),
    ) -> list[dict[str, Any]]:
        """The WABA's message templates (optionally one status: APPROVED, PENDING, ...)."""
        cid = await tenant(client_id)
        row = await meta_instance(cid, provider_id)
        waba, token = credential(row, "waba_id"), credential(row, "access_token")
        try:
            async with graph() as meta:
                return await meta.list_templates(waba, token, template_status)
        except GraphCallFailed as exc:
            raise await failed(cid, row, exc) from None

    @router.post("/templates", status_code=status.HTTP_201_CREATED, response_model=TemplateCreated)
    async def create_template(
        client_id: str, body: TemplateIn, provider_id: str | None = None
    ) -> TemplateCreated:
        """Submit a template for Meta's review; it starts PENDING."""
        cid = await tenant(client_id)
        row = await meta_instance(cid, provider_id)
        waba, token = credential(row, "waba_id"), credential(row, "access_token")
        try:
            async with graph() as meta:
                answer = await meta.create_template(waba, token, body.model_dump(exclude_none=True))
        except GraphCallFailed as exc:
            raise await failed(cid, row, exc) from None
        log.info("meta_template_created", client_id=cid, template=body.name, id=answer.get("id"))
        return TemplateCreated(
            id=str(answer.get("id") or ""),
            status=answer.get("status"),
            category=answer.get("category"),
        )

    @router.get("/business-profile", response_model=BusinessProfile)
    async def get_business_profile(
        client_id: str, provider_id: str | None = None
    ) -> BusinessProfile:
        """The number's business profile as WhatsApp users see it."""
        cid = await tenant(client_id)
        row = await meta_instance(cid, provider_id)
        phone, token = credential(row, "phone_id"), credential(row, "access_token")
        try:
            async with graph() as meta:
                profile = await meta.get_business_profile(phone, token)
        except GraphCallFailed as exc:
            raise await failed(cid, row, exc) from None
        return BusinessProfile.model_validate(
            {k: v for k, v in profile.items() if k in BusinessProfile.model_fields}
        )

    @router.patch("/business-profile", response_model=BusinessProfile)
    async def update_business_profile(
        client_id: str, body: BusinessProfilePatch, provider_id: str | None = None
    ) -> BusinessProfile:
        """Change some profile fields; answers the profile as Graph now holds it."""
        fields = body.model_dump(exclude_none=True)
        cid = await tenant(client_id)
        row = await meta_instance(cid, provider_id)
        phone, token = credential(row, "phone_id"), credential(row, "access_token")
        try:
            async with graph() as meta:
                await meta.update_business_profile(phone, token, fields)
                profile = await meta.get_business_profile(phone, token)
        except GraphCallFailed as exc:
            raise await failed(cid, row, exc) from None
        log.info("meta_business_profile_updated", client_id=cid, fields=sorted(fields))
        return BusinessProfile.model_validate(
            {k: v for k, v in profile.items() if k in BusinessProfile.model_fields}
        )

    return router


def _taken_message(exc: Exception) -> str:
    if isinstance(exc, NumberTaken):
        return "phone_number_id is connected to another client"
    return str(exc)


def _out_fields(row: dict[str, Any]) -> dict[str, Any]:
    fields = {k: v for k, v in row.items() if k in ProviderOut.model_fields}
    config = mask(row["config"])
    if config.get(PIN_KEY):
        config[PIN_KEY] = "****"
    fields.update(
        id=str(row["id"]), client_id=str(row["client_id"]), config=config, webhook_url=None
    )
    return fields
