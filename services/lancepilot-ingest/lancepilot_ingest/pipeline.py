"""Inbound pipeline: store each provider message once, apply conversation rules, buffer.

One transaction per message stores it (unique provider message id), upserts the
conversation and applies the rules (human replies, commands, state, lists,
business hours). The message is then handed to the debounce buffer; the Postgres
status `buffered` is the truth the buffer can be rebuilt from.
"""

from __future__ import annotations

from datetime import datetime

import structlog
from prometheus_client import Counter

from lancepilot_ingest import customer_rules
from lancepilot_ingest.outcome import InboundOutcome, debounce_config
from wacommon.broker.schemas import InboundMessage, SenderRole, utcnow
from wacommon.conversation import followups, human_reply
from wacommon.infra.dbtypes import Conn
from wacommon.repositories import inbound as inbound_repo
from wacommon.tenants.config import TenantConfig

log = structlog.get_logger(__name__)

INBOUND = Counter("wa_inbound_messages_total", "Inbound provider messages", ["provider", "outcome"])


async def store_plain(
    conn: Conn,
    msg: InboundMessage,
    client: TenantConfig,
    *,
    correlation_id: str,
    now: datetime | None = None,
) -> InboundOutcome | None:
    """The common message (answerable, in a conversation with nothing else to do) as one
    autocommit statement: what `process_inbound` would do with it, without the BEGIN and
    COMMIT round trips around it. None when the message needs `process_inbound`.

    Known before the statement: the customer rules let it through if the conversation is
    the bot's, no campaign context to record. Decided by the
    statement: the conversation is new or the bot's with no follow-up to reset
    (`inbound.store_plain_inbound`), so nothing follows the insert.
    """
    now = now or utcnow()
    if msg.attributes.get("campaign"):
        return None
    if not customer_rules.answers_if_bot(msg, client, now):
        return None
    debounce = debounce_config(msg.provider, client.debounce)
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
    client: TenantConfig,
    *,
    correlation_id: str,
    now: datetime | None = None,
) -> InboundOutcome:
    """Apply one normalised message inside the caller's transaction."""
    now = now or utcnow()
    tenant_id = msg.tenant_id
    tools = client.tools_config
    # the common case is decided with the insert: every rule but the conversation's state
    # is known here, the state is checked in the statement, and the row is stored
    # `buffered` at once (with its burst id when debounce is off: it is its own burst)
    answerable = customer_rules.answers_if_bot(msg, client, now)
    debounce = debounce_config(msg.provider, client.debounce) if answerable else None
    # `conversation_started` and `msg_received` go in with the message (same statement)
    conv, _created, stored, status = await inbound_repo.store_inbound_in_conversation(
        conn,
        msg,
        buffer_if_bot=answerable,
        burst_on_store=debounce is not None and debounce.quiet_ms == 0,
        correlation_id=correlation_id,
    )
    cid = str(conv["id"])
    out = InboundOutcome(conversation_id=cid, text=msg.text, at=msg.sent_at)
    if stored is None:
        out.reason = "duplicate"
        return out
    out.stored_id = stored
    prebuffered = status == "buffered"
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
            human_timeout_s=client.human_attendant_timeout,
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
    return await customer_rules.customer_rules(conn, msg, client, conv, out, correlation_id, now)
