"""SQL about conversations (`active_conversations`): upserts and reads.

State transitions (handover, resume, opt-out, ...) live in `wacommon.conversation.state`.

The hot-path statements here and in `inbound`/`outbox` find their rows by key (the row's id, the
conversation, an idempotency key) and check the tenant with `client_id IS NOT DISTINCT
FROM $1`: the same rows as `client_id = $1` (the column is NOT NULL), but never an index
condition. Without column statistics (a new database, autovacuum off or behind)
PostgreSQL rates `client_id = $1` as selective as a key, an index led by `client_id`
wins the tie, and the generic plan cached by a prepared statement while the table was
small then scans every row of the tenant per statement, for as long as the connection
lives (`bench/e2e.py` at 200/s: up to 2,000 rows per statement; PostgreSQL CPU per
message 6.3 ms with `client_id = $1`, 2.4 ms with this). The same goes for a status
check that a partial index's predicate would match (`status IS NOT DISTINCT FROM
'pending'` in the sender's claim). `tests/integration/test_hot_path_sql.py` checks the
plans on a database that was never analyzed.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from wacommon.broker.schemas import Contact
from wacommon.infra.dbtypes import Executor as Conn
from wacommon.infra.textclean import clean_json, clean_text
from wacommon.repositories.clients import COLUMNS as CLIENT_COLUMNS
from wacommon.repositories.event_types import TURN_QUALITY
from wacommon.repositories.events import INSERT_EVENTS

_COLUMNS = (
    "id, client_id, contact_key, contact_phone, contact_name, provider, provider_instance_id,"
    " state, state_since, state_reason, state_until, last_message_at, last_customer_message_at,"
    " last_bot_message_at, last_human_message_at, last_role, context_reset_at, followup_stage,"
    " followup_due_at, attributes, created_at, updated_at"
)
COLUMNS = _COLUMNS


# what a message does to its existing conversation (`upsert_for_message` and
# `inbound.store_inbound_in_conversation`); the table is aliased `c`
UPSERT_SET = """
              contact_phone = coalesce(EXCLUDED.contact_phone, c.contact_phone),
              contact_name = coalesce(EXCLUDED.contact_name, c.contact_name),
              provider = EXCLUDED.provider,
              provider_instance_id = coalesce(EXCLUDED.provider_instance_id, c.provider_instance_id),
              last_message_at = greatest(c.last_message_at, EXCLUDED.last_message_at),
              last_customer_message_at = greatest(c.last_customer_message_at,
                                                  EXCLUDED.last_customer_message_at),
              last_human_message_at = greatest(c.last_human_message_at,
                                               EXCLUDED.last_human_message_at),
              last_role = CASE WHEN EXCLUDED.last_message_at >= coalesce(c.last_message_at, '-infinity')
                               THEN EXCLUDED.last_role ELSE c.last_role END,
              updated_at = now()"""


async def upsert_for_message(
    conn: Conn,
    tenant_id: str,
    contact: Contact,
    *,
    provider: str,
    instance_id: str | None,
    at: datetime,
    role: str,
) -> tuple[dict[str, Any], bool]:
    """The conversation of a tenant with a contact, created on first contact; (row, created)."""
    customer_at = at if role == "customer" else None
    human_at = at if role == "human" else None
    row = await conn.fetchrow(
        f"""INSERT INTO active_conversations AS c
              (client_id, contact_key, contact_phone, contact_name, provider, provider_instance_id,
               last_message_at, last_customer_message_at, last_human_message_at, last_role)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
            ON CONFLICT (client_id, contact_key) DO UPDATE SET {UPSERT_SET}
            RETURNING {_COLUMNS}, (xmax = 0) AS created""",
        tenant_id,
        contact.key,
        contact.phone,
        contact.name,
        provider,
        instance_id,
        at,
        customer_at,
        human_at,
        role,
    )
    assert row is not None
    data = dict(row)
    created = bool(data.pop("created"))
    return data, created


async def get_conversation(
    conn: Conn, tenant_id: str, conversation_id: str
) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM active_conversations WHERE client_id = $1 AND id = $2",
        tenant_id,
        conversation_id,
    )
    return dict(row) if row else None


async def list_conversations(
    conn: Conn,
    tenant_id: str,
    *,
    contact: str | None = None,
    state: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM active_conversations
            WHERE client_id = $1 AND ($2::text IS NULL OR contact_key = $2 OR contact_phone = $2)
              AND ($3::text IS NULL OR state = $3)
            ORDER BY last_message_at DESC NULLS LAST, id LIMIT $4 OFFSET $5""",
        tenant_id,
        contact,
        state,
        limit,
        offset,
    )
    return [dict(r) for r in rows]


async def record_outbound(
    conn: Conn, tenant_id: str, conversation_id: str, *, role: str, at: datetime
) -> None:
    """A message of ours (bot or operator) reached the customer."""
    await conn.execute(
        """UPDATE active_conversations SET
             last_message_at = greatest(last_message_at, $3),
             last_bot_message_at = CASE WHEN $4 = 'bot' THEN greatest(last_bot_message_at, $3)
                                        ELSE last_bot_message_at END,
             last_human_message_at = CASE WHEN $4 = 'human' THEN greatest(last_human_message_at, $3)
                                          ELSE last_human_message_at END,
             last_role = CASE WHEN $3 >= coalesce(last_message_at, '-infinity') THEN $4
                              ELSE last_role END,
             updated_at = now()
           WHERE client_id = $1 AND id = $2""",
        tenant_id,
        conversation_id,
        at,
        role,
    )


_A_COLUMNS = ", ".join(f"a.{c.strip()}" for c in _COLUMNS.split(","))
# the columns of `clients_repo.get_client`, prefixed in the joined row
_CLIENT_COLUMNS = tuple(c.strip() for c in CLIENT_COLUMNS.split(","))


_CONTEXT_CLIENT_COLUMNS = ", ".join(f"c.{c} AS cl_{c}" for c in _CLIENT_COLUMNS)
# what `burst_context` reads ($1 tenant, $2 conversation, $3 the reply's idempotency key);
# `split_burst_context` takes its row apart
BURST_CONTEXT_SQL = f"""SELECT {_A_COLUMNS}, {_CONTEXT_CLIENT_COLUMNS},
                   a.state_until AS gate_state_until,
                   now() AS gate_now, r.id AS reply_id, r.payload AS reply_payload
            FROM active_conversations a JOIN clients c ON c.id = $1
            LEFT JOIN chat_messages r ON r.client_id IS NOT DISTINCT FROM $1
              AND r.idempotency_key = $3
            WHERE a.client_id IS NOT DISTINCT FROM $1 AND a.id = $2"""
BURST_CONTEXT_COLUMNS = (
    *(c.strip() for c in _COLUMNS.split(",")),
    *(f"cl_{c}" for c in _CLIENT_COLUMNS),
    "gate_state_until",
    "gate_now",
    "reply_id",
    "reply_payload",
)

BurstContext = tuple[dict[str, Any], dict[str, Any], dict[str, Any] | None, dict[str, Any]]


async def burst_context(
    conn: Conn, tenant_id: str, conversation_id: str, reply_key: str
) -> BurstContext | None:
    """One round trip for a burst: (client, conversation, existing reply, bot gate) or None.

    The existing reply is the outbox row with idempotency key `reply_key` (`id`,
    `payload`); the bot gate is the row `bot_gate.bot_may_reply` reads.
    """
    row = await conn.fetchrow(BURST_CONTEXT_SQL, tenant_id, conversation_id, reply_key)
    return split_burst_context(dict(row)) if row is not None else None


def split_burst_context(data: dict[str, Any]) -> BurstContext:
    """(client, conversation, existing reply, bot gate) of a `BURST_CONTEXT_SQL` row."""
    client = {c: data.pop(f"cl_{c}") for c in _CLIENT_COLUMNS}
    reply_id, reply_payload = data.pop("reply_id"), data.pop("reply_payload")
    gate = {
        "state": data["state"],
        "state_until": data.pop("gate_state_until"),
        "bot_active": client["bot_active"],
        "now": data.pop("gate_now"),
    }
    existing = {"id": reply_id, "payload": reply_payload} if reply_id is not None else None
    return client, data, existing, gate


async def lock_and_queue_reply(
    conn: Conn,
    tenant_id: str,
    conversation_id: str,
    *,
    after_id: int,
    overdue: bool,
    bubbles: list[tuple[str, str]],
    burst_id: str,
    payload: dict[str, Any],
    event: tuple[str, dict[str, Any]],
    drop_event_type: str,
    correlation_id: str | None,
    followup_delays_s: list[float] | None = None,
    followup_from: datetime | None = None,
    shapes: list[tuple[str, dict[str, Any]]] | None = None,
    quality: dict[str, Any] | None = None,
) -> tuple[dict[str, Any] | None, str | None, list[int]]:
    """Lock the conversation for a reply, queue the reply's outbox rows and its event: one statement.

    Row-locks the conversation (hold the transaction for what follows). The reply is
    dropped when the conversation is not the bot's (`state_<state>`) or, unless
    `overdue`, a customer message newer than `after_id` exists (`stale`); otherwise each
    (content, idempotency key) of `bubbles` is queued in order, existing keys skipped.
    `event` (type, data) is appended when the reply is queued, `drop_event_type`
    ({why, stage: generated}) when it is dropped.
    With `followup_delays_s` (the delay of each stage of an active follow-up plan, [] for
    none) a queued reply also does what `followups.schedule_followup` does with the
    locked row: `followup_due_at` becomes `followup_from` + the delay of the stage after
    `followup_stage`, or NULL when the plan has no such stage (written only when it
    changes something). The statement is then a whole reply on its own, needing no
    transaction around it.
    `shapes`, parallel to `bubbles`, gives each row's kind and what its payload adds to
    `payload` (an interactive message, a reaction); without it every row is text.
    `quality`, the turn's `turn_quality` data, is appended with the outcome's event; a
    dropped reply's gets `silent` (why nothing was sent) and no handover.
    Returns (the locked conversation or None, why it was dropped, ids of the new rows
    in bubble order).
    """
    row = await conn.fetchrow(
        f"""WITH a AS (
              SELECT {_COLUMNS}, EXISTS (
                  SELECT 1 FROM chat_messages m WHERE m.client_id IS NOT DISTINCT FROM $1
                    AND m.conversation_id = $2 AND m.direction = 'in' AND m.role = 'customer'
                    AND m.id > $3
                ) AS newer_customer_message
              FROM active_conversations WHERE client_id IS NOT DISTINCT FROM $1 AND id = $2
              FOR UPDATE
            ), ok AS (
              SELECT a.*, CASE WHEN a.state <> 'bot' THEN 'state_' || a.state
                               WHEN NOT $4::bool AND a.newer_customer_message THEN 'stale'
                          END AS why
              FROM a
            ), ins AS (
              INSERT INTO chat_messages
                (client_id, conversation_id, direction, role, provider, provider_instance_id,
                 kind, content, payload, status, idempotency_key, burst_id)
              SELECT $1, ok.id, 'out', 'bot', ok.provider, ok.provider_instance_id,
                     coalesce(b.kind, 'text'), b.content,
                     $8::jsonb || coalesce(b.extra::jsonb, '{{}}'::jsonb), 'pending', b.key, $7
              FROM ok CROSS JOIN unnest($5::text[], $6::text[], $15::text[], $16::text[])
                   WITH ORDINALITY AS b(content, key, kind, extra, n)
              WHERE ok.why IS NULL
              ORDER BY b.n
              ON CONFLICT (idempotency_key) DO NOTHING
              RETURNING id, idempotency_key
            ), ev AS (
              {INSERT_EVENTS}
              SELECT $1, ok.id, CASE WHEN ok.why IS NULL THEN $9 ELSE $11 END,
                     CASE WHEN ok.why IS NULL THEN $10::jsonb
                          ELSE jsonb_build_object('why', ok.why, 'stage', 'generated') END,
                     $12, now()
              FROM ok
              UNION ALL
              SELECT $1, ok.id, '{TURN_QUALITY}',
                     CASE WHEN ok.why IS NULL THEN $17::jsonb
                          ELSE $17::jsonb || jsonb_build_object('handover', NULL, 'silent',
                               CASE ok.why WHEN 'stale' THEN 'stale'
                                           WHEN 'state_human' THEN 'handed_over'
                                           WHEN 'state_opted_out' THEN 'opted_out'
                                           ELSE 'other' END) END,
                     $12, now()
              FROM ok WHERE $17::jsonb IS NOT NULL
            ), due AS (
              SELECT ok.id, CASE WHEN coalesce(ok.followup_stage, 0) >= 0
                                  AND coalesce(ok.followup_stage, 0) < cardinality($13::float8[])
                            THEN $14::timestamptz + make_interval(
                              secs => ($13::float8[])[coalesce(ok.followup_stage, 0) + 1]) END AS at,
                     ok.followup_due_at AS was
              FROM ok WHERE $13::float8[] IS NOT NULL AND ok.why IS NULL AND ok.state = 'bot'
                AND cardinality($5::text[]) > 0
            ), fu AS (
              UPDATE active_conversations SET followup_due_at = due.at, updated_at = now()
              FROM due WHERE client_id IS NOT DISTINCT FROM $1 AND active_conversations.id = due.id
                AND (due.at IS NOT NULL OR due.was IS NOT NULL)
            )
            SELECT ok.*, (SELECT coalesce(array_agg(ins.id ORDER BY array_position($6::text[],
                                  ins.idempotency_key)), '{{}}') FROM ins) AS new_ids
            FROM ok""",
        tenant_id,
        conversation_id,
        after_id,
        overdue,
        # model text: cleaned of what PostgreSQL refuses rather than failing the reply
        [clean_text(content) for content, _ in bubbles],
        [key for _, key in bubbles],
        burst_id,
        clean_json(payload),
        event[0],
        event[1],
        drop_event_type,
        correlation_id,
        followup_delays_s,
        followup_from,
        [kind for kind, _ in shapes] if shapes else None,
        # model text too (a choice's title, an emoji): cleaned like the content
        [json.dumps(clean_json(extra)) for _, extra in shapes] if shapes else None,
        clean_json(quality) if quality is not None else None,
    )
    if row is None:
        return None, None, []
    conv = dict(row)
    why = conv.pop("why")
    new_ids = [int(i) for i in conv.pop("new_ids")]
    return conv, why, new_ids
