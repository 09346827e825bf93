"""SQL about messages (`chat_messages`): rows in and out, history, delivery state.

The outbox's claim and record statements are in `outbox`, the inbound path's combined
statements (message with its conversation, burst with its history) in `inbound`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from wacommon.broker.schemas import DeliveryState, InboundMessage
from wacommon.infra.dbtypes import Executor as Conn
from wacommon.infra.textclean import clean_json, clean_text

COLUMNS = (
    "id, client_id, conversation_id, direction, role, provider, provider_instance_id,"
    " provider_message_id, kind, content, media, payload, status, error_code, error_detail,"
    " reply_to, idempotency_key, burst_id, attempts, sent_at, delivered_at, read_at, failed_at,"
    " provider_sent_at, created_at, updated_at"
)
# forward-only delivery states; failed is terminal
_RANK = {"pending": 0, "sending": 1, "sent": 2, "delivered": 3, "read": 4, "played": 5}


def inbound_payload(msg: InboundMessage) -> dict[str, Any]:
    """The `payload` an inbound row keeps: provider attributes, the contact, group or not."""
    return {
        "attributes": msg.attributes,
        "contact": msg.contact.model_dump(),
        "is_group": msg.is_group,
    }


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
        inbound_payload(msg),
        msg.raw,
        status,
        msg.reply_to,
        msg.sent_at,
    )
    return int(value) if value is not None else None


async def insert_outbound(
    conn: Conn,
    tenant_id: str,
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
    """Queue an outbound message (the outbox row); None when the idempotency key exists.

    `content` and `payload` may carry model or customer text: cleaned of what
    PostgreSQL refuses (U+0000, lone surrogates) rather than failing the reply."""
    content, payload = clean_text(content), clean_json(payload)
    value = await conn.fetchval(
        """INSERT INTO chat_messages
             (client_id, conversation_id, direction, role, provider, provider_instance_id, kind,
              content, payload, status, idempotency_key, burst_id, reply_to)
           VALUES ($1, $2, 'out', $3, $4, $5, $6, $7, $8, 'pending', $9, $10, $11)
           ON CONFLICT (idempotency_key) DO NOTHING RETURNING id""",
        tenant_id,
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


async def get_message(conn: Conn, tenant_id: str, message_id: int) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        f"SELECT {COLUMNS} FROM chat_messages WHERE client_id = $1 AND id = $2",
        tenant_id,
        message_id,
    )
    return dict(row) if row else None


async def get_by_idempotency_key(conn: Conn, tenant_id: str, key: str) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        f"SELECT {COLUMNS} FROM chat_messages WHERE client_id = $1 AND idempotency_key = $2",
        tenant_id,
        key,
    )
    return dict(row) if row else None


async def messages_by_ids(conn: Conn, tenant_id: str, ids: list[int]) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        f"SELECT {COLUMNS} FROM chat_messages WHERE client_id = $1 AND id = ANY($2::bigint[])"
        " ORDER BY provider_sent_at, id",
        tenant_id,
        ids,
    )
    return [dict(r) for r in rows]


async def conversation_history(
    conn: Conn,
    tenant_id: str,
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
              SELECT {COLUMNS} FROM chat_messages
              WHERE client_id = $1 AND conversation_id = $2
                AND ($3::timestamptz IS NULL OR created_at >= $3)
                AND ($5::bigint IS NULL OR id < $5)
                AND status NOT IN ('failed', 'dropped')
              ORDER BY id DESC LIMIT $4) t ORDER BY id""",
        tenant_id,
        conversation_id,
        since,
        limit,
        before_id,
    )
    return [dict(r) for r in rows]


def unanswered_sql(up_to: str, since: str) -> str:
    """Customer messages not yet answered, up to id `up_to`, since `since` (SQL
    expressions; $1 tenant, $2 conversation), see burst_with_history."""
    return f"""SELECT {COLUMNS} FROM chat_messages m
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


UNANSWERED = unanswered_sql("$3", "$4::timestamptz")


async def set_inbound_text(
    conn: Conn, tenant_id: str, message_id: int, *, content: str, extra: dict[str, Any]
) -> None:
    """Store what media processing produced (transcript, description) on the message."""
    content, extra = clean_text(content), clean_json(extra)
    await conn.execute(
        """UPDATE chat_messages SET content = $3, payload = payload || $4::jsonb, updated_at = now()
           WHERE client_id = $1 AND id = $2""",
        tenant_id,
        message_id,
        content,
        extra,
    )


async def apply_status(
    conn: Conn,
    tenant_id: str,
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
            tenant_id,
            int(callback_data),
            provider,
            provider_message_id,
        )
    row = await conn.fetchrow(
        f"SELECT {COLUMNS} FROM chat_messages WHERE client_id = $1 AND provider = $2"
        " AND provider_message_id = $3 AND direction = 'out' FOR UPDATE",
        tenant_id,
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
            tenant_id,
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
        tenant_id,
        row["id"],
        new,
        *([at] if column else []),
    )
    return dict(row) | {"status": new}
