"""SQL of the inbound path: a message stored with its conversation in one statement, and a
burst read back with the history the model sees.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from wacommon.broker.schemas import InboundMessage
from wacommon.infra.dbtypes import Executor as Conn
from wacommon.repositories import conversations as conv_repo
from wacommon.repositories.conversations import COLUMNS as _CONV_COLUMNS
from wacommon.repositories.conversations import UPSERT_SET as _CONV_UPSERT_SET
from wacommon.repositories.events import INSERT_EVENTS
from wacommon.repositories.messages import COLUMNS, UNANSWERED, inbound_payload, unanswered_sql


async def burst_with_history(
    conn: Conn,
    tenant_id: str,
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
        f"""WITH burst AS ({UNANSWERED}), hist AS (
              SELECT {COLUMNS} FROM chat_messages
              WHERE client_id IS NOT DISTINCT FROM $1 AND conversation_id = $2
                AND ($5::timestamptz IS NULL OR created_at >= $5)
                AND id < (SELECT min(id) FROM burst)
                AND status NOT IN ('failed', 'dropped')
              ORDER BY id DESC LIMIT $6)
            SELECT true AS in_burst, * FROM burst UNION ALL SELECT false, * FROM hist
            ORDER BY in_burst, id""",
        tenant_id,
        conversation_id,
        up_to_id,
        since,
        history_since,
        history_limit,
    )
    return _split_burst(rows)


# a burst `wa-replay inbound --reanswer` asks for: its messages were answered already, and
# are named rather than found unanswered (`reanswer:<run>:<conversation>`, a key per run)
REANSWER_PREFIX = "reanswer:"


async def named_with_history(
    conn: Conn,
    tenant_id: str,
    conversation_id: str,
    *,
    ids: list[int],
    history_since: datetime | None,
    history_limit: int,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The customer messages `ids` of the conversation, answered or not, and the history before them."""
    rows = await conn.fetch(
        f"""WITH burst AS (
              SELECT {COLUMNS} FROM chat_messages
              WHERE client_id = $1 AND conversation_id = $2 AND id = ANY($3::bigint[])
                AND direction = 'in'), hist AS (
              SELECT {COLUMNS} FROM chat_messages
              WHERE client_id = $1 AND conversation_id = $2
                AND ($4::timestamptz IS NULL OR created_at >= $4)
                AND id < (SELECT min(id) FROM burst)
                AND status NOT IN ('failed', 'dropped')
              ORDER BY id DESC LIMIT $5)
            SELECT true AS in_burst, * FROM burst UNION ALL SELECT false, * FROM hist
            ORDER BY in_burst, id""",
        tenant_id,
        conversation_id,
        ids,
        history_since,
        history_limit,
    )
    return _split_burst(rows)


_MSG_COLUMNS = tuple(c.strip() for c in COLUMNS.split(","))
_AS_M = ", ".join(f"{c} AS m_{c}" for c in _MSG_COLUMNS)
_NULL_CONTEXT = ", ".join(f"NULL AS {c}" for c in conv_repo.BURST_CONTEXT_COLUMNS)
_NULL_MESSAGE = ", ".join(f"NULL AS m_{c}" for c in _MSG_COLUMNS)


async def burst_context_with_history(
    conn: Conn,
    tenant_id: str,
    conversation_id: str,
    reply_key: str,
    *,
    up_to_id: int,
    history_since: datetime,
    history_limit: int,
) -> tuple[conv_repo.BurstContext | None, list[dict[str, Any]], list[dict[str, Any]]]:
    """`conversations.burst_context` and `burst_with_history` in one round trip.

    For a caller that knows the tenant's history window before reading the tenant:
    (context or None, burst rows, history rows), where the burst counts from the
    conversation's `context_reset_at` and the history from the later of `history_since`
    and it, as `burst_with_history` is called with them. The context row comes first
    (message columns NULL), then the message rows (context columns NULL).
    """
    rows = await conn.fetch(
        f"""WITH ctx AS ({conv_repo.BURST_CONTEXT_SQL}),
            burst AS ({unanswered_sql("$4", "(SELECT context_reset_at FROM ctx)")}),
            hist AS (
              SELECT {COLUMNS} FROM chat_messages
              WHERE client_id IS NOT DISTINCT FROM $1 AND conversation_id = $2
                AND created_at >= (SELECT greatest($5::timestamptz, context_reset_at) FROM ctx)
                AND id < (SELECT min(id) FROM burst)
                AND status NOT IN ('failed', 'dropped')
              ORDER BY id DESC LIMIT $6)
            SELECT 0 AS part, ctx.*, {_NULL_MESSAGE} FROM ctx
            UNION ALL SELECT 1, {_NULL_CONTEXT}, {_AS_M} FROM burst
            UNION ALL SELECT 2, {_NULL_CONTEXT}, {_AS_M} FROM hist
            ORDER BY part, m_id""",
        tenant_id,
        conversation_id,
        reply_key,
        up_to_id,
        history_since,
        history_limit,
    )
    if not rows or rows[0]["part"] != 0:
        return None, [], []
    head = dict(rows[0])
    context = conv_repo.split_burst_context({c: head[c] for c in conv_repo.BURST_CONTEXT_COLUMNS})
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
    correlation_id: str | None,
) -> tuple[dict[str, Any], bool, int | None, str]:
    """`upsert_for_message`, `store_inbound` and their events in one statement.

    Returns (conversation, created, stored id or None for a duplicate, stored status).
    The message is stored `buffered` when `buffer_if_bot` and the conversation, as the
    upsert left it (row-locked), is the bot's; `received` otherwise. With
    `burst_on_store` a buffered row carries its own one-message burst id at once
    (`burst_id_for` of the debounce: the first 32 hex digits of the SHA-256 of
    "tenant|conversation|id"). A stored message appends `conversation_started` (when the
    conversation was created) and `msg_received` in the same statement.
    """
    stored = await _store_inbound(
        conn,
        msg,
        buffer_if_bot=buffer_if_bot,
        burst_on_store=burst_on_store,
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
        correlation_id=correlation_id,
        plain_only=True,
    )


async def buffered_inbound(
    conn: Conn, tenant_id: str, provider: str, provider_message_id: str
) -> dict[str, Any] | None:
    """A stored inbound message still `buffered` (its id and conversation), else None."""
    row = await conn.fetchrow(
        "SELECT id, conversation_id FROM chat_messages WHERE provider = $1"
        " AND provider_message_id = $2 AND client_id = $3 AND direction = 'in'"
        " AND status = 'buffered'",
        provider,
        provider_message_id,
        tenant_id,
    )
    return dict(row) if row is not None else None


async def record_unrouted(conn: Conn, provider: str, route_key: str | None, body: str) -> None:
    """Keep a webhook no tenant's number matched (`unrouted_webhooks`), for a person to look at."""
    await conn.execute(
        "INSERT INTO unrouted_webhooks (provider, route_key, body) VALUES ($1, $2, $3)",
        provider,
        route_key,
        body,
    )


async def _store_inbound(
    conn: Conn,
    msg: InboundMessage,
    *,
    buffer_if_bot: bool,
    burst_on_store: bool,
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
              WHERE NOT $23::bool OR (c.state = 'bot' AND c.followup_stage = 0
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
              {INSERT_EVENTS}
              SELECT $1, m.conversation_id, v.event_type, v.data, $20, v.at
              FROM m CROSS JOIN c CROSS JOIN LATERAL (VALUES
                ('conversation_started', $21::jsonb, now(), c.created),
                ('msg_received', $22::jsonb, $7::timestamptz, true)) v(event_type, data, at, keep)
              WHERE v.keep
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
        inbound_payload(msg),
        msg.raw,
        msg.reply_to,
        buffer_if_bot,
        burst_on_store,
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


def _split_burst(rows: list[Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(burst, history) of rows tagged `in_burst`, each in id order."""
    burst: list[dict[str, Any]] = []
    history: list[dict[str, Any]] = []
    for r in rows:
        data = dict(r)
        (burst if data.pop("in_burst") else history).append(data)
    return burst, history
