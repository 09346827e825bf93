"""Meta webhook endpoints: the subscription handshake and signed deliveries.

A delivery is answered 200 only after the raw body is published with a broker
confirm to the durable ingest queue; parsing, tenant routing and deduplication by
`wamid` happen in the ingest consumer. Anything the broker does not confirm is a
503, so Meta delivers it again.
"""

from __future__ import annotations

import orjson
import structlog
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import Counter

from wacommon.broker.publisher import Publisher, PublishFailed
from wacommon.broker.topology import INGEST
from wacommon.providers.meta import (
    HandshakeRejected,
    InvalidWebhookPayload,
    InvalidWebhookSignature,
    MissingWebhookSignature,
    check_envelope,
    check_handshake,
    verify_signature,
)
from wacommon.schemas import Provider, WebhookReceived
from wacommon.settings import Settings

log = structlog.get_logger(__name__)

WEBHOOKS = Counter("wa_meta_webhooks_total", "Meta webhook deliveries", ["outcome"])
ROUTING_KEY = "webhook.meta.v1"


def webhook_router(settings: Settings, publisher: Publisher) -> APIRouter:
    """Routes for `/meta/webhook`."""
    router = APIRouter(tags=["meta webhook"])
    app_secret = settings.meta_app_secret.get_secret_value() if settings.meta_app_secret else ""
    verify_token = (
        settings.meta_verify_token.get_secret_value() if settings.meta_verify_token else ""
    )

    @router.get("/meta/webhook", response_class=PlainTextResponse)
    async def handshake(request: Request) -> Response:
        """Echo `hub.challenge` when `hub.verify_token` matches META_VERIFY_TOKEN."""
        params = request.query_params
        try:
            challenge = check_handshake(
                params.get("hub.mode"), params.get("hub.verify_token"),
                params.get("hub.challenge"), verify_token,
            )
        except HandshakeRejected:
            return PlainTextResponse("forbidden", status_code=403)
        return PlainTextResponse(challenge)

    @router.post("/meta/webhook")
    async def deliver(request: Request) -> Response:
        """Verify, then publish the raw delivery with a confirm; 200 only once confirmed."""
        raw = await request.body()
        if not app_secret:
            WEBHOOKS.labels("not_configured").inc()
            return JSONResponse({"error": "META_APP_SECRET is not configured"}, status_code=503)
        try:
            verify_signature(raw, request.headers.get("x-hub-signature-256"), app_secret)
        except MissingWebhookSignature as exc:
            WEBHOOKS.labels("unsigned").inc()
            return JSONResponse({"error": str(exc)}, status_code=401)
        except InvalidWebhookSignature as exc:
            WEBHOOKS.labels("forged").inc()
            return JSONResponse({"error": str(exc)}, status_code=403)
        try:
            check_envelope(orjson.loads(raw))
        except orjson.JSONDecodeError:
            WEBHOOKS.labels("bad_json").inc()
            return JSONResponse({"error": "body is not valid JSON"}, status_code=400)
        except InvalidWebhookPayload as exc:
            WEBHOOKS.labels("bad_envelope").inc()
            return JSONResponse({"error": exc.reason}, status_code=400)
        message = WebhookReceived(provider=Provider.META, body=raw.decode("utf-8", "replace"))
        try:
            await publisher.publish(message, exchange=INGEST, routing_key=ROUTING_KEY)
        except PublishFailed as exc:
            WEBHOOKS.labels("unavailable").inc()
            log.error("webhook_not_accepted", error=str(exc))
            return JSONResponse({"error": "temporarily unavailable"}, status_code=503)
        WEBHOOKS.labels("accepted").inc()
        return Response(b"", status_code=200)

    return router
