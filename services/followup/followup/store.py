"""SQL of the followup service: claims with SKIP LOCKED, guarded writes, outbound rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from followup.writers import Line
from wacommon.infra.dbtypes import Conn
from wacommon.infra.textclean import clean_json, clean_text

# the partial index on followup_due_at finds the due rows and SKIP LOCKED lets replicas share
# them; the locks last for the claiming transaction, which writes everything that needs no LLM.
# The console's "Testar o bot" conversations (provider sandbox) get no follow-ups: an owner's
# test customer is not a lead to chase, and its messages would count in the tenant's metrics.
LOCK_DUE_FOLLOWUPS = """
SELECT id, client_id, provider, provider_instance_id, contact_name, followup_stage,
       last_customer_message_at, context_reset_at, followup_due_at
  FROM active_conversations
 WHERE state = 'bot' AND followup_due_at <= $1 AND provider <> 'sandbox'
 ORDER BY followup_due_at
 LIMIT $2
   FOR UPDATE SKIP LOCKED
"""

CLAIM_REMINDERS = """
WITH due AS (
    SELECT id, client_id FROM reminders
     WHERE status = 'pending' AND due_at <= $1 AND (locked_until IS NULL OR locked_until <= $1)
     ORDER BY due_at
     LIMIT $2
       FOR UPDATE SKIP LOCKED
)
UPDATE reminders r SET locked_until = $3
  FROM due WHERE r.id = due.id AND r.client_id = due.client_id
RETURNING r.id, r.client_id, r.conversation_id, r.due_at, r.text, r.created_at
"""


@dataclass(frozen=True)
class FollowupClaim:
    """A due conversation as claimed; `lease` is its due time, moved later while a writer works."""

    conversation_id: str
    tenant_id: str
    provider: str
    provider_instance_id: str | None
    contact_name: str | None
    stage: int
    last_customer_at: datetime | None
    context_reset_at: datetime | None
    lease: datetime

    @property
    def cycle(self) -> int:
        """Names the silence being followed up: a customer message starts a new one."""
        return int(self.last_customer_at.timestamp() * 1000) if self.last_customer_at else 0


@dataclass(frozen=True)
class ReminderClaim:
    """A pending reminder this scan owns until `lease`."""

    id: str
    tenant_id: str
    conversation_id: str
    due_at: datetime
    text: str
    created_at: datetime
    lease: datetime


@dataclass(frozen=True)
class Tenant:
    """The tenant facts a scan needs."""

    id: str
    timezone: str
    bot_active: bool
    followup_config: dict[str, Any]


async def lock_due_followups(conn: Conn, now: datetime, limit: int) -> list[FollowupClaim]:
    """Lock up to `limit` due follow-ups (all tenants) for the caller's transaction."""
    rows = await conn.fetch(LOCK_DUE_FOLLOWUPS, now, limit)
    return [
        FollowupClaim(
            conversation_id=str(r["id"]),
            tenant_id=str(r["client_id"]),
            provider=r["provider"],
            provider_instance_id=str(r["provider_instance_id"])
            if r["provider_instance_id"]
            else None,
            contact_name=r["contact_name"],
            stage=r["followup_stage"],
            last_customer_at=r["last_customer_message_at"],
            context_reset_at=r["context_reset_at"],
            lease=r["followup_due_at"],
        )
        for r in rows
    ]


async def claim_reminders(
    pool: asyncpg.Pool, now: datetime, limit: int, lease: timedelta
) -> list[ReminderClaim]:
    """Claim up to `limit` due pending reminders (all tenants)."""
    until = now + lease
    rows = await pool.fetch(CLAIM_REMINDERS, now, limit, until)
    return [
        ReminderClaim(
            id=str(r["id"]),
            tenant_id=str(r["client_id"]),
            conversation_id=str(r["conversation_id"]),
            due_at=r["due_at"],
            text=r["text"],
            created_at=r["created_at"],
            lease=until,
        )
        for r in rows
    ]


async def tenants(conn: Conn | asyncpg.Pool, ids: set[str]) -> dict[str, Tenant]:
    """The tenants of a batch of claims."""
    rows = await conn.fetch(
        "SELECT id, timezone, bot_active, followup_config FROM clients WHERE id = ANY($1::uuid[])",
        list(ids),
    )
    return {
        str(r["id"]): Tenant(str(r["id"]), r["timezone"], r["bot_active"], r["followup_config"])
        for r in rows
    }


async def reminder_conversation(
    db: Conn | asyncpg.Pool, tenant_id: str, conversation_id: str
) -> dict[str, Any] | None:
    """What a due reminder's send depends on: the conversation's state, channel, last message."""
    row = await db.fetchrow(
        "SELECT state, provider, provider_instance_id, last_customer_message_at"
        " FROM active_conversations WHERE client_id = $1 AND id = $2",
        tenant_id,
        conversation_id,
    )
    return dict(row) if row is not None else None


async def history(
    conn: Conn | asyncpg.Pool,
    tenant_id: str,
    conversation_id: str,
    *,
    since: datetime | None,
    limit: int = 20,
) -> list[Line]:
    """The newest `limit` messages after `since` (a #reset), oldest first."""
    rows = await conn.fetch(
        "SELECT role, content, created_at FROM chat_messages"
        " WHERE client_id = $1 AND conversation_id = $2"
        " AND ($3::timestamptz IS NULL OR created_at > $3)"
        " ORDER BY created_at DESC LIMIT $4",
        tenant_id,
        conversation_id,
        since,
        limit,
    )
    return [Line(r["role"], r["content"], r["created_at"]) for r in reversed(rows)]


async def lock_followup(conn: Conn, claim: FollowupClaim) -> bool:
    """Lock the conversation; True only if nothing changed since the claim (still ours)."""
    row = await conn.fetchrow(
        "SELECT state, followup_stage, followup_due_at, last_customer_message_at"
        " FROM active_conversations WHERE client_id = $1 AND id = $2 FOR UPDATE",
        claim.tenant_id,
        claim.conversation_id,
    )
    return (
        row is not None
        and row["state"] == "bot"
        and row["followup_stage"] == claim.stage
        and row["followup_due_at"] == claim.lease
        and row["last_customer_message_at"] == claim.last_customer_at
    )


async def set_followup(
    conn: Conn,
    claim: FollowupClaim,
    *,
    stage: int,
    due: datetime | None,
    sent_at: datetime | None = None,
) -> None:
    """Store the stage and the next due time; `sent_at` when a follow-up was queued."""
    await conn.execute(
        "UPDATE active_conversations SET followup_stage = $3::int, followup_due_at = $4,"
        " last_bot_message_at = coalesce($5, last_bot_message_at),"
        " last_message_at = coalesce($5, last_message_at),"
        " last_role = CASE WHEN $5::timestamptz IS NULL THEN last_role ELSE 'bot' END,"
        " attributes = CASE WHEN $5::timestamptz IS NULL THEN attributes ELSE attributes"
        " || jsonb_build_object('last_followup_at', $5::timestamptz, 'last_followup_stage', $3::int)"
        " END, updated_at = now() WHERE client_id = $1 AND id = $2",
        claim.tenant_id,
        claim.conversation_id,
        stage,
        due,
        sent_at,
    )


async def insert_outbound(
    conn: Conn,
    *,
    tenant_id: str,
    conversation_id: str,
    provider: str,
    provider_instance_id: str | None,
    kind: str,
    content: str,
    payload: dict[str, Any],
    idempotency_key: str,
    now: datetime,
) -> int | None:
    """Store a scheduled outbound message; None when this key was already stored."""
    content, payload = clean_text(content), clean_json(payload)
    value: int | None = await conn.fetchval(
        "INSERT INTO chat_messages (client_id, conversation_id, direction, role, provider,"
        " provider_instance_id, kind, content, payload, status, idempotency_key, created_at)"
        " VALUES ($1, $2, 'out', 'bot', $3, $4, $5, $6, $7, 'pending', $8, $9)"
        " ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
        tenant_id,
        conversation_id,
        provider,
        provider_instance_id,
        kind,
        content,
        payload,
        idempotency_key,
        now,
    )
    return value


async def lock_reminder(conn: Conn, claim: ReminderClaim) -> bool:
    """Lock the reminder; True only if it is still pending and ours."""
    row = await conn.fetchrow(
        "SELECT status, locked_until FROM reminders WHERE client_id = $1 AND id = $2 FOR UPDATE",
        claim.tenant_id,
        claim.id,
    )
    return row is not None and row["status"] == "pending" and row["locked_until"] == claim.lease


async def finish_reminder(
    conn: Conn,
    claim: ReminderClaim,
    *,
    status: str,
    error: str | None = None,
    outbound_id: int | None = None,
    sent_at: datetime | None = None,
    locked_until: datetime | None = None,
) -> None:
    """Record the outcome (or, with status pending, postpone to `locked_until`)."""
    await conn.execute(
        "UPDATE reminders SET status = $3, error = $4, outbound_id = $5, sent_at = $6,"
        " locked_until = $7 WHERE client_id = $1 AND id = $2",
        claim.tenant_id,
        claim.id,
        status,
        error,
        outbound_id,
        sent_at,
        locked_until,
    )
