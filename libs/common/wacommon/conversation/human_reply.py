"""A human answered the customer: the bot pauses, for how long the tenant configured.

See docs/conversation-states.md: a message from the business number or panel that our API
did not send moves the conversation to `human` (or back to `bot` on `#ativar`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from wacommon.conversation.state import BOT, HUMAN, OPTED_OUT, handover, resume
from wacommon.infra.dbtypes import Conn
from wacommon.repositories import event_types as ev
from wacommon.repositories.events import record_event
from wacommon.tenants.sections.base import parse_section
from wacommon.tenants.sections.conversation import HandoverSection, StopTriggersSection


def human_pause_until(
    tools_config: dict[str, Any],
    human_timeout_s: int | None,
    now: datetime,
    text: str | None = None,
) -> datetime | None:
    """When a pause started by a human reply ends; None means until resumed."""
    cfg = parse_section(HandoverSection, tools_config.get("atendimento_humano"), "handover")
    if cfg.permanent_on_human_reply or _has_stop_trigger(tools_config, text):
        return None
    if cfg.timeout_minutes is not None:
        return now + timedelta(minutes=cfg.timeout_minutes)
    return now + timedelta(seconds=human_timeout_s) if human_timeout_s else None


def _has_stop_trigger(tools_config: dict[str, Any], text: str | None) -> bool:
    """The seed's `desativar_ia` triggers (or 🛑) in a human's message make the pause permanent."""
    if not text:
        return False
    raw = tools_config.get("desativar_ia")
    section = parse_section(StopTriggersSection, raw if isinstance(raw, dict) else None, "stop")
    lowered = text.lower()
    return any(t in lowered for t in (*section.triggers, "🛑"))


async def on_human_message(
    conn: Conn,
    tenant_id: str,
    conversation_id: str,
    *,
    tenant_tools_config: dict[str, Any],
    human_timeout_s: int | None,
    correlation_id: str | None = None,
    now: datetime | None = None,
    text: str | None = None,
    provider: str | None = None,
) -> str:
    """A human answered from the business number or panel: pause the bot; returns the new state."""
    async with conn.transaction():
        row = await conn.fetchrow(
            "SELECT state, coalesce($3::timestamptz, now()) AS now FROM active_conversations"
            " WHERE client_id = $1 AND id = $2 FOR UPDATE",
            tenant_id,
            conversation_id,
            now,
        )
        if row is None:
            return ""
        at: datetime = row["now"]
        await conn.execute(
            "UPDATE active_conversations SET followup_due_at = NULL, followup_stage = 0"
            " WHERE client_id = $1 AND id = $2",
            tenant_id,
            conversation_id,
        )
        await record_event(
            conn,
            tenant_id,
            ev.HUMAN_RESPONDED,
            {"provider": provider},
            conversation_id=conversation_id,
            correlation_id=correlation_id,
            at=now,
        )
        if row["state"] == OPTED_OUT:
            return OPTED_OUT
        if text and text.strip().lower() == "#ativar":
            # the agent hands the conversation back from the business phone
            await resume(
                conn,
                tenant_id,
                conversation_id,
                cause="human_command",
                correlation_id=correlation_id,
                now=now,
            )
            return BOT if row["state"] in (HUMAN, BOT) else str(row["state"])
        until = human_pause_until(tenant_tools_config, human_timeout_s, at, text)
        await handover(
            conn,
            tenant_id,
            conversation_id,
            cause="human_reply",
            until=until,
            correlation_id=correlation_id,
            now=now,
        )
        return HUMAN
