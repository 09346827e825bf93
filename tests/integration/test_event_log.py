"""The event-log writer: one call appends a row; buffered appends survive a clean shutdown."""

from __future__ import annotations

import asyncpg

from wacommon.events import BufferedEventLog, PgEventLog
from wacommon.repositories.clients import create_client


async def test_append_inside_a_transaction_commits_or_rolls_back_with_it(
    pool: asyncpg.Pool,
) -> None:
    client = await create_client(pool, {"name": "Eventos"})
    cid = str(client["id"])
    log = PgEventLog(pool)
    async with pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        await log.append(cid, "msg_received", {"provider": "meta"}, conn=conn, correlation_id="c1")
        await tx.rollback()
        async with conn.transaction():
            await log.append(
                cid, "msg_received", {"provider": "meta"}, conn=conn, correlation_id="c2"
            )
    rows = await pool.fetch(
        "SELECT correlation_id, data FROM conversation_events WHERE client_id = $1", cid
    )
    assert [(r["correlation_id"], r["data"]) for r in rows] == [("c2", {"provider": "meta"})]


async def test_buffered_appends_are_flushed_on_close(pool: asyncpg.Pool) -> None:
    client = await create_client(pool, {"name": "Buffer"})
    cid = str(client["id"])
    log = BufferedEventLog(pool, interval=60.0)  # nothing flushes on its own during the test
    for i in range(250):
        await log.append(cid, "tool_used", {"tool": "lookup_cep", "i": i})
    assert (
        await pool.fetchval("SELECT count(*) FROM conversation_events WHERE client_id = $1", cid)
        == 0
    )
    await log.close()
    assert (
        await pool.fetchval("SELECT count(*) FROM conversation_events WHERE client_id = $1", cid)
        == 250
    )
