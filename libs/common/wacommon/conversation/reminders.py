"""Reminders the AI schedules for a customer (`create_reminder` tool); the followup service sends them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from wacommon.conversation.reminder_time import AmbiguousTime, parse_when
from wacommon.infra.dbtypes import Conn

__all__ = ["AmbiguousTime", "Reminder", "cancel_reminder", "create_reminder", "parse_when"]

MAX_AHEAD = timedelta(days=366)


@dataclass(frozen=True)
class Reminder:
    """A stored reminder."""

    id: str
    tenant_id: str
    conversation_id: str
    due_at: datetime
    text: str
    status: str
    created_at: datetime


def _reminder(row: asyncpg.Record) -> Reminder:
    return Reminder(
        id=str(row["id"]),
        tenant_id=str(row["client_id"]),
        conversation_id=str(row["conversation_id"]),
        due_at=row["due_at"],
        text=row["text"],
        status=row["status"],
        created_at=row["created_at"],
    )


async def create_reminder(
    conn: Conn,
    tenant_id: str,
    conversation_id: str,
    when_text: str,
    text: str,
    now: datetime,
    tz: str,
) -> Reminder:
    """Store a reminder at the instant `when_text` names; raises AmbiguousTime for the model."""
    due = parse_when(when_text, now, tz)
    if due - now > MAX_AHEAD:
        raise AmbiguousTime(f"{when_text!r} fica a mais de um ano; confirme a data.")
    if not text.strip():
        raise AmbiguousTime("o lembrete precisa de um texto.")
    row = await conn.fetchrow(
        "INSERT INTO reminders (client_id, conversation_id, due_at, text, when_text, created_at)"
        " SELECT a.client_id, a.id, $3, $4, $5, $6 FROM active_conversations a"
        " WHERE a.client_id = $1 AND a.id = $2 AND a.state <> 'opted_out'"
        " RETURNING id, client_id, conversation_id, due_at, text, status, created_at",
        tenant_id,
        conversation_id,
        due,
        text.strip(),
        when_text,
        now,
    )
    if row is None:
        raise LookupError("conversation not found or opted out")
    return _reminder(row)


async def cancel_reminder(conn: Conn, tenant_id: str, reminder_id: str) -> bool:
    """Cancel a pending reminder; False when it is not pending (already sent, or not this tenant's)."""
    status = await conn.execute(
        "UPDATE reminders SET status = 'cancelled', error = 'cancelled'"
        " WHERE client_id = $1 AND id = $2 AND status = 'pending'",
        tenant_id,
        reminder_id,
    )
    return bool(status.endswith(" 1"))
