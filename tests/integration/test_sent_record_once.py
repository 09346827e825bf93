"""A send's record writes its `msg_sent` event once, however often the record is repeated."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import asyncpg

from wacommon.repositories import outbox as outbox_repo

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


async def outbound_row(pool: asyncpg.Pool, status: str = "sending") -> tuple[str, str, int]:
    tenant = str(await pool.fetchval("INSERT INTO clients (name) VALUES ('Loja') RETURNING id"))
    conv = str(
        await pool.fetchval(
            "INSERT INTO active_conversations (client_id, contact_key, provider, last_role)"
            " VALUES ($1, $2, 'uazapi', 'customer') RETURNING id",
            tenant,
            uuid.uuid4().hex,
        )
    )
    row = await pool.fetchval(
        "INSERT INTO chat_messages (client_id, conversation_id, direction, role, provider,"
        " content, status) VALUES ($1, $2, 'out', 'bot', 'uazapi', 'Oi!', $3) RETURNING id",
        tenant,
        conv,
        status,
    )
    return tenant, conv, int(row)


async def record(pool: asyncpg.Pool, tenant: str, conv: str, row: int) -> None:
    async with pool.acquire() as conn:
        await outbox_repo.mark_sent_recorded(
            conn,
            tenant,
            row,
            f"prov-{row}",
            conversation_id=conv,
            role="bot",
            at=NOW,
            event_type="msg_sent",
            event_data={"provider": "uazapi"},
            correlation_id="c",
        )


async def sent_events(pool: asyncpg.Pool, tenant: str) -> int:
    return int(
        await pool.fetchval(
            "SELECT count(*) FROM conversation_events WHERE client_id = $1"
            " AND event_type = 'msg_sent'",
            tenant,
        )
    )


async def test_a_record_repeated_after_its_commit_counts_the_send_once(
    pool: asyncpg.Pool,
) -> None:
    tenant, conv, row = await outbound_row(pool)
    await record(pool, tenant, conv, row)
    # the sender saw no answer from the commit (statement timeout, cut connection) and retries
    await record(pool, tenant, conv, row)
    assert await sent_events(pool, tenant) == 1
    status = await pool.fetchval("SELECT status FROM chat_messages WHERE id = $1", row)
    assert status == "sent"


async def test_concurrent_records_of_one_send_count_it_once(pool: asyncpg.Pool) -> None:
    tenant, conv, row = await outbound_row(pool)
    await asyncio.gather(*(record(pool, tenant, conv, row) for _ in range(4)))
    assert await sent_events(pool, tenant) == 1


async def test_an_echo_that_counted_an_unknown_send_is_not_counted_again(
    pool: asyncpg.Pool,
) -> None:
    tenant, conv, row = await outbound_row(pool, status="unknown")
    async with pool.acquire() as conn:
        echoed = await outbox_repo.reconcile_own_echo(conn, tenant, "uazapi", row, f"echo-{row}")
    assert echoed is not None and echoed["was"] == "unknown"
    # the caller wrote msg_sent for it (lancepilot_ingest.handlers); simulate that row
    await pool.execute(
        "INSERT INTO conversation_events (client_id, conversation_id, event_type, data)"
        " VALUES ($1, $2, 'msg_sent', '{}')",
        tenant,
        conv,
    )
    await record(pool, tenant, conv, row)
    assert await sent_events(pool, tenant) == 1


async def test_a_sending_row_echoed_first_is_counted_by_the_senders_record(
    pool: asyncpg.Pool,
) -> None:
    tenant, conv, row = await outbound_row(pool)
    async with pool.acquire() as conn:
        echoed = await outbox_repo.reconcile_own_echo(conn, tenant, "uazapi", row, f"echo-{row}")
    assert echoed is not None and echoed["was"] == "sending"
    await record(pool, tenant, conv, row)
    assert await sent_events(pool, tenant) == 1
