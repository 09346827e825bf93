"""Uazapi and LancePilot webhook endpoints.

Neither provider signs its bodies, so each provider instance has its own
unguessable URL secret; Uazapi bodies must also carry the instance token. A
legacy tenant without a `client_providers` row may use its `clients.token` as
the secret (the system we replace routed on it); it is found by its SHA-256
(`clients.token_hash`), the token itself being sealed at rest. Accepted bodies are published
with a confirm; the ingest consumer does the rest.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any

import asyncpg
import structlog
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from wacommon.broker.publisher import Publisher, PublishFailed
from wacommon.broker.schemas import Provider, WebhookReceived
from wacommon.broker.topology import INGEST
from wacommon.infra.crypto import SecretBox
from wacommon.providers.errors import InvalidWebhookPayload
from wacommon.providers.lancepilot.inbound import INCOMING, OUTGOING, check_lancepilot_envelope
from wacommon.providers.uazapi.inbound import check_uazapi_envelope, token_matches
from wacommon.repositories import providers as providers_repo
from wacommon.repositories.clients import token_digest

log = structlog.get_logger(__name__)

MAX_BODY = 3 * 1024 * 1024


def _json_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def _requires_when(field: str, values: list[str], required: str) -> dict[str, Any]:
    return {
        "if": {"properties": {field: {"enum": values}}, "required": [field]},
        "then": {"properties": {required: {"type": "object"}}, "required": [required]},
    }


# the body is read by hand (it is published as received): the OpenAPI states exactly what
# check_uazapi_envelope / check_lancepilot_envelope refuse with a 400
UAZAPI_BODY = _json_body(
    {
        "type": "object",
        "required": ["EventType"],
        "properties": {
            "EventType": {"type": "string", "minLength": 1},
            "token": {"type": "string", "description": "the instance token"},
        },
        **_requires_when("EventType", ["messages"], "message"),
    }
)
LANCEPILOT_BODY = _json_body(
    {
        "type": "object",
        "required": ["event"],
        "properties": {"event": {"type": "string", "minLength": 1}},
        **_requires_when("event", [INCOMING, OUTGOING], "data"),
    }
)
_ERRORS = {
    "400": "not JSON, or not the provider's envelope",
    "401": "unknown webhook URL",
    "413": "body too large",
    "503": "the broker did not confirm: the provider should deliver it again",
}


def _responses(*extra: tuple[int, str]) -> dict[int | str, dict[str, Any]]:
    described = {int(code): text for code, text in _ERRORS.items()}
    described.update(dict(extra))
    return {
        200: {"description": "published to the ingest queue"},
        **{code: {"description": text} for code, text in described.items()},
    }


@dataclass(frozen=True)
class Endpoint:
    """Whom a webhook URL secret belongs to."""

    tenant_id: str
    instance_id: str | None
    token: str | None


async def resolve_secret(
    pool: asyncpg.Pool, box: SecretBox, provider: Provider, secret: str
) -> Endpoint | None:
    """The provider instance (or legacy tenant) a webhook URL secret names."""
    row = await providers_repo.find_by_webhook_secret(pool, box, secret)
    if row is not None:
        if row["provider_type"] != provider.value or not row["is_active"]:
            return None
        return Endpoint(str(row["client_id"]), str(row["id"]), row["config"].get("token"))
    digest = token_digest(secret)
    legacy = await pool.fetchrow(
        "SELECT id, token, token_hash FROM clients WHERE token_hash = $1", digest
    )
    if legacy is not None and hmac.compare_digest(legacy["token_hash"].encode(), digest.encode()):
        return Endpoint(str(legacy["id"]), None, box.decrypt(str(legacy["token"])))
    return None


def webhooks_router(pool: asyncpg.Pool, box: SecretBox, publisher: Publisher) -> APIRouter:
    """`POST /uazapi/webhook/{secret}` and `POST /lancepilot/webhook/{secret}`."""
    router = APIRouter(tags=["provider webhooks"])

    async def accept(provider: Provider, secret: str, request: Request) -> Response:
        raw = await request.body()
        if len(raw) > MAX_BODY:
            return JSONResponse({"error": "body too large"}, status_code=413)
        if not secret or len(secret) < 16:
            return JSONResponse({"error": "unknown webhook URL"}, status_code=401)
        endpoint = await resolve_secret(pool, box, provider, secret)
        if endpoint is None:
            return JSONResponse({"error": "unknown webhook URL"}, status_code=401)
        try:
            message = WebhookReceived.of_raw(
                provider, raw, tenant_id=endpoint.tenant_id, instance_id=endpoint.instance_id
            )
        except ValueError:
            return JSONResponse({"error": "body is not valid JSON"}, status_code=400)
        payload: Any = message.payload()
        try:
            if provider is Provider.UAZAPI:
                check_uazapi_envelope(payload)
                if not token_matches(payload.get("token"), endpoint.token):
                    return JSONResponse({"error": "instance token does not match"}, status_code=403)
            else:
                check_lancepilot_envelope(payload)
        except InvalidWebhookPayload as exc:
            return JSONResponse({"error": exc.reason}, status_code=400)
        try:
            await publisher.publish(message, exchange=INGEST)
        except PublishFailed as exc:
            log.error("webhook_not_accepted", provider=provider.value, error=str(exc))
            return JSONResponse({"error": "temporarily unavailable"}, status_code=503)
        return JSONResponse({"status": "accepted"})

    @router.post(
        "/uazapi/webhook/{secret}",
        openapi_extra=UAZAPI_BODY,
        responses=_responses((403, "the body's token is not the instance token")),
    )
    async def uazapi(secret: str, request: Request) -> Response:
        """A Uazapi instance webhook."""
        return await accept(Provider.UAZAPI, secret, request)

    @router.post(
        "/lancepilot/webhook/{secret}", openapi_extra=LANCEPILOT_BODY, responses=_responses()
    )
    async def lancepilot(secret: str, request: Request) -> Response:
        """A LancePilot workspace webhook."""
        return await accept(Provider.LANCEPILOT, secret, request)

    @router.post("/uazapi/webhook", include_in_schema=False)
    @router.post("/uazapi/webhook/", include_in_schema=False)
    @router.post("/lancepilot/webhook", include_in_schema=False)
    @router.post("/lancepilot/webhook/", include_in_schema=False)
    async def no_secret() -> Response:
        """A webhook URL without its secret (otherwise a 404 or a redirect)."""
        return JSONResponse({"error": "unknown webhook URL"}, status_code=401)

    return router
