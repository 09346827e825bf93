"""SQL about messages (`chat_messages`): inbound storage, the outbound outbox, delivery state."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from wacommon.dbtypes import Executor as Conn
from wacommon.repositories import conversations as _conv_repo
from wacommon.repositories.conversations import COLUMNS as _CONV_COLUMNS
from wacommon.repositories.conversations import UPSERT_SET as _CONV_UPSERT_SET
from wacommon.schemas import DeliveryState, InboundMessage

_COLUMNS = (
    "id, client_id, conversation_id, direction, role, provider, provider_instance_id,"
    " provider_message_id, kind, content, media, payload, status, error_code, error_detail,"
    " reply_to, idempotency_key, burst_id, attempts, sent_at, delivered_at, read_at, failed_at,"
    " provider_sent_at, created_at, updated_at"
)
# forward-only delivery states; failed is terminal
_RANK = {"pending": 0, "sending": 1, "sent": 2, "delivered": 3, "read": 4, "played": 5}


async def store_inbound(
    conn: Conn, msg: InboundMessage, conversation_id: str, *, status: str = "received"
) -> int | None:
    """Store an inbound message once; None when this provider message id was already stored."""
    value = await conn.fetchval(
        """INSERT INTO chat_messages
             (client_id, conversation_id, direction, role, provider, provider_instance_id,
              provider_message_id, kind, content, media, payload, raw, status, reply_to,
              provider_sent_at)
           VALUES ($1, $2, 'in', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
           ON CONFLICT (provider, provider_message_id) DO NOTHING RETURNING id""",
        msg.tenant_id,
        conversation_id,
        msg.sender.value,
        msg.provider.value,
        msg.instance_id,
        msg.provider_message_id,
        msg.kind.value,
        msg.text,
        msg.media.model_dump(exclude_none=True) if msg.media else None,
        {
            "attributes": msg.attributes,
            "contact": msg.contact.model_dump(),
            "is_group": msg.is_group,
        },
        msg.raw,
        status,
        msg.reply_to,
        msg.sent_at,
    )
    return int(value) if value is not None else None


async def insert_outbound(
    conn: Conn,
    client_id: str,
    conversation_id: str,
    *,
    provider: str,
    instance_id: str | None,
    role: str,
    kind: str,
    content: str,
    payload: dict[str, Any],
    idempotency_key: str,
    burst_id: str | None = None,
    reply_to: str | None = None,
) -> int | None:
    """Queue an outbound message (the outbox row); None when the idempotency key exists."""
    value = await conn.fetchval(
        """INSERT INTO chat_messages
             (client_id, conversation_id, direction, role, provider, provider_instance_id, kind,
              content, payload, status, idempotency_key, burst_id, reply_to)
           VALUES ($1, $2, 'out', $3, $4, $5, $6, $7, $8, 'pending', $9, $10, $11)
           ON CONFLICT (idempotency_key) DO NOTHING RETURNING id""",
        client_id,
        conversation_id,
        role,
        provider,
        instance_id,
        kind,
        content,
        payload,
        idempotency_key,
        burst_id,
        reply_to,
    )
    return int(value) if value is not None else None


async def get_message(conn: Conn, client_id: str, message_id: int) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM chat_messages WHERE client_id = $1 AND id = $2",
        client_id,
        message_id,
    )
    return dict(row) if row else None


async def get_by_idempotency_key(conn: Conn, client_id: str, key: str) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM chat_messages WHERE client_id = $1 AND idempotency_key = $2",
        client_id,
        key,
    )
    return dict(row) if row else None


async def messages_by_ids(conn: Conn, client_id: str, ids: list[int]) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM chat_messages WHERE client_id = $1 AND id = ANY($2::bigint[])"
        " ORDER BY provider_sent_at, id",
        client_id,
        ids,
    )
    return [dict(r) for r in rows]


async def conversation_history(
    conn: Conn,
    client_id: str,
    conversation_id: str,
    *,
    since: datetime | None,
    limit: int,
    before_id: int | None = None,
) -> list[dict[str, Any]]:
    """The latest `limit` messages (oldest first), after `since`; sends that failed or were dropped excluded.

    Replies still waiting for the sender (pending, sending) count: the customer will see them.
    """
    rows = await conn.fetch(
        f"""SELECT * FROM (
              SELECT {_COLUMNS} FROM chat_messages
              WHERE client_id = $1 AND conversation_id = $2
                AND ($3::timestamptz IS NULL OR created_at >= $3)
                AND ($5::bigint IS NULL OR id < $5)
                AND status NOT IN ('failed', 'dropped')
              ORDER BY id DESC LIMIT $4) t ORDER BY id""",
        client_id,
        conversation_id,
        since,
        limit,
        before_id,
    )
    return [dict(r) for r in rows]


def _unanswered(up_to: str, since: str) -> str:
    """Customer messages not yet answered, up to id `up_to`, since `since` (SQL
    expressions; $1 tenant, $2 conversation), see burst_with_history."""
    return f"""SELECT {_COLUMNS} FROM chat_messages m
            WHERE m.client_id IS NOT DISTINCT FROM $1 AND m.conversation_id = $2
              AND m.direction = 'in'
              AND m.role IN ('customer', 'campaign') AND m.id <= {up_to}
              AND ({since} IS NULL OR m.created_at >= {since})
              AND m.id > coalesce((
                SELECT max(CASE WHEN o.direction = 'out' AND o.burst_id IS NOT NULL THEN coalesce(
                    (SELECT max(b.id) FROM chat_messages b
                     WHERE b.client_id IS NOT DISTINCT FROM $1 AND b.conversation_id = $2
                       AND b.direction = 'in' AND b.burst_id = o.burst_id), o.id) ELSE o.id END)
                FROM chat_messages o
                WHERE o.client_id IS NOT DISTINCT FROM $1 AND o.conversation_id = $2
                  AND ((o.direction = 'out' AND o.status NOT IN ('failed', 'dropped'))
                       OR (o.direction = 'in' AND o.role = 'human'))), 0)"""


_UNANSWERED = _unanswered("$3", "$4::timestamptz")


async def set_inbound_text(
    conn: Conn, client_id: str, message_id: int, *, content: str, extra: dict[str, Any]
) -> None:
    """Store what media processing produced (transcript, description) on the message."""
    await conn.execute(
        """UPDATE chat_messages SET content = $3, payload = payload || $4::jsonb, updated_at = now()
           WHERE client_id = $1 AND id = $2""",
        client_id,
        message_id,
        content,
        extra,
    )


async def claim_for_send(conn: Conn, client_id: str, message_id: int) -> dict[str, Any] | None:
    """pending -> sending; None when another attempt holds or finished it."""
    row = await conn.fetchrow(
        f"""UPDATE chat_messages SET status = 'sending', attempts = attempts + 1, updated_at = now()
            WHERE client_id = $1 AND id = $2 AND status = 'pending' RETURNING {_COLUMNS}""",
        client_id,
        message_id,
    )
    return dict(row) if row else None


async def reclaim_stale_sending(
    conn: Conn, client_id: str, message_id: int, older_than_s: float
) -> dict[str, Any] | None:
    """A `sending` row whose attempt died long ago (no status webhook reconciled it): take it over."""
    row = await conn.fetchrow(
        f"""UPDATE chat_messages SET attempts = attempts + 1, updated_at = now()
            WHERE client_id = $1 AND id = $2 AND status = 'sending'
              AND updated_at < now() - make_interval(secs => $3) RETURNING {_COLUMNS}""",
        client_id,
        message_id,
        older_than_s,
    )
    return dict(row) if row else None


async def mark_sent(
    conn: Conn, client_id: str, message_id: int, provider_message_id: str | None
) -> None:
    await conn.execute(
        """UPDATE chat_messages SET status = CASE WHEN status IN ('pending', 'sending') THEN 'sent'
                                             ELSE status END,
             provider_message_id = coalesce(provider_message_id, $3),
             sent_at = coalesce(sent_at, now()), updated_at = now()
           WHERE client_id = $1 AND id = $2""",
        client_id,
        message_id,
        provider_message_id,
    )


async def mark_pending(conn: Conn, client_id: str, message_id: int, error: str | None) -> None:
    """A retryable failure: the row waits for the next attempt."""
    await conn.execute(
        """UPDATE chat_messages SET status = 'pending', error_detail = $3, updated_at = now()
           WHERE client_id = $1 AND id = $2 AND status = 'sending'""",
        client_id,
        message_id,
        error,
    )


async def mark_failed(
    conn: Conn,
    client_id: str,
    message_id: int,
    *,
    status: str,
    code: str | None,
    detail: str | None,
) -> None:
    """failed (the provider refused) or dropped (we decided not to send)."""
    await conn.execute(
        """UPDATE chat_messages SET status = $3, error_code = $4, error_detail = $5,
             failed_at = now(), updated_at = now()
           WHERE client_id = $1 AND id = $2""",
        client_id,
        message_id,
        status,
        code,
        detail,
    )


async def apply_status(
    conn: Conn,
    client_id: str,
    *,
    provider: str,
    provider_message_id: str,
    state: DeliveryState,
    at: datetime,
    error_code: str | None,
    error_detail: str | None,
    callback_data: str | None,
) -> dict[str, Any] | None:
    """Move an outbound message forward through sent, delivered, read; failed is terminal.

    Status webhooks arrive out of order and duplicated: a state never moves back. A
    `callback_data` that names our row reconciles a send whose answer we never saw.
    """
    if callback_data and callback_data.isdigit():
        await conn.execute(
            """UPDATE chat_messages SET provider_message_id = $4, updated_at = now()
               WHERE client_id = $1 AND id = $2 AND direction = 'out' AND provider = $3
                 AND provider_message_id IS NULL""",
            client_id,
            int(callback_data),
            provider,
            provider_message_id,
        )
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM chat_messages WHERE client_id = $1 AND provider = $2"
        " AND provider_message_id = $3 AND direction = 'out' FOR UPDATE",
        client_id,
        provider,
        provider_message_id,
    )
    if row is None:
        return None
    current = row["status"]
    new = state.value
    if current in ("failed", "dropped"):
        return None
    if new == "failed":
        await conn.execute(
            """UPDATE chat_messages SET status = 'failed', error_code = $3, error_detail = $4,
                 failed_at = $5, updated_at = now() WHERE client_id = $1 AND id = $2""",
            client_id,
            row["id"],
            error_code,
            error_detail,
            at,
        )
        return dict(row) | {"status": "failed"}
    if _RANK.get(new, -1) <= _RANK.get(current, -1):
        return None
    column = {"sent": "sent_at", "delivered": "delivered_at", "read": "read_at"}.get(new)
    stamp = f", {column} = coalesce({column}, $4)" if column else ""
    await conn.execute(
        f"UPDATE chat_messages SET status = $3{stamp}, updated_at = now()"
        " WHERE client_id = $1 AND id = $2",
        client_id,
        row["id"],
        new,
        *([at] if column else []),
    )
    return dict(row) | {"status": new}


async def stale_pending(conn: Conn, older_than_s: float, limit: int = 200) -> list[dict[str, Any]]:
    """Outbox rows nobody published or sent (a publish lost after commit), across tenants.

    Oldest first, along the partial index on `updated_at` of pending outbound rows.

    Operational sweep: each row still carries its tenant and every later query is scoped.
    """
    rows = await conn.fetch(
        """SELECT id, client_id, conversation_id, role, burst_id,
                  coalesce(payload->>'origin', 'bot') AS origin FROM chat_messages
           WHERE direction = 'out' AND status = 'pending'
             AND updated_at < now() - make_interval(secs => $1)
           ORDER BY updated_at LIMIT $2""",
        older_than_s,
        limit,
    )
    return [dict(r) for r in rows]


_M_COLUMNS = ", ".join(f"m.{c.strip()}" for c in _COLUMNS.split(","))


_FINAL = "('sent', 'delivered', 'read', 'played', 'failed', 'dropped')"


async def send_context(
    conn: Conn,
    client_id: str,
    first_id: int,
    conversation_id: str,
    *,
    claim_first: bool = False,
    bot_origin: bool = True,
) -> tuple[list[dict[str, Any]], dict[str, Any] | None, dict[str, Any] | None, int | None]:
    """One statement for a send: (outbound group, conversation, last customer message, claimed).

    The conversation carries `id`, `contact_phone`, `contact_key`; the last customer
    message `provider`, `provider_instance_id`, `provider_message_id` (None if none).
    With `claim_first`, row `first_id` is also claimed (pending -> sending, committed with
    the statement) when it is the group's next row to send and, for a bot-written
    message, the conversation is the bot's and the bot is on; `claimed` is then its id
    and its group row is the claimed one. Every other case is left to `claim_for_send`.
    """
    rows = await conn.fetch(
        f"""WITH claimed AS (
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
            SELECT {_M_COLUMNS}, a.id AS conv_id, a.contact_phone AS conv_contact_phone,
                   a.contact_key AS conv_contact_key, li.provider AS last_in_provider,
                   li.provider_instance_id AS last_in_instance_id,
                   li.provider_message_id AS last_in_message_id,
                   cl.id AS claimed_id, cl.attempts AS claimed_attempts,
                   cl.updated_at AS claimed_updated_at
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
        client_id,
        first_id,
        conversation_id,
        claim_first,
        bot_origin,
    )
    if not rows:
        return [], None, None, None
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
    extra = ("conv_", "last_in_", "claimed_")
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
    return group, conv, last_in, claimed


async def claim_for_bot_send(
    conn: Conn, client_id: str, message_id: int, conversation_id: str
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
        client_id,
        message_id,
        conversation_id,
    )
    return dict(row) if row else None


async def mark_sent_recorded(
    conn: Conn,
    client_id: str,
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
    """`mark_sent`, the conversation's `record_outbound` and the event, as one statement."""
    await conn.execute(
        """WITH s AS (
             UPDATE chat_messages SET status = CASE WHEN status IN ('pending', 'sending')
                                                    THEN 'sent' ELSE status END,
               provider_message_id = coalesce(provider_message_id, $3),
               sent_at = coalesce(sent_at, now()), updated_at = now()
             WHERE client_id IS NOT DISTINCT FROM $1 AND id = $2 RETURNING id
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
           INSERT INTO conversation_events
             (client_id, conversation_id, event_type, data, correlation_id, created_at)
           VALUES ($1, $4, $7, $8::jsonb, $9, now())""",
        client_id,
        message_id,
        provider_message_id,
        conversation_id,
        at,
        role,
        event_type,
        event_data,
        correlation_id,
    )


async def burst_with_history(
    conn: Conn,
    client_id: str,
    conversation_id: str,
    *,
    up_to_id: int,
    since: datetime | None,
    history_since: datetime | None,
    history_limit: int,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The customer messages not answered yet (up to `up_to_id`) and the history before them.

    A reply answers the messages of its burst (up to the burst's last message), not
    everything stored before the reply: a message that arrived while the reply was
    being written stays unanswered. A human's message answers everything before it.
    """
    rows = await conn.fetch(
        f"""WITH burst AS ({_UNANSWERED}), hist AS (
              SELECT {_COLUMNS} FROM chat_messages
              WHERE client_id IS NOT DISTINCT FROM $1 AND conversation_id = $2
                AND ($5::timestamptz IS NULL OR created_at >= $5)
                AND id < (SELECT min(id) FROM burst)
                AND status NOT IN ('failed', 'dropped')
              ORDER BY id DESC LIMIT $6)
            SELECT true AS in_burst, * FROM burst UNION ALL SELECT false, * FROM hist
            ORDER BY in_burst, id""",
        client_id,
        conversation_id,
        up_to_id,
        since,
        history_since,
        history_limit,
    )
    burst: list[dict[str, Any]] = []
    history: list[dict[str, Any]] = []
    for r in rows:
        data = dict(r)
        (burst if data.pop("in_burst") else history).append(data)
    return burst, history


_MSG_COLUMNS = tuple(c.strip() for c in _COLUMNS.split(","))
_AS_M = ", ".join(f"{c} AS m_{c}" for c in _MSG_COLUMNS)
_NULL_CONTEXT = ", ".join(f"NULL AS {c}" for c in _conv_repo.BURST_CONTEXT_COLUMNS)
_NULL_MESSAGE = ", ".join(f"NULL AS m_{c}" for c in _MSG_COLUMNS)


async def burst_context_with_history(
    conn: Conn,
    client_id: str,
    conversation_id: str,
    reply_key: str,
    *,
    up_to_id: int,
    history_since: datetime,
    history_limit: int,
) -> tuple[_conv_repo.BurstContext | None, list[dict[str, Any]], list[dict[str, Any]]]:
    """`conversations.burst_context` and `burst_with_history` in one round trip.

    For a caller that knows the tenant's history window before reading the tenant:
    (context or None, burst rows, history rows), where the burst counts from the
    conversation's `context_reset_at` and the history from the later of `history_since`
    and it, as `burst_with_history` is called with them. The context row comes first
    (message columns NULL), then the message rows (context columns NULL).
    """
    rows = await conn.fetch(
        f"""WITH ctx AS ({_conv_repo.BURST_CONTEXT_SQL}),
            burst AS ({_unanswered("$4", "(SELECT context_reset_at FROM ctx)")}),
            hist AS (
              SELECT {_COLUMNS} FROM chat_messages
              WHERE client_id IS NOT DISTINCT FROM $1 AND conversation_id = $2
                AND created_at >= (SELECT greatest($5::timestamptz, context_reset_at) FROM ctx)
                AND id < (SELECT min(id) FROM burst)
                AND status NOT IN ('failed', 'dropped')
              ORDER BY id DESC LIMIT $6)
            SELECT 0 AS part, ctx.*, {_NULL_MESSAGE} FROM ctx
            UNION ALL SELECT 1, {_NULL_CONTEXT}, {_AS_M} FROM burst
            UNION ALL SELECT 2, {_NULL_CONTEXT}, {_AS_M} FROM hist
            ORDER BY part, m_id""",
        client_id,
        conversation_id,
        reply_key,
        up_to_id,
        history_since,
        history_limit,
    )
    if not rows or rows[0]["part"] != 0:
        return None, [], []
    head = dict(rows[0])
    context = _conv_repo.split_burst_context({c: head[c] for c in _conv_repo.BURST_CONTEXT_COLUMNS})
    burst: list[dict[str, Any]] = []
    history: list[dict[str, Any]] = []
    for r in rows[1:]:
        (burst if r["part"] == 1 else history).append({c: r[f"m_{c}"] for c in _MSG_COLUMNS})
    return context, burst, history


_C_COLUMNS = ", ".join(f"c.{c.strip()}" for c in _CONV_COLUMNS.split(","))


async def store_inbound_in_conversation(
    conn: Conn,
    msg: InboundMessage,
    *,
    buffer_if_bot: bool,
    burst_on_store: bool,
    events: bool,
    correlation_id: str | None,
) -> tuple[dict[str, Any], bool, int | None, str]:
    """`upsert_for_message`, `store_inbound` and their events in one statement.

    Returns (conversation, created, stored id or None for a duplicate, stored status).
    The message is stored `buffered` when `buffer_if_bot` and the conversation, as the
    upsert left it (row-locked), is the bot's; `received` otherwise. With
    `burst_on_store` a buffered row carries its own one-message burst id at once
    (`burst_id_for` of the debounce: the first 32 hex digits of the SHA-256 of
    "tenant|conversation|id"). With `events`, a stored message appends
    `conversation_started` (when the conversation was created) and `msg_received`, as
    `pipeline.process_inbound` would through the event log, in the same statement.
    """
    stored = await _store_inbound(
        conn,
        msg,
        buffer_if_bot=buffer_if_bot,
        burst_on_store=burst_on_store,
        events=events,
        correlation_id=correlation_id,
        plain_only=False,
    )
    assert stored is not None
    return stored


async def store_plain_inbound(
    conn: Conn, msg: InboundMessage, *, burst_on_store: bool, correlation_id: str | None
) -> tuple[dict[str, Any], bool, int | None, str] | None:
    """`store_inbound_in_conversation` (buffered if the bot's, with its events) when that is all.

    "All" is for the conversation to decide: a new one, or one that is the bot's with no
    follow-up to reset (`followups.followup_pending`). For any other conversation the
    statement changes nothing (the upsert's update is skipped, so nothing is inserted
    either) and returns None: the caller takes its full path in a transaction. Otherwise
    it is a whole message on its own: no transaction needed around it.
    """
    return await _store_inbound(
        conn,
        msg,
        buffer_if_bot=True,
        burst_on_store=burst_on_store,
        events=True,
        correlation_id=correlation_id,
        plain_only=True,
    )


async def _store_inbound(
    conn: Conn,
    msg: InboundMessage,
    *,
    buffer_if_bot: bool,
    burst_on_store: bool,
    events: bool,
    correlation_id: str | None,
    plain_only: bool,
) -> tuple[dict[str, Any], bool, int | None, str] | None:
    customer_at = msg.sent_at if msg.sender.value == "customer" else None
    human_at = msg.sent_at if msg.sender.value == "human" else None
    row = await conn.fetchrow(
        f"""WITH c AS (
              INSERT INTO active_conversations AS c
                (client_id, contact_key, contact_phone, contact_name, provider,
                 provider_instance_id, last_message_at, last_customer_message_at,
                 last_human_message_at, last_role)
              VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
              ON CONFLICT (client_id, contact_key) DO UPDATE SET
                {_CONV_UPSERT_SET}
              WHERE NOT $24::bool OR (c.state = 'bot' AND c.followup_stage = 0
                AND c.followup_due_at IS NULL AND NOT c.attributes ? 'last_followup_at')
              RETURNING {_C_COLUMNS}, (xmax = 0) AS created
            ), n AS (
              SELECT c.id AS conversation_id, nextval('chat_messages_id_seq') AS id,
                     ($18::bool AND c.state = 'bot') AS buffered
              FROM c
            ), m AS (
              INSERT INTO chat_messages
                (id, client_id, conversation_id, direction, role, provider, provider_instance_id,
                 provider_message_id, kind, content, media, payload, raw, status, burst_id,
                 reply_to, provider_sent_at)
              SELECT n.id, $1, n.conversation_id, 'in', $10, $5, $6, $11, $12, $13, $14, $15,
                     $16, CASE WHEN n.buffered THEN 'buffered' ELSE 'received' END,
                     CASE WHEN n.buffered AND $19::bool THEN left(encode(sha256(convert_to(
                       $1::text || '|' || n.conversation_id::text || '|' || n.id::text, 'UTF8')),
                       'hex'), 32) END,
                     $17, $7
              FROM n
              ON CONFLICT (provider, provider_message_id) DO NOTHING
              RETURNING id, status, conversation_id
            ), e AS (
              INSERT INTO conversation_events
                (client_id, conversation_id, event_type, data, correlation_id, created_at)
              SELECT $1, m.conversation_id, v.event_type, v.data, $21, v.at
              FROM m CROSS JOIN c CROSS JOIN LATERAL (VALUES
                ('conversation_started', $22::jsonb, now(), c.created),
                ('msg_received', $23::jsonb, $7::timestamptz, true)) v(event_type, data, at, keep)
              WHERE $20::bool AND v.keep
            )
            SELECT c.*, m.id AS stored_id, m.status AS stored_status FROM c LEFT JOIN m ON true""",
        msg.tenant_id,
        msg.contact.key,
        msg.contact.phone,
        msg.contact.name,
        msg.provider.value,
        msg.instance_id,
        msg.sent_at,
        customer_at,
        human_at,
        msg.sender.value,
        msg.provider_message_id,
        msg.kind.value,
        msg.text,
        msg.media.model_dump(exclude_none=True) if msg.media else None,
        {
            "attributes": msg.attributes,
            "contact": msg.contact.model_dump(),
            "is_group": msg.is_group,
        },
        msg.raw,
        msg.reply_to,
        buffer_if_bot,
        burst_on_store,
        events,
        correlation_id,
        {"provider": msg.provider.value},
        {"provider": msg.provider.value, "kind": msg.kind.value, "role": msg.sender.value},
        plain_only,
    )
    if row is None:
        return None
    conv = dict(row)
    created = bool(conv.pop("created"))
    stored = conv.pop("stored_id")
    status = str(conv.pop("stored_status") or "")
    return conv, created, int(stored) if stored is not None else None, status
