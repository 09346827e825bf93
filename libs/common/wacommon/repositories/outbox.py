"""SQL of the outbox (`chat_messages` rows going out): claim, record, retry, relay.

Each row moves pending -> sending -> sent|failed|dropped|unknown (see `sender.handlers`).
A claim increments `attempts`, which is the claim's fencing token: the writes that end a
claim (`mark_pending`, `mark_unknown`, `mark_failed` with `claim=`) change the row only
while that claim is still the current one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from wacommon.infra.dbtypes import Executor as Conn
from wacommon.repositories.events import INSERT_EVENTS
from wacommon.repositories.messages import COLUMNS


async def claim_for_send(conn: Conn, tenant_id: str, message_id: int) -> dict[str, Any] | None:
    """pending -> sending; None when another attempt holds or finished it."""
    row = await conn.fetchrow(
        f"""UPDATE chat_messages SET status = 'sending', attempts = attempts + 1, updated_at = now()
            WHERE client_id = $1 AND id = $2 AND status = 'pending' RETURNING {COLUMNS}""",
        tenant_id,
        message_id,
    )
    return dict(row) if row else None


async def reclaim_stale_sending(
    conn: Conn, tenant_id: str, message_id: int, older_than_s: float
) -> dict[str, Any] | None:
    """A `sending` row whose attempt died long ago (no status webhook reconciled it): take it over."""
    row = await conn.fetchrow(
        f"""UPDATE chat_messages SET attempts = attempts + 1, updated_at = now()
            WHERE client_id = $1 AND id = $2 AND status = 'sending'
              AND updated_at < now() - make_interval(secs => $3) RETURNING {COLUMNS}""",
        tenant_id,
        message_id,
        older_than_s,
    )
    return dict(row) if row else None


async def mark_sent(
    conn: Conn, tenant_id: str, message_id: int, provider_message_id: str | None
) -> None:
    await conn.execute(
        """UPDATE chat_messages SET status = CASE WHEN status IN ('pending', 'sending', 'unknown')
                                             THEN 'sent' ELSE status END,
             provider_message_id = coalesce(provider_message_id, $3),
             sent_at = coalesce(sent_at, now()), updated_at = now()
           WHERE client_id = $1 AND id = $2""",
        tenant_id,
        message_id,
        provider_message_id,
    )


async def mark_pending(
    conn: Conn, tenant_id: str, message_id: int, error: str | None, *, claim: int | None = None
) -> None:
    """A retryable failure (the request never reached the provider): the row waits again."""
    await conn.execute(
        """UPDATE chat_messages SET status = 'pending', error_detail = $3, paced_until = NULL,
             updated_at = now()
           WHERE client_id = $1 AND id = $2 AND status = 'sending'
             AND ($4::int IS NULL OR attempts = $4)""",
        tenant_id,
        message_id,
        error,
        claim,
    )


async def mark_unknown(
    conn: Conn,
    tenant_id: str,
    message_id: int,
    *,
    detail: str,
    claim: int | None = None,
    stale_after_s: float | None = None,
) -> dict[str, Any] | None:
    """sending -> unknown: the send may have happened and must never be repeated.

    With `claim`, only while that claim holds the row (the sender's own ambiguous call);
    with `stale_after_s`, only a row nobody touched for that long (its sender died).
    The row as it was, or None when it had moved on.
    """
    row = await conn.fetchrow(
        f"""UPDATE chat_messages SET status = 'unknown', error_code = 'outcome_unknown',
              error_detail = $3, updated_at = now()
            WHERE client_id = $1 AND id = $2 AND status = 'sending'
              AND ($4::int IS NULL OR attempts = $4)
              AND ($5::float8 IS NULL OR updated_at < now() - make_interval(secs => $5))
            RETURNING {COLUMNS}""",
        tenant_id,
        message_id,
        detail,
        claim,
        stale_after_s,
    )
    return dict(row) if row else None


async def reconcile_own_echo(
    conn: Conn, tenant_id: str, provider: str, message_id: int, provider_message_id: str
) -> dict[str, Any] | None:
    """The provider echoed our send of row `message_id` (Uazapi `track_id`): it went out.

    `sending` or `unknown` -> `sent`. Returns the row's conversation and its status before,
    or None when there was nothing to reconcile.
    """
    row = await conn.fetchrow(
        """WITH before AS (
             SELECT id, status FROM chat_messages
             WHERE client_id = $1 AND id = $2 AND direction = 'out' AND provider = $3
               AND status IN ('sending', 'unknown') FOR UPDATE
           )
           UPDATE chat_messages m SET status = 'sent',
             provider_message_id = coalesce(m.provider_message_id, $4),
             sent_at = coalesce(m.sent_at, now()),
             -- the caller writes msg_sent for a row that was `unknown`: a later record of
             -- the same send must not write a second one
             sent_event_at = CASE WHEN before.status = 'unknown'
                                  THEN coalesce(m.sent_event_at, now()) ELSE m.sent_event_at END,
             updated_at = now()
           FROM before WHERE m.client_id = $1 AND m.id = before.id
           RETURNING m.conversation_id, m.kind, m.role, before.status AS was""",
        tenant_id,
        message_id,
        provider,
        provider_message_id,
    )
    return dict(row) if row else None


async def sending_is_stale(
    conn: Conn, tenant_id: str, message_id: int, older_than_s: float
) -> bool:
    """Whether a `sending` row was left untouched for `older_than_s` (its sender died)."""
    value = await conn.fetchval(
        """SELECT updated_at < now() - make_interval(secs => $3) FROM chat_messages
           WHERE client_id = $1 AND id = $2 AND status = 'sending'""",
        tenant_id,
        message_id,
        older_than_s,
    )
    return bool(value)


async def hold_for_pacing(
    conn: Conn, tenant_id: str, message_id: int, burst_id: str | None, seconds: float
) -> None:
    """Mark the row and the rest of its group as waited on by a live sender for `seconds`.

    Only a hint for the relay and the other senders (see `paced_until`); nothing is claimed.
    """
    await conn.execute(
        """UPDATE chat_messages SET paced_until = now() + make_interval(secs => $4)
           WHERE client_id = $1 AND direction = 'out' AND status = 'pending'
             AND (id = $2 OR ($3::text IS NOT NULL AND burst_id = $3 AND id > $2))""",
        tenant_id,
        message_id,
        burst_id,
        seconds,
    )


async def mark_failed(
    conn: Conn,
    tenant_id: str,
    message_id: int,
    *,
    status: str,
    code: str | None,
    detail: str | None,
    claim: int | None = None,
) -> bool:
    """failed (the provider refused) or dropped (we decided not to send); False if unchanged.

    With `claim`, only while that claim still holds the row.
    """
    status_line = await conn.execute(
        """UPDATE chat_messages SET status = $3, error_code = $4, error_detail = $5,
             failed_at = now(), updated_at = now()
           WHERE client_id = $1 AND id = $2
             AND ($6::int IS NULL OR (status = 'sending' AND attempts = $6))""",
        tenant_id,
        message_id,
        status,
        code,
        detail,
        claim,
    )
    return str(status_line) != "UPDATE 0"


async def stale_pending(conn: Conn, older_than_s: float, limit: int = 200) -> list[dict[str, Any]]:
    """Outbox rows nobody published or sent (a publish lost after commit), across tenants.

    Oldest first, along the partial index on `updated_at` of pending outbound rows; a row a
    live sender is pacing (`paced_until`) counts from the end of that wait.

    Operational sweep: each row still carries its tenant and every later query is scoped.
    """
    rows = await conn.fetch(
        """SELECT id, client_id, conversation_id, role, burst_id, status,
                  coalesce(payload->>'origin', 'bot') AS origin FROM chat_messages
           WHERE direction = 'out' AND status = 'pending'
             AND updated_at < now() - make_interval(secs => $1)
             AND (paced_until IS NULL OR paced_until < now() - make_interval(secs => $1))
           ORDER BY updated_at LIMIT $2""",
        older_than_s,
        limit,
    )
    return [dict(r) for r in rows]


async def stale_sending(conn: Conn, older_than_s: float, limit: int = 200) -> list[dict[str, Any]]:
    """Outbox rows left `sending` longer than `older_than_s` (the sender died), across tenants.

    Oldest first, along the partial index on `updated_at` of sending outbound rows.
    """
    rows = await conn.fetch(
        """SELECT id, client_id, conversation_id, role, burst_id, status,
                  coalesce(payload->>'origin', 'bot') AS origin FROM chat_messages
           WHERE direction = 'out' AND status = 'sending'
             AND updated_at < now() - make_interval(secs => $1)
           ORDER BY updated_at LIMIT $2""",
        older_than_s,
        limit,
    )
    return [dict(r) for r in rows]


_M_COLUMNS = ", ".join(f"m.{c.strip()}" for c in COLUMNS.split(","))


class SendContext(NamedTuple):
    """What `send_context` reads for one send command."""

    group: list[dict[str, Any]]
    conversation: dict[str, Any] | None
    last_in: dict[str, Any] | None
    claimed: int | None
    earlier: int | None


_FINAL = "('sent', 'delivered', 'read', 'played', 'failed', 'dropped', 'unknown')"


async def send_context(
    conn: Conn,
    tenant_id: str,
    first_id: int,
    conversation_id: str,
    *,
    claim_first: bool = False,
    bot_origin: bool = True,
) -> SendContext:
    """One statement for a send: the outbound group, its conversation, the last customer
    message, the claimed row and the conversation's earlier unfinished reply.

    The conversation carries `id`, `contact_phone`, `contact_key`; the last customer
    message `provider`, `provider_instance_id`, `provider_message_id` (None if none).
    With `claim_first`, row `first_id` is also claimed (pending -> sending, committed with
    the statement) when it is the group's next row to send and, for a bot-written
    message, the conversation is the bot's and the bot is on; `claimed` is then its id
    and its group row is the claimed one. Every other case is left to `claim_for_send`.
    `earlier` is the conversation's oldest outbound row older than the group and not yet
    settled (pending or sending, not part of the group, not an owner's alert), read in the
    same snapshot: one statement per send fewer than asking it afterwards.
    """
    rows = await conn.fetch(
        f"""WITH grp AS (
              -- the group is row $2's burst (every row of it), or row $2 alone
              SELECT t.burst_id, CASE WHEN t.burst_id IS NULL THEN t.id ELSE (
                       SELECT min(g.id) FROM chat_messages g
                       WHERE g.client_id IS NOT DISTINCT FROM $1 AND g.conversation_id = $3
                         AND g.direction = 'out' AND g.burst_id = t.burst_id) END AS first_id
              FROM chat_messages t
              WHERE t.client_id IS NOT DISTINCT FROM $1 AND t.id = $2 AND t.conversation_id = $3
                AND t.direction = 'out'
            ), earlier AS (
              SELECT e.id FROM chat_messages e, grp
              WHERE e.client_id IS NOT DISTINCT FROM $1 AND e.conversation_id = $3
                AND e.direction = 'out' AND e.status IN ('pending', 'sending')
                AND e.id < grp.first_id
                AND (grp.burst_id IS NULL OR e.burst_id IS DISTINCT FROM grp.burst_id)
                AND e.payload->>'alert_to' IS NULL
              ORDER BY e.id LIMIT 1
            ), claimed AS (
              UPDATE chat_messages m SET status = 'sending', attempts = m.attempts + 1,
                     updated_at = now()
              FROM active_conversations a JOIN clients c ON c.id = $1
              WHERE $4::bool AND m.client_id IS NOT DISTINCT FROM $1 AND m.id = $2
                AND m.direction = 'out' AND m.status IS NOT DISTINCT FROM 'pending'
                AND a.client_id IS NOT DISTINCT FROM $1 AND a.id = $3
                AND (NOT $5::bool OR (a.state = 'bot' AND c.bot_active))
                AND NOT EXISTS (
                  SELECT 1 FROM chat_messages p
                  WHERE p.client_id IS NOT DISTINCT FROM $1
                    AND p.conversation_id = m.conversation_id
                    AND m.burst_id IS NOT NULL AND p.burst_id = m.burst_id
                    AND p.direction = 'out' AND p.id < m.id AND p.status NOT IN {_FINAL})
              RETURNING m.id, m.attempts, m.updated_at
            )
            SELECT {_M_COLUMNS}, m.paced_until, a.id AS conv_id, a.contact_phone AS conv_contact_phone,
                   a.contact_key AS conv_contact_key, li.provider AS last_in_provider,
                   li.provider_instance_id AS last_in_instance_id,
                   li.provider_message_id AS last_in_message_id,
                   cl.id AS claimed_id, cl.attempts AS claimed_attempts,
                   cl.updated_at AS claimed_updated_at,
                   (SELECT id FROM earlier) AS earlier_id
            FROM active_conversations a
            LEFT JOIN chat_messages m ON m.client_id IS NOT DISTINCT FROM $1
              AND m.conversation_id = a.id AND m.direction = 'out' AND (
              m.id = $2 OR (m.burst_id IS NOT NULL AND m.burst_id = (
                SELECT burst_id FROM chat_messages
                WHERE client_id IS NOT DISTINCT FROM $1 AND id = $2)))
            LEFT JOIN claimed cl ON cl.id = m.id
            LEFT JOIN LATERAL (
              SELECT i.provider, i.provider_instance_id, i.provider_message_id
              FROM chat_messages i
              WHERE i.client_id IS NOT DISTINCT FROM $1 AND i.conversation_id = a.id
                AND i.direction = 'in' AND i.role = 'customer'
              ORDER BY i.id DESC LIMIT 1) li ON true
            WHERE a.client_id IS NOT DISTINCT FROM $1 AND a.id = $3
            ORDER BY m.id""",
        tenant_id,
        first_id,
        conversation_id,
        claim_first,
        bot_origin,
    )
    if not rows:
        return SendContext([], None, None, None, None)
    head = rows[0]
    conv = {
        "id": head["conv_id"],
        "contact_phone": head["conv_contact_phone"],
        "contact_key": head["conv_contact_key"],
    }
    last_in = (
        {
            "provider": head["last_in_provider"],
            "provider_instance_id": head["last_in_instance_id"],
            "provider_message_id": head["last_in_message_id"],
        }
        if head["last_in_provider"] is not None
        else None
    )
    extra = ("conv_", "last_in_", "claimed_", "earlier_")
    group: list[dict[str, Any]] = []
    claimed: int | None = None
    for r in rows:
        if r["id"] is None:
            continue
        row = {k: v for k, v in r.items() if not k.startswith(extra)}
        if r["claimed_id"] is not None:
            # the statement's snapshot predates its own UPDATE: show the row as claimed
            claimed = int(r["claimed_id"])
            row.update(
                status="sending",
                attempts=r["claimed_attempts"],
                updated_at=r["claimed_updated_at"],
            )
        group.append(row)
    earlier = head["earlier_id"]
    return SendContext(group, conv, last_in, claimed, int(earlier) if earlier is not None else None)


async def claim_for_bot_send(
    conn: Conn, tenant_id: str, message_id: int, conversation_id: str
) -> dict[str, Any] | None:
    """pending -> sending only while the conversation is the bot's and the tenant's bot is on.

    None covers every other case (held, finished, not the bot's turn): the caller falls
    back to `claim_for_send` and the full state check.
    """
    row = await conn.fetchrow(
        f"""UPDATE chat_messages m SET status = 'sending', attempts = m.attempts + 1,
                   updated_at = now()
            FROM active_conversations a JOIN clients c ON c.id = $1
            WHERE m.client_id IS NOT DISTINCT FROM $1 AND m.id = $2
              AND m.status IS NOT DISTINCT FROM 'pending'
              AND a.client_id IS NOT DISTINCT FROM $1 AND a.id = $3 AND a.state = 'bot'
              AND c.bot_active
            RETURNING {_M_COLUMNS}""",
        tenant_id,
        message_id,
        conversation_id,
    )
    return dict(row) if row else None


async def mark_sent_recorded(
    conn: Conn,
    tenant_id: str,
    message_id: int,
    provider_message_id: str | None,
    *,
    conversation_id: str,
    role: str,
    at: datetime,
    event_type: str,
    event_data: dict[str, Any],
    correlation_id: str | None,
) -> None:
    """`mark_sent`, the conversation's `record_outbound` and the event, as one statement.

    Idempotent: the event is written once per row (`sent_event_at`), so a record repeated
    after a commit whose answer was lost does not count the send twice. `prev` locks the row
    and, under READ COMMITTED, sees a concurrent record's commit before deciding.
    """
    await conn.execute(
        f"""WITH prev AS (
             SELECT id, sent_event_at FROM chat_messages
             WHERE client_id IS NOT DISTINCT FROM $1 AND id = $2 FOR UPDATE
           ), s AS (
             UPDATE chat_messages m SET status = CASE
                                                  WHEN m.status IN ('pending', 'sending', 'unknown')
                                                  THEN 'sent' ELSE m.status END,
               provider_message_id = coalesce(m.provider_message_id, $3),
               sent_at = coalesce(m.sent_at, now()),
               sent_event_at = coalesce(m.sent_event_at, now()), updated_at = now()
             FROM prev WHERE m.client_id IS NOT DISTINCT FROM $1 AND m.id = $2 AND m.id = prev.id
             RETURNING m.id
           ), r AS (
             UPDATE active_conversations SET
               last_message_at = greatest(last_message_at, $5::timestamptz),
               last_bot_message_at = CASE WHEN $6::text = 'bot'
                                          THEN greatest(last_bot_message_at, $5::timestamptz)
                                          ELSE last_bot_message_at END,
               last_human_message_at = CASE WHEN $6::text = 'human'
                                            THEN greatest(last_human_message_at, $5::timestamptz)
                                            ELSE last_human_message_at END,
               last_role = CASE WHEN $5::timestamptz >= coalesce(last_message_at, '-infinity')
                                THEN $6::text ELSE last_role END,
               updated_at = now()
             WHERE client_id IS NOT DISTINCT FROM $1 AND id = $4 RETURNING id
           )
           {INSERT_EVENTS}
           SELECT $1::uuid, $4::uuid, $7::text, $8::jsonb, $9::text, now()
             FROM prev WHERE prev.sent_event_at IS NULL""",
        tenant_id,
        message_id,
        provider_message_id,
        conversation_id,
        at,
        role,
        event_type,
        event_data,
        correlation_id,
    )


async def next_waiting(
    conn: Conn, tenant_id: str, conversation_id: str, after_id: int
) -> dict[str, Any] | None:
    """The oldest pending outbound row of the conversation after `after_id`, with its origin."""
    row = await conn.fetchrow(
        """SELECT id, coalesce(payload->>'origin', 'bot') AS origin FROM chat_messages
           WHERE client_id IS NOT DISTINCT FROM $1 AND conversation_id = $2
             AND direction = 'out' AND status = 'pending' AND id > $3
             AND payload->>'alert_to' IS NULL
           ORDER BY id LIMIT 1""",
        tenant_id,
        conversation_id,
        after_id,
    )
    return dict(row) if row is not None else None
