"""crm_upsert_lead / crm_add_note: built-in lead tables, optionally mirrored to a tenant webhook."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import structlog

from waai.tools.guarded_http import check_url, fetch_capped
from waai.tools.registry import Tool, ToolContext, ToolFailed, ToolSpec

log = structlog.get_logger(__name__)

_LEAD_FIELDS = ("name", "phone", "email", "interest", "stage")
_UPSERT = (
    "INSERT INTO leads (client_id, contact_key, conversation_id, name, phone, email, interest,"
    " stage, data) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    " ON CONFLICT (client_id, contact_key) DO UPDATE SET"
    " conversation_id = coalesce(EXCLUDED.conversation_id, leads.conversation_id),"
    " name = coalesce(EXCLUDED.name, leads.name), phone = coalesce(EXCLUDED.phone, leads.phone),"
    " email = coalesce(EXCLUDED.email, leads.email),"
    " interest = coalesce(EXCLUDED.interest, leads.interest),"
    " stage = coalesce(EXCLUDED.stage, leads.stage), data = leads.data || EXCLUDED.data,"
    " updated_at = now() WHERE leads.client_id = $1"
    " RETURNING id, name, phone, email, interest, stage, data"
)


def crm_tools(cfg: Mapping[str, Any], instructions: str = "") -> list[Tool]:
    """The CRM tools; `cfg` may name `webhook_url` and `webhook_headers` (secrets as "enc:")."""

    async def upsert(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
        lead = await _upsert(ctx, args)
        sent = await _webhook(ctx, cfg, "lead.upserted", {"lead": lead})
        return {"lead_id": lead["id"], **({"webhook": sent} if sent else {})}

    async def add_note(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
        note = str(args["note"]).strip()[:4000]
        lead = await _upsert(ctx, {})
        await ctx.pool.execute(
            "INSERT INTO lead_notes (client_id, lead_id, note) VALUES ($1, $2, $3)",
            ctx.tenant_id,
            uuid.UUID(lead["id"]),
            note,
        )
        sent = await _webhook(ctx, cfg, "lead.note_added", {"lead": lead, "note": note})
        return {"lead_id": lead["id"], **({"webhook": sent} if sent else {})}

    return [
        Tool(
            ToolSpec(
                "crm_upsert_lead",
                "Save or update this customer as a lead in the CRM.",
                {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "phone": {"type": "string"},
                        "email": {"type": "string"},
                        "interest": {"type": "string"},
                        "stage": {
                            "type": "string",
                            "description": "e.g. new, qualified, won, lost",
                        },
                        "data": {"type": "object", "description": "Other facts as key/value pairs"},
                    },
                },
            ),
            upsert,
            instructions,
            side_effects=True,
        ),
        Tool(
            ToolSpec(
                "crm_add_note",
                "Add a note about this customer to the CRM.",
                {
                    "type": "object",
                    "properties": {"note": {"type": "string"}},
                    "required": ["note"],
                },
            ),
            add_note,
            side_effects=True,
        ),
    ]


async def _upsert(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    values = [_clean(args.get(f)) for f in _LEAD_FIELDS]
    if values[0] is None and ctx.contact_name:
        values[0] = ctx.contact_name
    extra = args.get("data") if isinstance(args.get("data"), dict) else {}
    conversation = _uuid_or_none(ctx.conversation_id)
    row = await ctx.pool.fetchrow(
        _UPSERT, ctx.tenant_id, ctx.contact_key, conversation, *values, extra
    )
    if row is None:
        raise ToolFailed("crm_error", "The lead could not be saved.")
    return {"id": str(row["id"]), **{f: row[f] for f in _LEAD_FIELDS}, "data": row["data"]}


async def _webhook(
    ctx: ToolContext, cfg: Mapping[str, Any], event: str, payload: dict[str, Any]
) -> str | None:
    url = cfg.get("webhook_url")
    if not url:
        return None
    headers = {str(k): ctx.decrypt(str(v)) for k, v in (cfg.get("webhook_headers") or {}).items()}
    try:
        target = await check_url(str(url), ctx.settings.tool_allowed_hosts)
        resp = await fetch_capped(
            ctx.http,
            "POST",
            target,
            max_bytes=1024,
            timeout_s=ctx.settings.tool_timeout_s,
            headers=headers,
            json_body={
                "event": event,
                "client_id": ctx.tenant_id,
                "contact_key": ctx.contact_key,
                **payload,
            },
        )
    except ToolFailed as exc:
        log.warning("crm_webhook_failed", error=exc.code)
        return "failed"
    return "sent" if 200 <= resp.status < 300 else "failed"


def _clean(value: Any) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text[:500] or None


def _uuid_or_none(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None
