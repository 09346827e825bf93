"""May the bot send now? The gate every bot reply passes, and the end of timed handovers."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import asyncpg

from wacommon.conversation.state import BOT, HUMAN, resume
from wacommon.infra.dbtypes import Conn
from wacommon.repositories.events import INSERT_EVENTS

# what `bot_may_reply` reads, for callers that join it into their own query ($3: now or NULL)
BOT_GATE_COLUMNS = "a.state, a.state_until, c.bot_active, coalesce($3::timestamptz, now()) AS now"


async def bot_may_reply(
    conn: Conn,
    tenant_id: str,
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
            tenant_id,
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
        resumed = await _expire_one(conn, tenant_id, conversation_id, row["now"])
        return (True, None) if resumed else (False, HUMAN)
    if state == BOT:
        return True, None
    return False, str(state)


async def _expire_one(conn: Conn, tenant_id: str, conversation_id: str, now: datetime) -> bool:
    async with conn.transaction():
        row = await conn.fetchrow(
            "SELECT 1 FROM active_conversations WHERE client_id = $1 AND id = $2"
            " AND state = 'human' AND state_until <= $3 FOR UPDATE",
            tenant_id,
            conversation_id,
            now,
        )
        if row is None:
            return False
        return await resume(conn, tenant_id, conversation_id, cause="timeout", now=now)


_EXPIRE = f"""
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
{INSERT_EVENTS}
SELECT client_id, id, 'bot_resumed', '{{"cause": "timeout"}}'::jsonb, NULL, $1 FROM moved
RETURNING client_id, conversation_id
"""


async def expire_handovers(
    pool: asyncpg.Pool,
    now: datetime | None = None,
    batch: int = 1000,
    *,
    resumed: list[tuple[str, str]] | None = None,
) -> int:
    """Resume every timed handover whose end has passed (all tenants); returns how many.

    `resumed` collects (tenant id, conversation id) of each one (for live notifications).
    """
    total = 0
    while True:
        at = now or await pool.fetchval("SELECT now()")
        rows = await pool.fetch(_EXPIRE, at, batch)
        if resumed is not None:
            resumed.extend((str(r["client_id"]), str(r["conversation_id"])) for r in rows)
        total += len(rows)
        if len(rows) < batch:
            return total
