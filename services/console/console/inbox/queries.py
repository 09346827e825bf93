"""The inbox's reads, each scoped to one tenant ($1) and shaped for one page.

The list walks `active_conversations_activity` (tenant, latest activity, id) with a
keyset cursor; the per-row parts (last message, unread count) are index lookups on
`chat_messages_conversation` (conversation_id, created_at, id). The thread is one keyset
page of the same index, in the same statement as the tenant check of its conversation.
Message rows are found by conversation and their tenant checked with `IS NOT DISTINCT
FROM` (the same rows as `=`, never an index condition): with `client_id = ...`
PostgreSQL ANDs in the tenant's whole `chat_messages_client_time` range, which grows with
the tenant (see `wacommon.repositories.conversations`). Where a LIMIT picks the rows (the
latest message, a thread page) that check is applied to the rows the LIMIT kept: inside
it, the planner takes the filter for a selective one and sorts every message of the
conversation instead of reading the first entries of the index backwards. A message of
another tenant (never written: messages carry their conversation's tenant) would be left
out, not replaced by an older one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from wacommon.infra.dbtypes import Executor as Conn

# unread counts stop here (the badge shows 99+)
UNREAD_CAP = 100

# the page's rows ($1 tenant, $2 user) from `{source}` aliased `a`: only the page's
# conversations reach the per-row parts (computing them before the ORDER BY ... LIMIT
# would cost one lookup per conversation of the tenant)
_CONVERSATION = """
SELECT a.id, a.contact_key, a.contact_name, a.contact_phone, a.provider,
       a.provider_instance_id, p.phone_number AS number, p.instance_name,
       a.state, a.state_since, a.state_reason, a.state_until, a.last_message_at,
       a.last_customer_message_at, a.assigned_user_id, u.name AS assignee_name,
       a.created_at, now() AS now,
       lm.id AS last_id, lm.direction AS last_direction, lm.role AS last_role,
       lm.kind AS last_kind, lm.content AS last_content, lm.status AS last_status,
       lm.created_at AS last_created_at,
       (SELECT count(*) FROM (
          SELECT 1 FROM chat_messages m
           WHERE m.conversation_id = a.id AND m.client_id IS NOT DISTINCT FROM a.client_id
             AND m.created_at > coalesce(r.read_at, '-infinity'::timestamptz)
             AND m.direction = 'in' AND m.role = 'customer'
           LIMIT {cap}) x) AS unread
  FROM {source} a
  LEFT JOIN client_providers p ON p.id = a.provider_instance_id AND p.client_id = a.client_id
  LEFT JOIN console_users u ON u.id = a.assigned_user_id AND u.client_id = a.client_id
  LEFT JOIN console_reads r ON r.user_id = $2 AND r.conversation_id = a.id
  LEFT JOIN LATERAL (
      SELECT l.id, l.direction, l.role, l.kind, l.content, l.status, l.created_at
        FROM (SELECT m.id, m.client_id, m.direction, m.role, m.kind, m.content, m.status,
                     m.created_at
                FROM chat_messages m
               WHERE m.conversation_id = a.id
               ORDER BY m.created_at DESC, m.id DESC LIMIT 1) l
       WHERE l.client_id IS NOT DISTINCT FROM a.client_id) lm ON true
"""

_ONE = (
    _CONVERSATION.replace("{cap}", str(UNREAD_CAP)).replace("{source}", "active_conversations")
    + " WHERE a.client_id = $1 AND a.id = $3"
)


def _like(q: str) -> str:
    return "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def list_sql(*, state: bool, search: bool, cursor: bool) -> str:
    """The list statement for this combination of filters (each its own plan).

    Parameters: $1 tenant, $2 user, $3 limit, then state, (name, phone), (time, id).
    """
    # the owners' "Testar o bot" conversations are theirs to read on /testar, not customers
    where = ["c.client_id = $1", "c.provider <> 'sandbox'"]
    n = 3
    if state:
        n += 1
        where.append(f"c.state = ${n}")
    if search:
        where.append(
            f"(c.contact_name ILIKE ${n + 1} OR c.contact_phone LIKE ${n + 2}"
            f" OR c.contact_key LIKE ${n + 2})"
        )
        n += 2
    if cursor:
        where.append(f"(c.last_message_at, c.id) < (${n + 1}::timestamptz, ${n + 2}::uuid)")
        n += 2
    page = (
        "(SELECT c.* FROM active_conversations c WHERE "
        + " AND ".join(where)
        + " ORDER BY c.last_message_at DESC, c.id DESC LIMIT $3)"
    )
    return (
        _CONVERSATION.replace("{cap}", str(UNREAD_CAP)).replace("{source}", page)
        + " ORDER BY a.last_message_at DESC, a.id DESC"
    )


async def list_conversations(
    conn: Conn,
    tenant: UUID,
    user_id: UUID,
    *,
    state: str | None,
    q: str | None,
    after: tuple[datetime, UUID] | None,
    limit: int,
) -> list[asyncpg.Record]:
    """One page of the list; records, read once by `conversation_json`."""
    params: list[Any] = [tenant, user_id, limit]
    if state:
        params.append(state)
    if q:
        digits = "".join(ch for ch in q if ch.isdigit())
        params += [_like(q), _like(digits) if digits else _like(q)]
    if after:
        params += [after[0], after[1]]
    sql = list_sql(state=bool(state), search=bool(q), cursor=after is not None)
    rows: list[asyncpg.Record] = await conn.fetch(sql, *params)
    return rows


async def get_conversation(
    conn: Conn, tenant: UUID, user_id: UUID, conversation_id: UUID
) -> dict[str, Any] | None:
    row = await conn.fetchrow(_ONE, tenant, user_id, conversation_id)
    return dict(row) if row else None


# one round trip: the conversation checked against the tenant, and its page of messages
# (no row: not this tenant's conversation; one row with a NULL id: no messages yet)
_THREAD = """
SELECT t.id, t.direction, t.role, t.kind, t.content, t.media, t.payload, t.status,
       t.error_code, t.error_detail, t.sent_at, t.delivered_at, t.read_at, t.failed_at,
       t.created_at, t.provider_sent_at, t.burst_id, t.author_user_id, u.name AS author_name
  FROM active_conversations c
  LEFT JOIN LATERAL (
      SELECT p.* FROM (
          SELECT m.id, m.client_id, m.direction, m.role, m.kind, m.content, m.media,
                 m.payload, m.status, m.error_code, m.error_detail, m.sent_at,
                 m.delivered_at, m.read_at, m.failed_at, m.created_at, m.provider_sent_at,
                 m.burst_id, m.author_user_id
            FROM chat_messages m
           WHERE m.conversation_id = c.id
             AND ($3::bigint IS NULL OR (m.created_at, m.id) < (
                   SELECT b.created_at, b.id FROM chat_messages b
                    WHERE b.conversation_id = $2 AND b.client_id IS NOT DISTINCT FROM $1
                      AND b.id = $3))
           ORDER BY m.created_at DESC, m.id DESC
           LIMIT $4) p
       WHERE p.client_id IS NOT DISTINCT FROM $1) t ON true
  LEFT JOIN console_users u ON u.id = t.author_user_id
 WHERE c.client_id = $1 AND c.id = $2
 ORDER BY t.created_at DESC, t.id DESC
"""


async def thread(
    conn: Conn,
    tenant: UUID,
    conversation_id: UUID,
    *,
    before: int | None,
    limit: int,
) -> list[asyncpg.Record] | None:
    """Up to `limit` messages before message `before` (newest page without), oldest first;
    None when the tenant has no such conversation (an unknown `before` gives []).

    Records, not dicts: the page is read once, by `message_json`."""
    rows = await conn.fetch(_THREAD, tenant, conversation_id, before, limit)
    if not rows:
        return None
    if rows[0]["id"] is None:
        return []
    rows.reverse()
    return rows


async def tool_calls(
    conn: Conn,
    tenant: UUID,
    conversation_id: UUID,
    burst_ids: list[str],
    since: datetime,
    until: datetime,
) -> dict[str, list[dict[str, Any]]]:
    """The bot's tool calls per burst (their events carry the burst as correlation id)."""
    if not burst_ids:
        return {}
    rows = await conn.fetch(
        "SELECT correlation_id, data, created_at FROM conversation_events"
        " WHERE client_id = $1 AND created_at BETWEEN $4 AND $5 AND conversation_id = $2"
        " AND event_type = 'tool_used' AND correlation_id = ANY($3::text[])"
        " ORDER BY created_at, id",
        tenant,
        conversation_id,
        burst_ids,
        since,
        until,
    )
    out: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        data = dict(r["data"] or {})
        out.setdefault(str(r["correlation_id"]), []).append(
            {
                "tool": data.get("tool"),
                "ok": data.get("ok"),
                "error": data.get("error"),
                "at": r["created_at"].isoformat(),
            }
        )
    return out
