"""Public form webhook: a submission becomes lead context on the conversation, maybe a greeting.

`POST /api/v1/forms/{client_id}/submit` needs no admin token: it answers 404 unless the
tenant turned `tools_config["form_context"]["active"]` on. Every submission must prove it
comes from the tenant's form integration: `X-Form-Secret: <secret>` or
`X-Form-Signature: sha256=<hex HMAC-SHA256 of the raw body with the secret>`. A tenant with
forms on and no secret yet accepts nothing (the admin API generates one). The proof is
checked before the per-tenant rate limit is counted, so strangers cannot spend it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import asyncpg
import redis.asyncio as aioredis
import structlog
from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import JSONResponse

from wacommon.broker.publisher import Publisher
from wacommon.broker.schemas import SendReply, utcnow
from wacommon.broker.topology import PIPELINE
from wacommon.conversation import lead_context
from wacommon.conversation.lead_context import FormPayloadInvalid, LeadForm, PhoneNotFound
from wacommon.infra.crypto import SecretBox
from wacommon.infra.settings import Settings
from wacommon.infra.textclean import clean_json, loads_untrusted
from wacommon.repositories import messages as msg_repo
from wacommon.tenants.config import parse_tenant
from wacommon.tenants.sections.inbound import FormSection
from wacommon.web.http_errors import invalid

log = structlog.get_logger(__name__)

MAX_BODY_BYTES = 64 * 1024
DEFAULT_RATE_PER_MINUTE = 30
DEFAULT_COOLDOWN_HOURS = 24.0
DEFAULT_GREETING = (
    "Olá {nome}! Recebemos suas informações e já vamos continuar seu atendimento por aqui."
)
_PROVIDERS = ("meta", "lancepilot", "uazapi")
# customers who opted out or are with a human are never greeted by a form
_GREETABLE = ("bot", "closed")

_UPSERT = """
INSERT INTO active_conversations AS c
  (client_id, contact_key, contact_phone, contact_name, provider, provider_instance_id, attributes)
VALUES ($1, $2, $2, $3, $4, $5, jsonb_build_object($6::text, $7::jsonb))
ON CONFLICT (client_id, contact_key) DO UPDATE SET
  contact_phone = coalesce(c.contact_phone, EXCLUDED.contact_phone),
  contact_name = coalesce(c.contact_name, EXCLUDED.contact_name),
  attributes = c.attributes || jsonb_build_object($6::text, $7::jsonb),
  updated_at = now()
RETURNING id, provider, provider_instance_id, state, (xmax = 0) AS created
"""


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


@dataclass(frozen=True)
class FormConfig:
    """`tools_config["form_context"]` of a tenant."""

    active: bool
    send_greeting: bool
    greeting: str
    template: dict[str, Any] | None
    secret: str | None
    rate_per_minute: int
    cooldown_hours: float

    @classmethod
    def of(cls, section: FormSection, default_rate: int) -> FormConfig:
        """The tenant's typed `forms` section over the deployment's rate limit."""
        return cls(
            active=section.active,
            send_greeting=section.send_greeting,
            greeting=section.greeting or DEFAULT_GREETING,
            template=section.template,
            secret=section.secret.get_secret_value() if section.secret is not None else None,
            rate_per_minute=section.rate_limit_per_minute or default_rate,
            cooldown_hours=(
                section.greeting_cooldown_hours
                if section.greeting_cooldown_hours is not None
                else DEFAULT_COOLDOWN_HOURS
            ),
        )


def fields_digest(form: LeadForm) -> str:
    """A stable hash of a submission's content: the same form sent twice greets once."""
    canonical = json.dumps([form.fields, form.utms], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:24]


SECRET_HEADER = "x-form-secret"  # noqa: S105 - a header name
SIGNATURE_HEADER = "x-form-signature"


async def _raw_body(request: Request) -> bytes:
    """The body, read no further than MAX_BODY_BYTES (413 beyond)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise HTTPException(413, "form body too large")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise HTTPException(413, "form body too large")
        chunks.append(chunk)
    return b"".join(chunks)


def authentic(request: Request, raw: bytes, secret: str | None) -> bool:
    """The shared secret in its header, or an HMAC-SHA256 signature of the raw body with it."""
    if not secret:
        return False
    given = request.headers.get(SECRET_HEADER)
    if given is not None:
        return hmac.compare_digest(given.encode(), secret.encode())
    signature = request.headers.get(SIGNATURE_HEADER, "").strip()
    if signature.lower().startswith("sha256="):
        signature = signature[len("sha256=") :]
    if not signature:
        return False
    expected = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    return hmac.compare_digest(signature.lower().encode(), expected.encode())


def _body(request: Request, raw: bytes) -> Any:
    ctype = request.headers.get("content-type", "")
    if "application/x-www-form-urlencoded" in ctype:
        return clean_json(dict(urllib.parse.parse_qsl(raw.decode("utf-8", "replace"))))
    try:
        return loads_untrusted(raw)
    except ValueError:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "body is not valid JSON") from None


async def _default_provider(
    conn: asyncpg.Connection, client: asyncpg.Record
) -> tuple[str, str | None]:
    """The tenant's default active instance; else its legacy provider name."""
    row = await conn.fetchrow(
        "SELECT id, provider_type FROM client_providers WHERE client_id = $1 AND is_active"
        " ORDER BY is_default DESC, created_at, id LIMIT 1",
        client["id"],
    )
    if row is not None:
        return str(row["provider_type"]), str(row["id"])
    legacy = client["whatsapp_provider"]
    return (legacy if legacy in _PROVIDERS else "uazapi"), None


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

    async def within_rate(client_id: str, limit: int) -> bool:
        window = int(clock() // 60)
        key = settings.rkey("forms", "rate", client_id, str(window))
        try:
            async with redis.pipeline(transaction=True) as pipe:
                pipe.incr(key)
                pipe.expire(key, 120)
                count, _ = await pipe.execute()
        except Exception as exc:  # a Redis outage must not lose leads
            log.warning("form_rate_limit_unavailable", error=type(exc).__name__)
            return True
        return int(count) <= limit

    async def tenant(client_id: str) -> tuple[asyncpg.Record, FormConfig]:
        try:
            cid = str(uuid.UUID(client_id))
        except ValueError:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "form not found") from None
        client = await pool.fetchrow(
            "SELECT id, name, bot_active, tools_config, whatsapp_provider FROM clients"
            " WHERE id = $1",
            cid,
        )
        if client is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "form not found")
        cfg = FormConfig.of(parse_tenant(dict(client), box.open).forms, rate_per_minute)
        if not cfg.active:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "form not found")
        return client, cfg

    @router.get("/{client_id}/submit")
    async def health(client_id: str) -> dict[str, str]:
        """Form providers probe the URL with GET before saving it."""
        return {"status": "ok", "method": "POST"}

    @router.post(
        "/{client_id}/submit",
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
    async def submit(client_id: str, request: Request) -> dict[str, Any] | JSONResponse:
        """Store the submission as the conversation's lead context; queue the greeting if asked."""
        client, cfg = await tenant(client_id)
        cid = str(client["id"])
        raw = await _raw_body(request)
        # proof first: a stranger's request must not spend the tenant's rate limit
        if cfg.secret is None:
            log.warning("form_refused_no_secret", client_id=cid)
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
        if not await within_rate(cid, cfg.rate_per_minute):
            return JSONResponse(
                {"detail": "too many form submissions, retry in a minute"},
                status_code=status.HTTP_429_TOO_MANY_REQUESTS,
                headers={"Retry-After": "60"},
            )
        try:
            form = lead_context.parse_submission(_body(request, raw))
        except FormPayloadInvalid as exc:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None
        except PhoneNotFound as exc:
            raise invalid(("body",), str(exc)) from None
        greeting, outbound_id, conv_id = await _store(pool, client, cfg, form)
        if outbound_id is not None:
            try:
                await publisher.publish(
                    SendReply(
                        tenant_id=cid,
                        conversation_id=conv_id,
                        outbound_id=outbound_id,
                        origin="system",
                    ),
                    exchange=PIPELINE,
                )
            except Exception as exc:  # the pending outbox row is swept and republished
                log.warning("form_greeting_publish_failed", client_id=cid, error=str(exc))
        log.info(
            "form_submitted",
            client_id=cid,
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

    return router


async def _store(
    pool: asyncpg.Pool, client: asyncpg.Record, cfg: FormConfig, form: LeadForm
) -> tuple[str, int | None, str]:
    """(greeting outcome, outbound id to publish, conversation id), in one transaction."""
    cid = str(client["id"])
    ctx = form.as_context(utcnow().isoformat())
    async with pool.acquire() as proxy, proxy.transaction():
        conn = cast(asyncpg.Connection, proxy)
        provider, instance_id = await _default_provider(conn, client)
        conv = await conn.fetchrow(
            _UPSERT, cid, form.phone, form.name, provider, instance_id, lead_context.ATTRIBUTE, ctx
        )
        assert conv is not None
        conv_id = str(conv["id"])
        if not (cfg.send_greeting and (cfg.greeting.strip() or cfg.template)):
            return "off", None, conv_id
        if not client["bot_active"]:
            return "skipped_bot_off", None, conv_id
        if conv["state"] not in _GREETABLE:
            return f"skipped_{conv['state']}", None, conv_id
        key = f"form:{cid}:{form.phone}:{fields_digest(form)}"
        if await msg_repo.get_by_idempotency_key(conn, cid, key) is not None:
            return "duplicate", None, conv_id
        recent = await conn.fetchval(
            """SELECT EXISTS (SELECT 1 FROM chat_messages WHERE client_id = $1
                 AND conversation_id = $2 AND direction = 'out' AND idempotency_key LIKE 'form:%'
                 AND created_at > now() - make_interval(secs => $3))""",
            cid,
            conv_id,
            cfg.cooldown_hours * 3600,
        )
        if recent:
            return "cooldown", None, conv_id
        text = lead_context.render_greeting(cfg.greeting, form)
        payload: dict[str, Any] = {"origin": "system", "source": "form"}
        if cfg.template:
            payload["template"] = cfg.template
        outbound_id = await msg_repo.insert_outbound(
            conn,
            cid,
            conv_id,
            provider=conv["provider"],
            instance_id=str(conv["provider_instance_id"]) if conv["provider_instance_id"] else None,
            role="bot",
            kind="template" if cfg.template else "text",
            content=text,
            payload=payload,
            idempotency_key=key,
        )
    if outbound_id is None:
        return "duplicate", None, conv_id
    return "queued", outbound_id, conv_id
