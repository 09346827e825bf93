"""The conversation state machine: bot, human, opted_out, closed (see docs/conversation-states.md).

Every transition is one UPDATE guarded by the allowed source states plus its
`conversation_events` row, in one transaction. Callers pass a connection; a
transaction they already hold becomes a savepoint.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from wacommon import event_types as ev
from wacommon.pgconn import Conn, append_event

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
    client_id: str,
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
            client_id,
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
        await append_event(
            conn,
            client_id,
            event,
            data,
            conversation_id=conversation_id,
            correlation_id=correlation_id,
            at=now,
        )
        return row


async def handover(
    conn: Conn,
    client_id: str,
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
        client_id,
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
    return await _extend_handover(conn, client_id, conversation_id, until)


async def _extend_handover(
    conn: Conn, client_id: str, conversation_id: str, until: datetime | None
) -> bool:
    """An ongoing handover only ever gets longer: permanent stays permanent."""
    status = await conn.execute(
        "UPDATE active_conversations SET updated_at = now(),"
        " state_until = CASE WHEN state_until IS NULL OR $3::timestamptz IS NULL THEN NULL"
        " ELSE greatest(state_until, $3) END"
        " WHERE client_id = $1 AND id = $2 AND state = 'human'",
        client_id,
        conversation_id,
        until,
    )
    return bool(status.endswith(" 1"))


async def resume(
    conn: Conn,
    client_id: str,
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
        client_id,
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
    client_id: str,
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
            client_id,
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
            client_id,
            conversation_id,
        )
        return True


async def clear_opt_out(
    conn: Conn,
    client_id: str,
    conversation_id: str,
    *,
    cause: str,
    correlation_id: str | None = None,
    now: datetime | None = None,
) -> bool:
    """Opted_out -> bot; only operators call this."""
    row = await _transition(
        conn,
        client_id,
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
    client_id: str,
    conversation_id: str,
    *,
    by: str,
    cause: str,
    correlation_id: str | None = None,
    now: datetime | None = None,
) -> bool:
    """Bot or human -> closed; event resolved with the time since the conversation (re)opened."""
    async with conn.transaction():
        opened = await conn.fetchrow(
            "SELECT coalesce((attributes->>'opened_at')::timestamptz, created_at) AS opened_at,"
            " coalesce($3::timestamptz, now()) AS now"
            " FROM active_conversations WHERE client_id = $1 AND id = $2",
            client_id,
            conversation_id,
            now,
        )
        if opened is None:
            return False
        duration_ms = max(0, int((opened["now"] - opened["opened_at"]).total_seconds() * 1000))
        row = await _transition(
            conn,
            client_id,
            conversation_id,
            to=CLOSED,
            allowed_from=(BOT, HUMAN),
            reason=cause,
            until=None,
            event=ev.RESOLVED,
            data={"by": by, "cause": cause, "duration_ms": duration_ms},
            correlation_id=correlation_id,
            now=now,
        )
        return row is not None


async def reopen(
    conn: Conn,
    client_id: str,
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
            client_id,
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
    client_id: str,
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
            client_id,
            conversation_id,
            now,
        )
        if not status.endswith(" 1"):
            return False
        await append_event(
            conn,
            client_id,
            ev.CONVERSATION_RESET,
            {"cause": cause},
            conversation_id=conversation_id,
            correlation_id=correlation_id,
            at=now,
        )
        return True


def human_pause_until(
    tools_config: dict[str, Any],
    human_timeout_s: int | None,
    now: datetime,
    text: str | None = None,
) -> datetime | None:
    """When a pause started by a human reply ends; None means until resumed."""
    cfg = tools_config.get("atendimento_humano")
    cfg = cfg if isinstance(cfg, dict) else {}
    if _truthy(cfg.get("permanent_on_human_reply")) or _has_stop_trigger(tools_config, text):
        return None
    minutes = cfg.get("timeout_minutes")
    if isinstance(minutes, int | float | str) and str(minutes).strip():
        try:
            return now + timedelta(minutes=float(minutes))
        except ValueError:
            pass
    return now + timedelta(seconds=human_timeout_s) if human_timeout_s else None


def _truthy(value: Any) -> bool:
    return value is True or str(value).strip().lower() in {"true", "1", "yes", "sim", "on"}


def _has_stop_trigger(tools_config: dict[str, Any], text: str | None) -> bool:
    """The seed's `desativar_ia` triggers (or 🛑) in a human's message make the pause permanent."""
    if not text:
        return False
    cfg = tools_config.get("desativar_ia")
    raw = cfg.get("instructions", "") if isinstance(cfg, dict) else ""
    triggers = [t.strip().lower() for t in str(raw).split(",") if t.strip()] + ["🛑"]
    lowered = text.lower()
    return any(t in lowered for t in triggers)


async def on_human_message(
    conn: Conn,
    client_id: str,
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
            client_id,
            conversation_id,
            now,
        )
        if row is None:
            return ""
        at: datetime = row["now"]
        await conn.execute(
            "UPDATE active_conversations SET followup_due_at = NULL, followup_stage = 0"
            " WHERE client_id = $1 AND id = $2",
            client_id,
            conversation_id,
        )
        await append_event(
            conn,
            client_id,
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
                client_id,
                conversation_id,
                cause="human_command",
                correlation_id=correlation_id,
                now=now,
            )
            return BOT if row["state"] in (HUMAN, BOT) else str(row["state"])
        until = human_pause_until(tenant_tools_config, human_timeout_s, at, text)
        await handover(
            conn,
            client_id,
            conversation_id,
            cause="human_reply",
            until=until,
            correlation_id=correlation_id,
            now=now,
        )
        return HUMAN


# what `bot_may_reply` reads, for callers that join it into their own query ($3: now or NULL)
BOT_GATE_COLUMNS = "a.state, a.state_until, c.bot_active, coalesce($3::timestamptz, now()) AS now"


async def bot_may_reply(
    conn: Conn,
    client_id: str,
    conversation_id: str,
    *,
    now: datetime | None = None,
    gate: Mapping[str, Any] | None = None,
) -> tuple[bool, str | None]:
    """(True, None) when the bot may send now; else (False, why). Ends an expired handover.

    `gate`: the row of `BOT_GATE_COLUMNS` the caller already read (state, state_until,
    bot_active, now), which saves the query.
    """
    row: Any = gate
    if row is None:
        row = await conn.fetchrow(
            f"SELECT {BOT_GATE_COLUMNS} FROM active_conversations a"
            " JOIN clients c ON c.id = a.client_id WHERE a.client_id = $1 AND a.id = $2",
            client_id,
            conversation_id,
            now,
        )
    if row is None:
        return False, "conversation_not_found"
    if not row["bot_active"]:
        return False, "bot_disabled"
    state = row["state"]
    if state == HUMAN and row["state_until"] is not None and row["state_until"] <= row["now"]:
        # the scheduled scan will do it too; doing it here avoids a silent gap until then
        resumed = await _expire_one(conn, client_id, conversation_id, row["now"])
        return (True, None) if resumed else (False, HUMAN)
    if state == BOT:
        return True, None
    return False, str(state)


async def _expire_one(conn: Conn, client_id: str, conversation_id: str, now: datetime) -> bool:
    async with conn.transaction():
        row = await conn.fetchrow(
            "SELECT 1 FROM active_conversations WHERE client_id = $1 AND id = $2"
            " AND state = 'human' AND state_until <= $3 FOR UPDATE",
            client_id,
            conversation_id,
            now,
        )
        if row is None:
            return False
        return await resume(conn, client_id, conversation_id, cause="timeout", now=now)


_EXPIRE = """
WITH due AS (
    SELECT id, client_id FROM active_conversations
     WHERE state = 'human' AND state_until IS NOT NULL AND state_until <= $1
     ORDER BY state_until LIMIT $2
       FOR UPDATE SKIP LOCKED
), moved AS (
    UPDATE active_conversations a
       SET state = 'bot', state_since = $1, state_reason = 'timeout', state_until = NULL,
           updated_at = now()
      FROM due WHERE a.id = due.id AND a.client_id = due.client_id
    RETURNING a.id, a.client_id
)
INSERT INTO conversation_events (client_id, conversation_id, event_type, data, created_at)
SELECT client_id, id, 'bot_resumed', '{"cause": "timeout"}'::jsonb, $1 FROM moved
"""


async def expire_handovers(
    pool: asyncpg.Pool, now: datetime | None = None, batch: int = 1000
) -> int:
    """Resume every timed handover whose end has passed (all tenants); returns how many."""
    total = 0
    while True:
        at = now or await pool.fetchval("SELECT now()")
        status = await pool.execute(_EXPIRE, at, batch)
        moved = int(status.rsplit(" ", 1)[-1])
        total += moved
        if moved < batch:
            return total
