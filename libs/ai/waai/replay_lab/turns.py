"""The customer turns of a tenant's latest real conversations, with what was sent back.

A turn is a run of the customer's messages; its old reply is the bot's or an attendant's
messages that followed it, up to the customer's next message, as stored (failed and
dropped sends left out: they never reached the customer). Web-sandbox and simulator
conversations (provider `sandbox`) are not real ones and are skipped. Every statement
names the tenant.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from wacommon.conversation.lead_context import ATTRIBUTE as LEAD_CONTEXT
from wacommon.infra.dbtypes import Executor
from wacommon.repositories import event_types as ev

# how many of a conversation's latest messages are read: turns and the history before them
MESSAGES_PER_CONVERSATION = 200
EVENT_MARGIN = timedelta(minutes=10)
# a handover the model asked for (rag-worker: `cause=f"ai:{reason}"`)
AI_CAUSE = "ai:"

_CONVERSATIONS = """
SELECT id, contact_key, contact_name, context_reset_at, attributes
  FROM active_conversations
 WHERE client_id = $1 AND provider <> 'sandbox' AND last_customer_message_at IS NOT NULL
 ORDER BY last_customer_message_at DESC, id
 LIMIT $2
"""
_MESSAGES = """
SELECT conversation_id, id, direction, role, kind, content, payload, status, created_at
  FROM (SELECT m.*, row_number() OVER (PARTITION BY conversation_id ORDER BY id DESC) AS n
          FROM chat_messages m
         WHERE client_id = $1 AND conversation_id = ANY($2::uuid[])
           AND status NOT IN ('failed', 'dropped')) latest
 WHERE n <= $3
 ORDER BY conversation_id, id
"""
# a reply's `ai_responded` event is written by the statement that queued its bubbles, so it
# carries the first bubble's `created_at`; its tools and the handover it asked for (cause
# `ai:<reason>`) share its correlation id
_EVENTS = """
SELECT conversation_id, event_type, data, correlation_id, created_at
  FROM conversation_events
 WHERE client_id = $1 AND conversation_id = ANY($2::uuid[]) AND created_at >= $3
   AND event_type = ANY($4::text[])
"""


@dataclass(frozen=True)
class OldUsage:
    """What the events recorded about a reply that was sent: model, tokens, tools."""

    model: str
    tokens_in: int
    tokens_out: int
    tools: list[str] = field(default_factory=list)
    # the model handed the conversation over with this reply (its `human_takeover` event)
    handover_reason: str | None = None


@dataclass
class CustomerTurn:
    """One customer turn to answer again: the history before it and the reply it got."""

    conversation_id: str
    contact_key: str
    contact_name: str | None
    lead_context: dict[str, Any] | None
    history: list[dict[str, Any]]
    burst: list[dict[str, Any]]
    reply: list[dict[str, Any]]
    usage: OldUsage | None = None

    @property
    def at(self) -> datetime:
        """When the customer's last message of the turn arrived (the replay's `now`)."""
        return self.burst[-1]["created_at"]  # type: ignore[no-any-return]

    @property
    def replied_by(self) -> str | None:
        """Who answered: bot, human, or None (nobody did)."""
        roles = {row["role"] for row in self.reply}
        return "human" if "human" in roles else ("bot" if roles else None)


async def load_turns(
    db: Executor, tenant_id: str, *, conversations: int, turns_per_conversation: int
) -> list[CustomerTurn]:
    """The last `turns_per_conversation` turns of each of the latest `conversations`."""
    convs = await db.fetch(_CONVERSATIONS, tenant_id, conversations)
    if not convs:
        return []
    ids = [row["id"] for row in convs]
    rows = await db.fetch(_MESSAGES, tenant_id, ids, MESSAGES_PER_CONVERSATION)
    by_conv: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_conv.setdefault(str(row["conversation_id"]), []).append(dict(row))
    turns: list[CustomerTurn] = []
    for conv in convs:
        found = _split(conv, by_conv.get(str(conv["id"]), []))
        turns += found[-turns_per_conversation:] if turns_per_conversation > 0 else []
    if rows:
        # a reply's tools ran before it was written: read a little earlier than its turn
        since = min(r["created_at"] for r in rows) - EVENT_MARGIN
        await _attach_usage(db, tenant_id, ids, since, turns)
    return turns


def _split(conv: Any, rows: list[dict[str, Any]]) -> list[CustomerTurn]:
    """A conversation's messages cut into customer turns, each with its reply."""
    reset = conv["context_reset_at"]
    attributes = conv["attributes"] or {}
    turns: list[CustomerTurn] = []
    seen: list[dict[str, Any]] = []
    current: CustomerTurn | None = None
    for row in rows:
        # an alert to the owner's own number is no reply to this customer
        if (row["payload"] or {}).get("alert_to"):
            continue
        customer = row["direction"] == "in" and row["role"] == "customer"
        if customer and (current is None or current.reply):
            current = CustomerTurn(
                conversation_id=str(conv["id"]),
                contact_key=str(conv["contact_key"]),
                contact_name=conv["contact_name"],
                lead_context=attributes.get(LEAD_CONTEXT),
                # what the bot could see then: nothing before a `#reset`
                history=[r for r in seen if reset is None or r["created_at"] >= reset],
                burst=[],
                reply=[],
            )
            turns.append(current)
        if current is not None:
            if customer:
                current.burst.append(row)
            elif row["direction"] == "out" and row["role"] in ("bot", "human"):
                current.reply.append(row)
        seen.append(row)
    return turns


async def _attach_usage(
    db: Executor, tenant_id: str, ids: list[Any], since: datetime, turns: list[CustomerTurn]
) -> None:
    kinds = [ev.AI_RESPONDED, ev.TOOL_USED, ev.HUMAN_TAKEOVER]
    events = await db.fetch(_EVENTS, tenant_id, ids, since, kinds)
    tools: dict[str, list[str]] = {}
    handovers: dict[str, str] = {}
    responded: dict[tuple[str, datetime], Any] = {}
    for event in events:
        data, correlation = event["data"] or {}, event["correlation_id"]
        if event["event_type"] == ev.AI_RESPONDED:
            responded[(str(event["conversation_id"]), event["created_at"])] = event
        elif correlation and event["event_type"] == ev.TOOL_USED:
            tools.setdefault(correlation, []).append(str(data.get("tool") or ""))
        elif correlation and str(data.get("cause") or "").startswith(AI_CAUSE):
            handovers[correlation] = str(data["cause"])[len(AI_CAUSE) :]
    for turn in turns:
        bot = [row for row in turn.reply if row["role"] == "bot"]
        event = responded.get((turn.conversation_id, bot[0]["created_at"])) if bot else None
        if event is None:
            continue
        data = event["data"] or {}
        turn.usage = OldUsage(
            model=str(data.get("model") or ""),
            tokens_in=int(data.get("tokens_in") or 0),
            tokens_out=int(data.get("tokens_out") or 0),
            tools=tools.get(event["correlation_id"] or "", []),
            handover_reason=handovers.get(event["correlation_id"] or ""),
        )
