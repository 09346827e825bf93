"""The event-log writer: one call appends a row; buffered appends survive a clean shutdown."""

from __future__ import annotations

from urllib.parse import urlparse

import asyncpg
import pytest
from prometheus_client import REGISTRY

from tests.fakes.tcp_proxy import TcpProxy
from wacommon.infra.db import create_pool
from wacommon.infra.settings import Settings
from wacommon.repositories.clients import create_client
from wacommon.repositories.events import BufferedEventLog, record_event


async def test_append_inside_a_transaction_commits_or_rolls_back_with_it(
    pool: asyncpg.Pool,
) -> None:
    client = await create_client(pool, {"name": "Eventos"})
    cid = str(client["id"])
    async with pool.acquire() as conn:
        for correlation_id, commit in (("c1", False), ("c2", True)):
            tx = conn.transaction()
            await tx.start()
            await record_event(
                conn,
                cid,
                "msg_received",
                {"provider": "meta"},
                conversation_id=None,
                correlation_id=correlation_id,
            )
            await (tx.commit() if commit else tx.rollback())
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


async def _count(pool: asyncpg.Pool, cid: str) -> int:
    return int(
        await pool.fetchval("SELECT count(*) FROM conversation_events WHERE client_id = $1", cid)
    )


async def test_a_refused_row_is_set_aside_and_the_rest_of_its_batch_lands(
    pool: asyncpg.Pool,
) -> None:
    client = await create_client(pool, {"name": "Rejeito"})
    cid = str(client["id"])
    log = BufferedEventLog(pool, interval=60.0)
    rejected_before = _metric("wa_event_log_rejected_total", {"event_type": "tool_used"})
    await log.append(cid, "tool_used", {"i": 1})
    await log.append(cid, "tool_used", {"text": "nul \u0000 inside"})  # jsonb refuses U+0000
    await log.append(cid, "tool_used", {"text": "lone \ud800 surrogate"})  # no UTF-8 for it
    await log.append("not-a-uuid", "tool_used", {"i": 2})  # uuid column refuses it
    await log.append(cid, "tool_used", {"i": 3})
    await log.flush()  # does not raise: the refused rows are not the batch's problem
    assert await _count(pool, cid) == 2
    assert log.pending == 0
    rows = await pool.fetch(
        "SELECT client_id, data, error FROM event_log_rejects"
        " WHERE client_id IN ($1, 'not-a-uuid') ORDER BY id",
        cid,
    )
    assert [r["client_id"] for r in rows] == [cid, cid, "not-a-uuid"]
    assert "\\u0000" in rows[0]["data"] and "\\ud800" in rows[1]["data"]
    assert all(r["error"] for r in rows)
    rejected = _metric("wa_event_log_rejected_total", {"event_type": "tool_used"})
    assert rejected - rejected_before == 3
    # the next flush is not held back by anything left over
    await log.append(cid, "tool_used", {"i": 4})
    await log.close()
    assert await _count(pool, cid) == 3


async def test_buffer_is_capped_while_the_database_is_away_and_overflow_is_counted(
    pool: asyncpg.Pool, settings: Settings
) -> None:
    client = await create_client(pool, {"name": "Fora do ar"})
    cid = str(client["id"])
    target = urlparse(settings.database_url)
    proxy = await TcpProxy(target.hostname or "127.0.0.1", target.port or 5432).start()
    dsn = settings.database_url.replace(
        f"{target.hostname}:{target.port}", f"127.0.0.1:{proxy.port}"
    )
    cut_pool = await create_pool(settings, dsn=dsn, min_size=1, max_size=2)
    log = BufferedEventLog(cut_pool, interval=60.0, max_batch=1000, max_buffer=10)
    dropped_before = _metric("wa_event_log_overflow_total", {})
    try:
        await proxy.cut()
        for i in range(25):
            await log.append(cid, "tool_used", {"i": i})
        with pytest.raises((OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError)):
            await log.flush()
        assert log.pending == 10
        assert _metric("wa_event_log_overflow_total", {}) - dropped_before == 15
        await proxy.restore()
        await log.close()
        # the newest ten are kept (oldest make room): they land once the database is back
        got = await pool.fetch(
            "SELECT (data->>'i')::int AS i FROM conversation_events WHERE client_id = $1"
            " ORDER BY 1",
            cid,
        )
        assert [r["i"] for r in got] == list(range(15, 25))
    finally:
        await proxy.restore()
        await cut_pool.close()
        await proxy.cut()


def _metric(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0
