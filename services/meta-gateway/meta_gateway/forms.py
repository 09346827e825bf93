"""Public form webhook: a submission becomes lead context on the conversation, maybe a greeting.

`POST /api/v1/forms/{client_id}/submit` needs no admin token: it answers 404 unless the
tenant turned `tools_config["form_context"]["active"]` on. Every submission must prove it
comes from the tenant's form integration: `X-Form-Secret: <secret>` or
`X-Form-Signature: sha256=<hex HMAC-SHA256 of the raw body with the secret>`. A tenant with
forms on and no secret yet accepts nothing (the admin API generates one). The proof is
checked before the per-tenant rate limit is counted, so strangers cannot spend it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import asyncpg
import redis.asyncio as aioredis
import structlog
from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import JSONResponse

from meta_gateway.form_config import DEFAULT_RATE_PER_MINUTE, FormConfig
from meta_gateway.form_proof import authentic, parsed_body, raw_body
from meta_gateway.form_store import store
from wacommon.broker.publisher import Publisher
from wacommon.broker.schemas import SendReply
from wacommon.broker.topology import PIPELINE
from wacommon.conversation import lead_context
from wacommon.conversation.lead_context import FormPayloadInvalid, PhoneNotFound
from wacommon.infra.crypto import SecretBox
from wacommon.infra.settings import Settings
from wacommon.tenants.config import parse_tenant
from wacommon.web.api_types import TenantPath
from wacommon.web.http_errors import invalid

log = structlog.get_logger(__name__)

# read by hand (form tools post JSON or urlencoded, with their own field names)
SUBMISSION_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "description": "the form's fields (one of them a phone number), as an object"
                    " or a list of {name, value}",
                    "type": ["object", "array"],
                }
            },
            "application/x-www-form-urlencoded": {"schema": {"type": "object"}},
        },
    }
}


class FormRoutes:
    """The form routes, bound to their dependencies and the rate limit's clock."""

    def __init__(
        self,
        settings: Settings,
        pool: asyncpg.Pool,
        redis: aioredis.Redis,
        publisher: Publisher,
        box: SecretBox,
        rate_per_minute: int,
        clock: Callable[[], float],
    ) -> None:
        self.settings, self.pool, self.redis = settings, pool, redis
        self.publisher, self.box = publisher, box
        self.rate_per_minute, self.clock = rate_per_minute, clock

    async def within_rate(self, tenant_id: str, limit: int) -> bool:
        """Count one submission in this minute's window; a Redis outage lets it through."""
        window = int(self.clock() // 60)
        key = self.settings.rkey("forms", "rate", tenant_id, str(window))
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.incr(key)
                pipe.expire(key, 120)
                count, _ = await pipe.execute()
        except Exception as exc:  # a Redis outage must not lose leads
            log.warning("form_rate_limit_unavailable", error=type(exc).__name__)
            return True
        return int(count) <= limit

    async def tenant(self, tenant_id: str) -> tuple[asyncpg.Record, FormConfig]:
        """The tenant and its form settings; 404 unless its forms are on."""
        try:
            cid = str(uuid.UUID(tenant_id))
        except ValueError:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "form not found") from None
        client = await self.pool.fetchrow(
            "SELECT id, name, bot_active, tools_config, whatsapp_provider FROM clients"
            " WHERE id = $1",
            cid,
        )
        if client is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "form not found")
        cfg = FormConfig.of(parse_tenant(dict(client), self.box.open).forms, self.rate_per_minute)
        if not cfg.active:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "form not found")
        return client, cfg

    async def health(self, tenant_id: TenantPath) -> dict[str, str]:
        """Form providers probe the URL with GET before saving it."""
        return {"status": "ok", "method": "POST"}

    async def submit(
        self, tenant_id: TenantPath, request: Request
    ) -> dict[str, Any] | JSONResponse:
        """Store the submission as the conversation's lead context; queue the greeting if asked."""
        client, cfg = await self.tenant(tenant_id)
        cid = str(client["id"])
        raw = await raw_body(request)
        # proof first: a stranger's request must not spend the tenant's rate limit
        if cfg.secret is None:
            log.warning("form_refused_no_secret", tenant_id=cid)
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                "this form has no secret yet: generate one with"
                " POST /admin/clients/{id}/form-secret and send it as X-Form-Secret",
            )
        if not authentic(request, raw, cfg.secret):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                "missing or wrong X-Form-Secret / X-Form-Signature",
            )
        if not await self.within_rate(cid, cfg.rate_per_minute):
            return JSONResponse(
                {"detail": "too many form submissions, retry in a minute"},
                status_code=status.HTTP_429_TOO_MANY_REQUESTS,
                headers={"Retry-After": "60"},
            )
        try:
            form = lead_context.parse_submission(parsed_body(request, raw))
        except FormPayloadInvalid as exc:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None
        except PhoneNotFound as exc:
            raise invalid(("body",), str(exc)) from None
        greeting, outbound_id, conv_id = await store(self.pool, client, cfg, form)
        if outbound_id is not None:
            try:
                await self.publisher.publish(
                    SendReply(
                        tenant_id=cid,
                        conversation_id=conv_id,
                        outbound_id=outbound_id,
                        origin="system",
                    ),
                    exchange=PIPELINE,
                )
            except Exception as exc:  # the pending outbox row is swept and republished
                log.warning("form_greeting_publish_failed", tenant_id=cid, error=str(exc))
        log.info(
            "form_submitted",
            tenant_id=cid,
            conversation_id=conv_id,
            greeting=greeting,
            fields=len(form.fields),
        )
        return {
            "status": "ok",
            "chat_id": form.phone,
            "conversation_id": conv_id,
            "fields_received": len(form.fields),
            "greeting": greeting,
        }


def forms_router(
    settings: Settings,
    pool: asyncpg.Pool,
    redis: aioredis.Redis,
    publisher: Publisher,
    box: SecretBox,
    *,
    rate_per_minute: int = DEFAULT_RATE_PER_MINUTE,
    clock: Callable[[], float] = time.time,
) -> APIRouter:
    """`/api/v1/forms/{client_id}/submit`: lead context and the optional greeting."""
    router = APIRouter(prefix="/api/v1/forms", tags=["forms"])
    forms = FormRoutes(settings, pool, redis, publisher, box, rate_per_minute, clock)
    router.add_api_route("/{client_id}/submit", forms.health, methods=["GET"])
    router.add_api_route(
        "/{client_id}/submit",
        forms.submit,
        methods=["POST"],
        response_model=None,
        openapi_extra=SUBMISSION_BODY,
        responses={
            400: {"description": "not JSON, or no field with a value"},
            403: {"description": "missing or wrong form secret"},
            404: {"description": "no such tenant, or its forms are off"},
            413: {"description": "body too large"},
            429: {"description": "too many submissions this minute (Retry-After)"},
        },
    )
    return router
