"""Meta webhook endpoints: the subscription handshake and signed deliveries.

A delivery is answered 200 only after the raw body is published with a broker
confirm to the durable ingest queue; parsing, tenant routing and deduplication by
`wamid` happen in the ingest consumer. Anything the broker does not confirm is a
503, so Meta delivers it again.

The POST is the hot path (bench/gateway.py): it is a plain ASGI endpoint, so
FastAPI's request, dependency and response objects are skipped. The body is parsed
once (`WebhookReceived.of_raw`): the envelope check and the publisher's shard key use
that parse, and the envelope goes out through the one wire codec
(`wacommon.broker.envelope`). `install_fast_path` also serves it ahead of FastAPI's
router and inner middleware.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson
import structlog
from fastapi import APIRouter, FastAPI, Query, Response
from fastapi.responses import PlainTextResponse
from prometheus_client import Counter
from starlette.routing import Route

from wacommon.broker.publisher import Publisher, PublishFailed
from wacommon.broker.schemas import Provider, WebhookReceived
from wacommon.broker.topology import INGEST
from wacommon.infra.settings import Settings
from wacommon.providers.meta.webhook_checks import (
    HandshakeRejected,
    InvalidWebhookPayload,
    InvalidWebhookSignature,
    MissingWebhookSignature,
    check_envelope,
    check_handshake,
    verify_signature,
)

log = structlog.get_logger(__name__)

WEBHOOKS = Counter("wa_meta_webhooks_total", "Meta webhook deliveries", ["outcome"])
WEBHOOK_PATH = "/meta/webhook"
# Meta's deliveries are a few kB; anything this large is not one
MAX_BODY_BYTES = 4 * 1024 * 1024

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


async def _answer(send: Send, status: int, error: str | None = None) -> None:
    if error is None:
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-length", b"0")],
            }
        )
        await send({"type": "http.response.body", "body": b""})
        return
    body = orjson.dumps({"error": error})
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class _ClientGone(Exception):
    """The client disconnected before the whole body arrived."""


class DeliveryEndpoint:
    """`POST /meta/webhook` as an ASGI app: verify, check, publish with a confirm, answer."""

    def __init__(self, app_secret: str, publisher: Publisher) -> None:
        self._secret = app_secret
        self._publisher = publisher
        self._accepted = WEBHOOKS.labels("accepted")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            raw, signature = await self._read(scope, receive)
        except _ClientGone:
            return  # nothing was published; Meta delivers it again
        if raw is None:
            WEBHOOKS.labels("too_large").inc()
            await _answer(send, 413, "body too large")
            return
        if not self._secret:
            WEBHOOKS.labels("not_configured").inc()
            await _answer(send, 503, "META_APP_SECRET is not configured")
            return
        try:
            verify_signature(raw, signature, self._secret)
        except MissingWebhookSignature as exc:
            WEBHOOKS.labels("unsigned").inc()
            await _answer(send, 401, str(exc))
            return
        except InvalidWebhookSignature as exc:
            WEBHOOKS.labels("forged").inc()
            await _answer(send, 403, str(exc))
            return
        try:
            message = WebhookReceived.of_raw(Provider.META, raw)
        except ValueError:
            WEBHOOKS.labels("bad_json").inc()
            await _answer(send, 400, "body is not valid JSON")
            return
        try:
            check_envelope(message.payload())
        except InvalidWebhookPayload as exc:
            WEBHOOKS.labels("bad_envelope").inc()
            await _answer(send, 400, exc.reason)
            return
        try:
            await self._publisher.publish(message, exchange=INGEST)
        except PublishFailed as exc:
            WEBHOOKS.labels("unavailable").inc()
            log.error("webhook_not_accepted", error=str(exc))
            await _answer(send, 503, "temporarily unavailable")
            return
        self._accepted.inc()
        await _answer(send, 200)

    @staticmethod
    async def _read(scope: Scope, receive: Receive) -> tuple[bytes | None, str | None]:
        """The whole body (None past MAX_BODY_BYTES) and the signature header."""
        signature = None
        for name, value in scope["headers"]:
            if name == b"x-hub-signature-256":
                signature = value.decode("latin-1")
                break
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                raise _ClientGone
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                return None, signature
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return (chunks[0] if len(chunks) == 1 else b"".join(chunks)), signature


class WebhookFastPath:
    """ASGI middleware sending `POST /meta/webhook` straight to the delivery endpoint.

    FastAPI's routing costs per request grow with the number of routes (the admin API
    has many); this skips them and the inner middleware. Errors the endpoint does not
    answer itself still reach the outer ServerErrorMiddleware (a 500, so Meta retries).
    """

    def __init__(
        self, app: Callable[[Scope, Receive, Send], Awaitable[None]], endpoint: DeliveryEndpoint
    ) -> None:
        self._app = app
        self._endpoint = endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == WEBHOOK_PATH and scope["method"] == "POST":
            await self._endpoint(scope, receive, send)
            return
        await self._app(scope, receive, send)


# the delivery is a plain ASGI route, which FastAPI leaves out of the OpenAPI: this is it,
# stating exactly what DeliveryEndpoint checks
DELIVERY_OPERATION: dict[str, Any] = {
    "tags": ["meta webhook"],
    "summary": "A signed Meta webhook delivery",
    "description": "Answered 200 once the raw body is published with a broker confirm.",
    "operationId": "meta_webhook_delivery",
    "parameters": [
        {
            "name": "X-Hub-Signature-256",
            "in": "header",
            "required": True,
            "description": "sha256= HMAC-SHA256 of the raw body with META_APP_SECRET",
            "schema": {"type": "string"},
        }
    ],
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["object", "entry"],
                    "properties": {
                        "object": {"const": "whatsapp_business_account"},
                        "entry": {"type": "array"},
                    },
                }
            }
        },
    },
    "responses": {
        "200": {"description": "published to the ingest queue"},
        "400": {"description": "not JSON, or not a WhatsApp Business Account envelope"},
        "401": {"description": "no X-Hub-Signature-256 header"},
        "403": {"description": "the signature does not match the body"},
        "413": {"description": "body over 4 MiB"},
        "503": {"description": "not confirmed by the broker (or no META_APP_SECRET): retry"},
    },
}


def install_fast_path(app: FastAPI, settings: Settings, publisher: Publisher) -> None:
    """Serve webhook deliveries ahead of the app's router (call once, after building it)."""
    app.add_middleware(WebhookFastPath, endpoint=DeliveryEndpoint(_app_secret(settings), publisher))
    build_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        schema = build_openapi()
        schema["paths"].setdefault(WEBHOOK_PATH, {})["post"] = DELIVERY_OPERATION
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _app_secret(settings: Settings) -> str:
    return settings.meta_app_secret.get_secret_value() if settings.meta_app_secret else ""


def webhook_router(settings: Settings, publisher: Publisher) -> APIRouter:
    """Routes for `/meta/webhook`."""
    router = APIRouter(tags=["meta webhook"])
    verify_token = (
        settings.meta_verify_token.get_secret_value() if settings.meta_verify_token else ""
    )

    @router.get(
        WEBHOOK_PATH,
        response_class=PlainTextResponse,
        responses={403: {"description": "wrong mode or verify token"}},
    )
    async def handshake(
        mode: str | None = Query(None, alias="hub.mode"),
        token: str | None = Query(None, alias="hub.verify_token"),
        challenge: str | None = Query(None, alias="hub.challenge"),
    ) -> Response:
        """Echo `hub.challenge` when `hub.verify_token` matches META_VERIFY_TOKEN."""
        try:
            challenge = check_handshake(mode, token, challenge, verify_token)
        except HandshakeRejected:
            return PlainTextResponse("forbidden", status_code=403)
        return PlainTextResponse(challenge)

    # verify, then publish the raw delivery with a confirm; 200 only once confirmed
    router.routes.append(
        Route(
            WEBHOOK_PATH,
            DeliveryEndpoint(_app_secret(settings), publisher),
            methods=["POST"],
            name="meta_webhook_delivery",
            include_in_schema=False,
        )
    )
    return router
