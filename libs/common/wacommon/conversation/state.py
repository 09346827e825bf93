"""The conversation state machine: bot, human, opted_out, closed (see docs/conversation-states.md).

Every transition is one UPDATE guarded by the allowed source states plus its
`conversation_events` row, in one transaction. Callers pass a connection; a
transaction they already hold becomes a savepoint.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from wacommon.infra.dbtypes import Conn
from wacommon.repositories import event_types as ev
from wacommon.repositories.events import record_event

BOT = "bot"
HUMAN = "human"
OPTED_OUT = "opted_out"
CLOSED = "closed"

_TRANSITION = """
UPDATE active_conversations AS a
   SET state = $3, state_since = coalesce($4, now()), state_reason = $5, state_until = $6,
       followup_due_at = CASE WHEN $3 = 'bot' THEN a.followup_due_at END,
       followup_stage = CASE WHEN $3 = 'bot' THEN a.followup_stage ELSE 0 END,
       attributes = a.attributes || $8::jsonb, updated_at = now()
 WHERE a.client_id = $1 AND a.id = $2 AND a.state = ANY($7::text[])
   AND ($9::text IS NULL OR a.state_reason = $9)
RETURNING a.id
"""


async def _transition(
    conn: Conn,
    tenant_id: str,
    conversation_id: str,
    *,
    to: str,
    allowed_from: tuple[str, ...],
    reason: str,
    until: datetime | None,
    event: str,
    data: dict[str, Any],
    correlation_id: str | None,
    now: datetime | None,
    attributes: dict[str, Any] | None = None,
    reason_is: str | None = None,
) -> asyncpg.Record | None:
    """Move the row to `to` if it is in `allowed_from`, and append `event` with `data`."""
    async with conn.transaction():
        row = await conn.fetchrow(
            _TRANSITION,
            tenant_id,
            conversation_id,
            to,
            now,
            reason,
            until,
            list(allowed_from),
            attributes or {},
            reason_is,
        )
        if row is None:
            return None
        await record_event(
            conn,
            tenant_id,
            event,
            data,
            conversation_id=conversation_id,
            correlation_id=correlation_id,
            at=now,
        )
        return row


async def handover(
    conn: Conn,
    tenant_id: str,
    conversation_id: str,
    *,
    cause: str,
    until: datetime | None,
    correlation_id: str | None = None,
    now: datetime | None = None,
) -> bool:
    """Bot (or closed) -> human until `until` (None = until resumed); extends an ongoing handover."""
    data: dict[str, Any] = {"cause": cause, "until": until.isoformat() if until else None}
    row = await _transition(
        conn,
        tenant_id,
        conversation_id,
        to=HUMAN,
        allowed_from=(BOT, CLOSED),
        reason=cause,
        until=until,
        event=ev.HUMAN_TAKEOVER,
        data=data,
        correlation_id=correlation_id,
        now=now,
    )
    if row is not None:
        return True
    return await _extend_handover(conn, tenant_id, conversation_id, until)


async def _extend_handover(
    conn: Conn, tenant_id: str, conversation_id: str, until: datetime | None
) -> bool:
    """An ongoing handover only ever gets longer: permanent stays permanent."""
    status = await conn.execute(
        "UPDATE active_conversations SET updated_at = now(),"
        " state_until = CASE WHEN state_until IS NULL OR $3::timestamptz IS NULL THEN NULL"
        " ELSE greatest(state_until, $3) END"
        " WHERE client_id = $1 AND id = $2 AND state = 'human'",
        tenant_id,
        conversation_id,
        until,
    )
    return bool(status.endswith(" 1"))


async def resume(
    conn: Conn,
    tenant_id: str,
    conversation_id: str,
    *,
    cause: str,
    correlation_id: str | None = None,
    now: datetime | None = None,
    only_if_reason: str | None = None,
) -> bool:
    """Human -> bot (operator, command or timeout); `only_if_reason` limits it to one kind of pause."""
    row = await _transition(
        conn,
        tenant_id,
        conversation_id,
        to=BOT,
        allowed_from=(HUMAN,),
        reason=cause,
        until=None,
        event=ev.BOT_RESUMED,
        data={"cause": cause},
        correlation_id=correlation_id,
        now=now,
        reason_is=only_if_reason,
    )
    return row is not None


async def opt_out(
    conn: Conn,
    tenant_id: str,
    conversation_id: str,
    *,
    cause: str,
    correlation_id: str | None = None,
    now: datetime | None = None,
) -> bool:
    """Any state -> opted_out (LGPD): no bot message, follow-up or reminder until cleared."""
    async with conn.transaction():
        row = await _transition(
            conn,
            tenant_id,
            conversation_id,
            to=OPTED_OUT,
            allowed_from=(BOT, HUMAN, CLOSED),
            reason=cause,
            until=None,
            event=ev.OPTED_OUT,
            data={"cause": cause},
            correlation_id=correlation_id,
            now=now,
        )
        if row is None:
            return False
        await conn.execute(
            "UPDATE reminders SET status = 'cancelled', error = 'opted_out'"
            " WHERE client_id = $1 AND conversation_id = $2 AND status = 'pending'",
            tenant_id,
            conversation_id,
        )
        return True


async def clear_opt_out(
    conn: Conn,
    tenant_id: str,
    conversation_id: str,
    *,
    cause: str,
    correlation_id: str | None = None,
    now: datetime | None = None,
) -> bool:
    """Opted_out -> bot; only operators call this."""
    row = await _transition(
        conn,
        tenant_id,
        conversation_id,
        to=BOT,
        allowed_from=(OPTED_OUT,),
        reason=cause,
        until=None,
        event=ev.OPT_OUT_CLEARED,
        data={"cause": cause},
        correlation_id=correlation_id,
        now=now,
    )
    return row is not None


async def close(
    conn: Conn,
    tenant_id: str,
    conversation_id: str,
    *,
    by: str,
    cause: str,
    correlation_id: str | None = None,
    now: datetime | None = None,
    event: str = ev.RESOLVED,
    extra: dict[str, Any] | None = None,
) -> bool:
    """Bot or human -> closed; event resolved with the time since the conversation (re)opened.

    `event` another close event (conversation_closed: closed without a resolution);
    `extra` more keys for its data (who closed it, the resolution).
    """
    async with conn.transaction():
        opened = await conn.fetchrow(
            "SELECT coalesce((attributes->>'opened_at')::timestamptz, created_at) AS opened_at,"
            " coalesce($3::timestamptz, now()) AS now"
            " FROM active_conversations WHERE client_id = $1 AND id = $2",
            tenant_id,
            conversation_id,
            now,
        )
        if opened is None:
            return False
        duration_ms = max(0, int((opened["now"] - opened["opened_at"]).total_seconds() * 1000))
        row = await _transition(
            conn,
            tenant_id,
            conversation_id,
            to=CLOSED,
            allowed_from=(BOT, HUMAN),
            reason=cause,
            until=None,
            event=event,
            data={"by": by, "cause": cause, "duration_ms": duration_ms, **(extra or {})},
            correlation_id=correlation_id,
            now=now,
        )
        return row is not None


async def reopen(
    conn: Conn,
    tenant_id: str,
    conversation_id: str,
    *,
    cause: str = "customer",
    correlation_id: str | None = None,
    now: datetime | None = None,
) -> bool:
    """Closed -> bot when the customer writes again; event conversation_started {cause}."""
    at = now.isoformat() if now else None
    async with conn.transaction():
        opened_at = at or (await conn.fetchval("SELECT now()")).isoformat()
        row = await _transition(
            conn,
            tenant_id,
            conversation_id,
            to=BOT,
            allowed_from=(CLOSED,),
            reason=cause,
            until=None,
            event=ev.CONVERSATION_STARTED,
            data={"cause": cause, "reopened": True},
            correlation_id=correlation_id,
            now=now,
            attributes={"opened_at": opened_at},
        )
        return row is not None


async def reset_context(
    conn: Conn,
    tenant_id: str,
    conversation_id: str,
    *,
    cause: str,
    correlation_id: str | None = None,
    now: datetime | None = None,
) -> bool:
    """Start a fresh model context (history before now is ignored); the state is unchanged."""
    async with conn.transaction():
        status = await conn.execute(
            "UPDATE active_conversations SET context_reset_at = coalesce($3, now()),"
            " followup_stage = 0, followup_due_at = NULL, updated_at = now()"
            " WHERE client_id = $1 AND id = $2",
            tenant_id,
            conversation_id,
            now,
        )
        if not status.endswith(" 1"):
            return False
        await record_event(
            conn,
            tenant_id,
            ev.CONVERSATION_RESET,
            {"cause": cause},
            conversation_id=conversation_id,
            correlation_id=correlation_id,
            at=now,
        )
        return True
