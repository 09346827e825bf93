"""What a reconnecting stream missed, read back from the database.

Event ids are microsecond timestamps (see `hub.StreamHub.next_id`). A stream that comes
back with `Last-Event-ID: L` gets every change whose row time is after
`L - lookback`: messages stored, delivery states moved, state changes. Row times are
the writing transaction's start, which precedes its commit, its notification and the id
the console gave that notification; the lookback covers the transactions still open at
L (they are short: one statement to a few) and clock differences between hosts. The
price is that some events come twice, which the pages absorb (events are refetch
signals).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from console.stream.hub import LiveEvent
from wacommon.infra.dbtypes import Executor as Conn

# state events of `conversation_events` the inbox shows; a bot's human_takeover is a
# handover request (cause ai:...), every other one a conversation update
STATE_EVENTS = (
    "human_takeover",
    "bot_resumed",
    "resolved",
    "opted_out",
    "opt_out_cleared",
    "conversation_started",
    "conversation_assigned",
)
STATUSES = ("sent", "delivered", "read", "played", "failed", "dropped", "unknown")

_MESSAGES = """
SELECT id, conversation_id, created_at AS at FROM chat_messages
 WHERE client_id = $1 AND created_at > $2
 ORDER BY created_at, id LIMIT $3
"""
# delivery receipts land within hours of the send: bounded by the creation index
_STATUSES = """
SELECT id, conversation_id, status, updated_at AS at FROM chat_messages
 WHERE client_id = $1 AND created_at > $2::timestamptz - interval '3 days' AND updated_at > $2
   AND direction = 'out' AND status = ANY($4::text[])
 ORDER BY updated_at, id LIMIT $3
"""
_STATES = """
SELECT conversation_id, event_type, data, created_at AS at FROM conversation_events
 WHERE client_id = $1 AND created_at > $2 AND event_type = ANY($4::text[])
   AND conversation_id IS NOT NULL
 ORDER BY created_at, id LIMIT $3
"""


def since_of(last_event_id: int, lookback_s: float) -> datetime:
    return datetime.fromtimestamp(last_event_id / 1_000_000, UTC) - timedelta(seconds=lookback_s)


def _micros(at: datetime) -> int:
    return int(at.timestamp() * 1_000_000)


async def replay(
    conn: Conn, tenant_id: str, since: datetime, *, limit: int
) -> tuple[list[LiveEvent], bool]:
    """(events after `since` in time order, complete); not complete when one read hit `limit`."""
    events: list[tuple[int, LiveEvent]] = []
    complete = True
    rows = await conn.fetch(_MESSAGES, tenant_id, since, limit)
    complete &= len(rows) < limit
    for r in rows:
        data: dict[str, Any] = {"conversation_id": str(r["conversation_id"]), "message_id": r["id"]}
        events.append((_micros(r["at"]), LiveEvent(0, "message.created", data)))
    rows = await conn.fetch(_STATUSES, tenant_id, since, limit, list(STATUSES))
    complete &= len(rows) < limit
    for r in rows:
        data = {
            "conversation_id": str(r["conversation_id"]),
            "message_id": r["id"],
            "status": r["status"],
        }
        events.append((_micros(r["at"]), LiveEvent(0, "message.status", data)))
    rows = await conn.fetch(_STATES, tenant_id, since, limit, list(STATE_EVENTS))
    complete &= len(rows) < limit
    for r in rows:
        payload = r["data"] or {}
        cause = str(payload.get("cause") or payload.get("by") or "") or None
        kind = (
            "handover.requested"
            if r["event_type"] == "human_takeover" and (cause or "").startswith("ai:")
            else "conversation.updated"
        )
        data = {"conversation_id": str(r["conversation_id"]), "event": r["event_type"]}
        if cause:
            data["cause"] = cause.removeprefix("ai:") if kind == "handover.requested" else cause
        events.append((_micros(r["at"]), LiveEvent(0, kind, data)))
    events.sort(key=lambda e: e[0])
    return [LiveEvent(at, e.kind, e.data) for at, e in events], complete


def dedupe_key(event: LiveEvent) -> tuple[Any, ...]:
    d = event.data
    return (event.kind, d.get("conversation_id"), d.get("message_id"), d.get("status"))
