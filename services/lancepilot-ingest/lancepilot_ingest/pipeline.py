"""Inbound pipeline: store each provider message once, apply conversation rules, buffer.

One transaction per message stores it (unique provider message id), upserts the
conversation and applies the rules (human replies, commands, state, lists,
business hours). The message is then handed to the debounce buffer; the Postgres
status `buffered` is the truth the buffer can be rebuilt from.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog
from prometheus_client import Counter

from lancepilot_ingest.bursts import DebounceConfig
from wacommon import (
    business_hours,
    commands,
    contact_filter,
    conversation_state,
    followups,
    human_reply,
)
from wacommon import event_types as ev
from wacommon.dbtypes import Conn
from wacommon.events import EventLog, PgEventLog
from wacommon.repositories import inbound as inbound_repo
from wacommon.repositories import messages as msg_repo
from wacommon.schemas import InboundMessage, MessageKind, Provider, SenderRole, utcnow

log = structlog.get_logger(__name__)

INBOUND = Counter("wa_inbound_messages_total", "Inbound provider messages", ["provider", "outcome"])

# Meta delivers each message alone and customers expect a quick answer there
META_DEFAULT_QUIET_MS = 2000


@dataclass
class InboundOutcome:
    """What processing one inbound message decided, acted on after the commit."""

    stored_id: int | None = None
    conversation_id: str | None = None
    buffer: bool = False
    outbound_ids: list[int] = field(default_factory=list)
    reason: str = ""
    debounce: DebounceConfig | None = None
    text: str = ""
    at: datetime | None = None


def debounce_config(provider: Provider, tools_config: dict[str, Any]) -> DebounceConfig:
    """The tenant's debounce settings; Meta defaults to a shorter quiet window."""
    config = DebounceConfig.from_tools_config(tools_config)
    if provider is Provider.META and "debounce" not in tools_config:
        config = dataclasses.replace(config, quiet_ms=META_DEFAULT_QUIET_MS)
    return config


async def store_plain(
    conn: Conn,
    msg: InboundMessage,
    client: dict[str, Any],
    *,
    events: EventLog,
    correlation_id: str,
    now: datetime | None = None,
) -> InboundOutcome | None:
    """The common message (answerable, in a conversation with nothing else to do) as one
    autocommit statement: what `process_inbound` would do with it, without the BEGIN and
    COMMIT round trips around it. None when the message needs `process_inbound`.

    Known before the statement: the customer rules let it through if the conversation is
    the bot's, no campaign context to record, events in PostgreSQL. Decided by the
    statement: the conversation is new or the bot's with no follow-up to reset
    (`inbound.store_plain_inbound`), so nothing follows the insert.
    """
    now = now or utcnow()
    if not isinstance(events, PgEventLog) or msg.attributes.get("campaign"):
        return None
    if not _answers_if_bot(msg, client, now):
        return None
    debounce = debounce_config(msg.provider, client.get("tools_config") or {})
    stored_row = await inbound_repo.store_plain_inbound(
        conn, msg, burst_on_store=debounce.quiet_ms == 0, correlation_id=correlation_id
    )
    if stored_row is None:
        return None
    conv, _created, stored, status = stored_row
    out = InboundOutcome(conversation_id=str(conv["id"]), text=msg.text, at=msg.sent_at)
    if stored is None:
        out.reason = "duplicate"
        return out
    out.stored_id = stored
    if status != "buffered":
        # not expected: the statement only stores in a conversation that is the bot's
        log.error("plain_inbound_not_buffered", status=status, stored_id=stored)
        out.reason = f"stored_{status}"
        return out
    out.buffer = True
    out.debounce = debounce
    return out


async def process_inbound(
    conn: Conn,
    msg: InboundMessage,
    client: dict[str, Any],
    *,
    events: EventLog,
    correlation_id: str,
    now: datetime | None = None,
) -> InboundOutcome:
    """Apply one normalised message inside the caller's transaction."""
    now = now or utcnow()
    tenant_id = msg.tenant_id
    tools = client.get("tools_config") or {}
    # the common case is decided with the insert: every rule but the conversation's state
    # is known here, the state is checked in the statement, and the row is stored
    # `buffered` at once (with its burst id when debounce is off: it is its own burst)
    answerable = _answers_if_bot(msg, client, now)
    debounce = debounce_config(msg.provider, tools) if answerable else None
    # the PostgreSQL event log's rows go in with the message (same statement, same
    # transaction); any other log (tests) gets its appends as usual
    in_sql = isinstance(events, PgEventLog)
    conv, created, stored, status = await inbound_repo.store_inbound_in_conversation(
        conn,
        msg,
        buffer_if_bot=answerable,
        burst_on_store=debounce is not None and debounce.quiet_ms == 0,
        events=in_sql,
        correlation_id=correlation_id,
    )
    cid = str(conv["id"])
    out = InboundOutcome(conversation_id=cid, text=msg.text, at=msg.sent_at)
    if stored is None:
        out.reason = "duplicate"
        return out
    out.stored_id = stored
    prebuffered = status == "buffered"
    if not in_sql:
        if created:
            await events.append(
                tenant_id,
                ev.CONVERSATION_STARTED,
                {"provider": msg.provider.value},
                conversation_id=cid,
                correlation_id=correlation_id,
                conn=conn,
            )
        await events.append(
            tenant_id,
            ev.MSG_RECEIVED,
            {"provider": msg.provider.value, "kind": msg.kind.value, "role": msg.sender.value},
            conversation_id=cid,
            correlation_id=correlation_id,
            at=msg.sent_at,
            conn=conn,
        )
    campaign = msg.attributes.get("campaign")
    if isinstance(campaign, dict) and campaign:
        # a campaign send or a reply to one: the conversation carries the campaign's context
        await conn.execute(
            "UPDATE active_conversations SET attributes = attributes || jsonb_build_object("
            "'campaign', $3::jsonb) WHERE client_id = $1 AND id = $2",
            tenant_id,
            cid,
            campaign,
        )
    if msg.sender is SenderRole.HUMAN:
        await human_reply.on_human_message(
            conn,
            tenant_id,
            cid,
            tenant_tools_config=tools,
            human_timeout_s=client.get("human_attendant_timeout"),
            correlation_id=correlation_id,
            text=msg.text,
            provider=msg.provider.value,
        )
        out.reason = "human_message"
        return out
    if msg.sender is not SenderRole.CUSTOMER:
        # a campaign send is stored as context for the reply to it, never answered itself
        out.reason = f"{msg.sender.value}_message"
        return out
    await followups.cancel_followups(conn, tenant_id, cid, now=now, conversation=conv)
    if prebuffered:
        out.buffer = True
        out.debounce = debounce
        return out
    return await _customer_rules(conn, msg, client, conv, out, events, correlation_id, now)


def _answers_if_bot(msg: InboundMessage, client: dict[str, Any], now: datetime) -> bool:
    """Every customer rule but the state lets the message through: no command, open hours.

    The same checks as `_customer_rules`; the conversation's state ('bot') is checked on
    the upserted row (locked by the upsert) by the statement that stores the message.
    Anything else (a command, another state) takes the full path.
    """
    if msg.sender is not SenderRole.CUSTOMER:
        return False
    if not client.get("bot_active", True):
        return False
    if msg.kind is MessageKind.REACTION or msg.kind is MessageKind.SYSTEM:
        return False
    tools = client.get("tools_config") or {}
    if not contact_filter.contact_allowed(tools, msg.contact.phone, msg.is_group)[0]:
        return False
    if commands.parse_customer_command(msg.text, tools) is not None:
        return False
    decision = business_hours.business_hours_decision(tools, now, client.get("timezone") or "UTC")
    return decision.answer


async def _customer_rules(
    conn: Conn,
    msg: InboundMessage,
    client: dict[str, Any],
    conv: dict[str, Any],
    out: InboundOutcome,
    events: EventLog,
    correlation_id: str,
    now: datetime,
) -> InboundOutcome:
    tenant_id, cid = msg.tenant_id, out.conversation_id or ""
    tools = client.get("tools_config") or {}
    allowed, why = contact_filter.contact_allowed(tools, msg.contact.phone, msg.is_group)
    if not allowed:
        out.reason = why or "contact_filtered"
        return out
    if msg.kind is MessageKind.REACTION or (msg.kind is MessageKind.SYSTEM):
        out.reason = "not_answerable"
        return out
    command = commands.parse_customer_command(msg.text, tools)
    if command is not None:
        outcome = await commands.apply_customer_command(
            conn,
            tenant_id,
            cid,
            command,
            tools_config=tools,
            now=now,
            correlation_id=correlation_id,
        )
        if outcome.reply_text:
            reply_id = await _system_reply(
                conn, msg, cid, outcome.reply_text, f"cmd:{out.stored_id}"
            )
            if reply_id:
                out.outbound_ids.append(reply_id)
        if outcome.stop_pipeline:
            out.reason = f"command_{command.action.value}"
            return out
    if not client.get("bot_active", True):
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
    decision = business_hours.business_hours_decision(tools, now, client.get("timezone") or "UTC")
    if not decision.answer:
        out.reason = "off_hours"
        if (
            decision.off_message
            and decision.period_key
            and await business_hours.claim_off_hours_notice(
                conn, tenant_id, cid, decision.period_key
            )
        ):
            reply_id = await _system_reply(
                conn, msg, cid, decision.off_message, f"offhours:{cid}:{decision.period_key}"
            )
            if reply_id:
                out.outbound_ids.append(reply_id)
                await events.append(
                    tenant_id,
                    ev.OFF_HOURS_REPLIED,
                    {"period": decision.period_key},
                    conversation_id=cid,
                    correlation_id=correlation_id,
                    conn=conn,
                )
        return out
    await conn.execute(
        "UPDATE chat_messages SET status = 'buffered' WHERE client_id = $1 AND id = $2",
        tenant_id,
        out.stored_id,
    )
    out.buffer = True
    out.debounce = debounce_config(msg.provider, tools)
    return out


async def conversation_state_now(conn: Conn, client_id: str, conversation_id: str) -> str:
    value = await conn.fetchval(
        "SELECT state FROM active_conversations WHERE client_id = $1 AND id = $2",
        client_id,
        conversation_id,
    )
    return str(value or "bot")


async def _system_reply(
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
