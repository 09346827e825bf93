"""What a form submission stores, in one transaction: the lead context on the conversation
(made on first contact) and, when the tenant asks and the customer may be greeted, the
greeting as a pending outbound message."""

from __future__ import annotations

import hashlib
import json
from typing import Any, cast

import asyncpg

from meta_gateway.form_config import FormConfig
from wacommon.broker.schemas import utcnow
from wacommon.conversation import lead_context, lead_text
from wacommon.conversation.lead_context import LeadForm
from wacommon.repositories import messages as msg_repo

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


def fields_digest(form: LeadForm) -> str:
    """A stable hash of a submission's content: the same form sent twice greets once."""
    canonical = json.dumps([form.fields, form.utms], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:24]


async def default_provider(
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


async def store(
    pool: asyncpg.Pool, client: asyncpg.Record, cfg: FormConfig, form: LeadForm
) -> tuple[str, int | None, str]:
    """(greeting outcome, outbound id to publish, conversation id), in one transaction."""
    cid = str(client["id"])
    ctx = form.as_context(utcnow().isoformat())
    async with pool.acquire() as proxy, proxy.transaction():
        conn = cast(asyncpg.Connection, proxy)
        provider, instance_id = await default_provider(conn, client)
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
        text = lead_text.render_greeting(cfg.greeting, form)
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
