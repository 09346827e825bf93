"""A customer's message against the tenant's rules: lists, commands, state, business hours."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from lancepilot_ingest.outcome import InboundOutcome, debounce_config
from wacommon.broker.schemas import InboundMessage, MessageKind, SenderRole
from wacommon.conversation import business_hours, commands
from wacommon.conversation import state as conversation_state
from wacommon.infra.dbtypes import Conn
from wacommon.repositories import event_types as ev
from wacommon.repositories import messages as msg_repo
from wacommon.repositories.events import record_event
from wacommon.tenants import contact_filter
from wacommon.tenants.config import TenantConfig


def answers_if_bot(msg: InboundMessage, client: TenantConfig, now: datetime) -> bool:
    """Every customer rule but the state lets the message through: no command, open hours.

    The same checks as `customer_rules`; the conversation's state ('bot') is checked on
    the upserted row (locked by the upsert) by the statement that stores the message.
    Anything else (a command, another state) takes the full path.
    """
    if msg.sender is not SenderRole.CUSTOMER:
        return False
    if not client.bot_active:
        return False
    if msg.kind is MessageKind.REACTION or msg.kind is MessageKind.SYSTEM:
        return False
    if not contact_filter.contact_allowed(
        client.contact_filter, client.groups_enabled, msg.contact.phone, msg.is_group
    )[0]:
        return False
    if commands.parse_customer_command(msg.text, client.commands) is not None:
        return False
    decision = business_hours.business_hours_decision(client.hours, now, client.timezone or "UTC")
    return decision.answer


async def customer_rules(
    conn: Conn,
    msg: InboundMessage,
    client: TenantConfig,
    conv: dict[str, Any],
    out: InboundOutcome,
    correlation_id: str,
    now: datetime,
) -> InboundOutcome:
    tenant_id, cid = msg.tenant_id, out.conversation_id or ""
    allowed, why = contact_filter.contact_allowed(
        client.contact_filter, client.groups_enabled, msg.contact.phone, msg.is_group
    )
    if not allowed:
        out.reason = why or "contact_filtered"
        return out
    if msg.kind is MessageKind.REACTION or (msg.kind is MessageKind.SYSTEM):
        out.reason = "not_answerable"
        return out
    command = commands.parse_customer_command(msg.text, client.commands)
    if command is not None:
        outcome = await commands.apply_customer_command(
            conn,
            tenant_id,
            cid,
            command,
            commands=client.commands,
            now=now,
            correlation_id=correlation_id,
        )
        if outcome.reply_text:
            reply_id = await system_reply(
                conn, msg, cid, outcome.reply_text, f"cmd:{out.stored_id}"
            )
            if reply_id:
                out.outbound_ids.append(reply_id)
        if outcome.stop_pipeline:
            out.reason = f"command_{command.action.value}"
            return out
    if not client.bot_active:
        out.reason = "bot_off"
        return out
    # a command may have moved the state; otherwise the upserted row is current
    state = (
        await conversation_state_now(conn, tenant_id, cid)
        if command is not None
        else str(conv["state"] or "bot")
    )
    if state == "closed" and await conversation_state.reopen(
        conn, tenant_id, cid, cause="customer", correlation_id=correlation_id
    ):
        state = "bot"
    if state != "bot":
        out.reason = f"state_{state}"
        return out
    decision = business_hours.business_hours_decision(client.hours, now, client.timezone or "UTC")
    if not decision.answer:
        out.reason = "off_hours"
        if (
            decision.off_message
            and decision.period_key
            and await business_hours.claim_off_hours_notice(
                conn, tenant_id, cid, decision.period_key
            )
        ):
            reply_id = await system_reply(
                conn, msg, cid, decision.off_message, f"offhours:{cid}:{decision.period_key}"
            )
            if reply_id:
                out.outbound_ids.append(reply_id)
                await record_event(
                    conn,
                    tenant_id,
                    ev.OFF_HOURS_REPLIED,
                    {"period": decision.period_key},
                    conversation_id=cid,
                    correlation_id=correlation_id,
                )
        return out
    await conn.execute(
        "UPDATE chat_messages SET status = 'buffered' WHERE client_id = $1 AND id = $2",
        tenant_id,
        out.stored_id,
    )
    out.buffer = True
    out.debounce = debounce_config(msg.provider, client.debounce)
    return out


async def conversation_state_now(conn: Conn, tenant_id: str, conversation_id: str) -> str:
    value = await conn.fetchval(
        "SELECT state FROM active_conversations WHERE client_id = $1 AND id = $2",
        tenant_id,
        conversation_id,
    )
    return str(value or "bot")


async def system_reply(
    conn: Conn, msg: InboundMessage, conversation_id: str, text: str, key: str
) -> int | None:
    """Queue a fixed answer (command confirmation, off-hours notice) in the outbox."""
    return await msg_repo.insert_outbound(
        conn,
        msg.tenant_id,
        conversation_id,
        provider=msg.provider.value,
        instance_id=msg.instance_id,
        role="bot",
        kind="text",
        content=text,
        payload={"origin": "system"},
        idempotency_key=key,
        reply_to=msg.provider_message_id,
    )
