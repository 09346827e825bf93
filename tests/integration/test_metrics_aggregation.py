"""Every daily metric, written as events through PgEventLog and read back from metrics_daily."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import asyncpg
import pytest
from prometheus_client import REGISTRY

from metrics.aggregate import aggregate_increment, recompute
from metrics.holdback import oldest_open_writer
from metrics.loop import run_once
from metrics.settings import MetricsSettings
from wacommon.infra.db import create_pool
from wacommon.infra.settings import Settings
from wacommon.repositories import event_types as et
from wacommon.repositories.events import PgEventLog, record_event

PRICES = MetricsSettings(_env_file=None).price_map()  # type: ignore[call-arg]
# a day well inside the partitions the migrations create (now +- 3 months)
DAY = datetime.now(UTC).date() - timedelta(days=10)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    """An instant on `day` in UTC."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


async def new_tenant(pool: asyncpg.Pool, tz: str = "UTC") -> str:
    return str(
        await pool.fetchval(
            "INSERT INTO clients (name, timezone) VALUES ($1, $2) RETURNING id",
            f"metrics-{uuid.uuid4().hex[:8]}",
            tz,
        )
    )


async def drain(pool: asyncpg.Pool) -> None:
    """Aggregate until everything committed so far is below the watermark."""
    target = int(await pool.fetchval("SELECT pg_current_xact_id()::text"))
    deadline = time.monotonic() + 30
    while True:
        await aggregate_increment(pool, PRICES)
        hi = int(await pool.fetchval("SELECT xact_hi::text FROM metrics_watermark"))
        if hi >= target:
            return
        assert time.monotonic() < deadline, "watermark did not pass the writes (open transaction?)"
        await asyncio.sleep(0.05)


async def daily(pool: asyncpg.Pool, tenant_id: str) -> dict[date, dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT * FROM metrics_daily WHERE client_id = $1 ORDER BY day", tenant_id
    )
    return {r["day"]: {k: v for k, v in dict(r).items() if k != "updated_at"} for r in rows}


async def test_counts_messages_conversations_resolutions_and_followups(pool: asyncpg.Pool) -> None:
    cid = await new_tenant(pool)
    log = PgEventLog(pool)
    c1, c2 = str(uuid.uuid4()), str(uuid.uuid4())

    async def ev(kind: str, data: dict[str, Any], conv: str | None = c1, h: int = 12) -> None:
        await log.append(cid, kind, data, conversation_id=conv, correlation_id="m1", at=at(DAY, h))

    for conv in (c1, c1, c2):
        await ev(et.MSG_RECEIVED, {"provider": "meta", "kind": "text", "role": "customer"}, conv)
    await ev(et.MSG_RECEIVED, {"provider": "meta", "kind": "text"}, conv=None)
    for role in ("bot", "bot", "followup", "reminder"):
        await ev(et.MSG_SENT, {"provider": "meta", "kind": "text", "role": role})
    for role in ("human", "operator"):
        await ev(et.MSG_SENT, {"provider": "meta", "kind": "text", "role": role})
    await ev(et.HUMAN_RESPONDED, {"provider": "meta"})
    await ev(et.RESOLVED, {"by": "ai", "cause": "done", "duration_ms": 60_000})
    await ev(et.RESOLVED, {"by": "ai", "cause": "done", "duration_ms": 120_000})
    await ev(et.RESOLVED, {"by": "human", "cause": "closed"})
    await ev(et.HUMAN_TAKEOVER, {"cause": "tool"})
    await ev(et.BOT_RESUMED, {"cause": "timeout"})
    for stage in (1, 2, 1):
        await ev(et.FOLLOWUP_SENT, {"stage": stage})
    await ev(et.FOLLOWUP_CONVERTED, {"stage": 1})
    await ev(et.REPLY_DROPPED, {"why": "superseded"})
    await ev(et.OPTED_OUT, {"cause": "#stop"})
    await ev(et.WEBHOOK_EVENT, {"provider": "meta", "field": "account_update"})
    await drain(pool)

    row = (await daily(pool, cid))[DAY]
    assert row["conversations"] == 2
    assert row["messages_in"] == 4
    assert row["messages_out_bot"] == 4
    assert row["messages_out_human"] == 3
    assert (row["resolved_by_ai"], row["resolved_by_human"]) == (2, 1)
    assert (row["resolution_count"], row["resolution_time_sum_ms"]) == (2, 180_000)
    assert row["human_takeovers"] == 1
    assert row["bot_resumptions"] == 1
    assert (row["followups_sent"], row["followups_converted"]) == (3, 1)
    assert row["replies_dropped"] == 1
    assert row["opt_outs"] == 1
    assert row["events"] == 23


async def test_response_time_average_and_p90(pool: asyncpg.Pool) -> None:
    cid = await new_tenant(pool)
    log = PgEventLog(pool)
    for ms in (100, 200, 300, 400, 500, 600, 700, 800, 900, 1000):
        await log.append(
            cid, et.AI_RESPONDED, {"model": "offline", "latency_ms": ms}, at=at(DAY, 9)
        )
    await log.append(cid, et.AI_RESPONDED, {"model": "offline"}, at=at(DAY, 9))
    await drain(pool)
    row = (await daily(pool, cid))[DAY]
    assert row["response_count"] == 10
    assert row["response_time_sum_ms"] == 5500
    assert row["response_time_p90_ms"] == 900

    # latencies above 1 s keep three significant digits
    for ms in [12_345] * 5:
        await log.append(
            cid, et.AI_RESPONDED, {"model": "offline", "latency_ms": ms}, at=at(DAY, 9)
        )
    await drain(pool)
    row = (await daily(pool, cid))[DAY]
    assert row["response_count"] == 15
    assert row["response_time_p90_ms"] == 12_300


async def test_cost_from_tokens_audio_minutes_and_images(pool: asyncpg.Pool) -> None:
    cid = await new_tenant(pool)
    log = PgEventLog(pool)
    when = at(DAY, 15)
    for _ in range(2):
        data = {"model": "gpt-4o-mini", "tokens_in": 1000, "tokens_out": 500, "latency_ms": 800}
        await log.append(cid, et.AI_RESPONDED, data, at=when)
    usage = {"model": "mystery-model", "tokens_in": 2000, "tokens_out": 100, "purpose": "followup"}
    await log.append(cid, et.LLM_USAGE, usage, at=when)
    audio = {"kind": "audio", "seconds": 90, "model": "whisper-1", "ok": True}
    await log.append(cid, et.MEDIA_PROCESSED, audio, at=when)
    image = {"kind": "image", "images": 2, "model": "gemini-2.5-flash", "ok": True}
    await log.append(cid, et.MEDIA_PROCESSED, image, at=when)
    failed = {"kind": "audio", "seconds": 60, "model": "whisper-1", "ok": False}
    await log.append(cid, et.MEDIA_PROCESSED, failed, at=when)
    await drain(pool)

    row = (await daily(pool, cid))[DAY]
    m = Decimal(1_000_000)
    expected = (
        2000 * Decimal("0.15") / m
        + 1000 * Decimal("0.60") / m  # gpt-4o-mini
        + 2000 * Decimal("0.50") / m
        + 100 * Decimal("1.50") / m  # unknown model: "default"
        + 90 * Decimal("0.006") / 60  # whisper-1 per minute
        + 2 * Decimal("0.0000774")  # gemini-2.5-flash per image
    ).quantize(Decimal("0.000001"), ROUND_HALF_UP)
    assert row["cost_usd"] == expected
    assert row["usage"] == {
        "gpt-4o-mini|in": 2000,
        "gpt-4o-mini|out": 1000,
        "mystery-model|in": 2000,
        "mystery-model|out": 100,
        "whisper-1|audio_s": 90,
        "gemini-2.5-flash|images": 2,
    }


async def test_tools_per_tool_and_failed_sends_per_error_code(pool: asyncpg.Pool) -> None:
    cid = await new_tenant(pool)
    log = PgEventLog(pool)
    when = at(DAY, 18)
    for tool, ok in (("cep", True), ("cep", True), ("cep", False), ("calendar", True)):
        await log.append(cid, et.TOOL_USED, {"tool": tool, "ok": ok}, at=when)
    for code in ("131047", "131047", "130429"):
        data = {"provider": "meta", "code": code, "retryable": False}
        await log.append(cid, et.SEND_FAILED, data, at=when)
    await log.append(cid, et.SEND_FAILED, {"provider": "uazapi", "retryable": True}, at=when)
    await drain(pool)
    row = (await daily(pool, cid))[DAY]
    assert row["tools_used"] == {"cep": 3, "calendar": 1}
    assert row["tool_errors"] == {"cep": 1}
    assert row["failed_sends"] == {"131047": 2, "130429": 1, "unknown": 1}


async def test_days_are_the_tenants_local_days(pool: asyncpg.Pool) -> None:
    sao_paulo = await new_tenant(pool, "America/Sao_Paulo")
    tokyo = await new_tenant(pool, "Asia/Tokyo")
    broken = await new_tenant(pool, "Not/AZone")
    log = PgEventLog(pool)
    instant = at(DAY, 2)  # 23:00 the day before in Sao Paulo, 11:00 in Tokyo
    for cid in (sao_paulo, tokyo, broken):
        await log.append(cid, et.MSG_RECEIVED, {"provider": "meta"}, at=instant)
    await drain(pool)
    assert list(await daily(pool, sao_paulo)) == [DAY - timedelta(days=1)]
    assert list(await daily(pool, tokyo)) == [DAY]
    assert list(await daily(pool, broken)) == [DAY]  # unknown zone: UTC


async def test_malformed_event_data_is_skipped_not_fatal(pool: asyncpg.Pool) -> None:
    cid = await new_tenant(pool)
    log = PgEventLog(pool)
    when = at(DAY, 8)
    await log.append(cid, et.AI_RESPONDED, {"latency_ms": "fast", "tokens_in": -5}, at=when)
    await log.append(cid, et.RESOLVED, {"by": "ai", "duration_ms": None}, at=when)
    # too large for a bigint: ignored, not an aborted rollup
    await log.append(cid, et.AI_RESPONDED, {"latency_ms": 1e30, "tokens_out": 1e25}, at=when)
    await log.append(cid, et.MEDIA_PROCESSED, {"seconds": 1e40, "images": "two"}, at=when)
    await log.append(cid, et.TOOL_USED, {}, at=when)
    await log.append(cid, et.MSG_RECEIVED, {"provider": "meta"}, at=when)
    await drain(pool)
    row = (await daily(pool, cid))[DAY]
    assert row["messages_in"] == 1
    assert (row["response_count"], row["resolved_by_ai"], row["resolution_count"]) == (0, 1, 0)
    assert row["tools_used"] == {"unknown": 1}
    assert row["usage"] == {}


async def test_rerun_and_recompute_of_a_day_give_the_same_numbers(pool: asyncpg.Pool) -> None:
    cid = await new_tenant(pool, "America/Sao_Paulo")
    log = PgEventLog(pool)
    for i in range(30):
        conv = str(uuid.uuid4())
        await log.append(
            cid, et.MSG_RECEIVED, {"provider": "meta"}, conversation_id=conv, at=at(DAY, 5 + i % 12)
        )
        await log.append(
            cid,
            et.AI_RESPONDED,
            {"model": "gpt-4o", "tokens_in": 300 + i, "tokens_out": 40, "latency_ms": 700 + 97 * i},
            conversation_id=conv,
            at=at(DAY, 5 + i % 12),
        )
    await drain(pool)
    first = await daily(pool, cid)
    await drain(pool)  # a run with nothing new changes nothing
    assert await daily(pool, cid) == first
    await recompute(pool, PRICES, start=DAY - timedelta(days=1), end=DAY, tenant_id=cid)
    assert await daily(pool, cid) == first
    await recompute(pool, PRICES, start=DAY - timedelta(days=1), end=DAY)
    assert await daily(pool, cid) == first


async def test_writer_open_across_runs_is_counted_once_where_an_id_cursor_skips_it(
    pool: asyncpg.Pool,
) -> None:
    cid = await new_tenant(pool)
    log = PgEventLog(pool)
    slow = await pool.acquire()
    try:
        tx = slow.transaction()
        await tx.start()
        # takes its id now, commits last
        await record_event(
            slow, cid, et.MSG_RECEIVED, {"provider": "meta"}, conversation_id=None, at=at(DAY, 10)
        )
        held_id = await slow.fetchval(
            "SELECT max(id) FROM conversation_events WHERE client_id = $1", cid
        )
        for _ in range(3):
            await log.append(cid, et.MSG_RECEIVED, {"provider": "meta"}, at=at(DAY, 10))
        await aggregate_increment(pool, PRICES)
        await aggregate_increment(pool, PRICES)
        # what an id cursor would have advanced to while the writer was open
        id_cursor = await pool.fetchval(
            "SELECT max(id) FROM conversation_events WHERE client_id = $1", cid
        )
        assert held_id < id_cursor  # an `id > cursor` scan would never see the held row
        row = (await daily(pool, cid)).get(DAY)
        assert row is None or row["messages_in"] < 4  # the held row is not counted yet
        await tx.commit()
    finally:
        await pool.release(slow)
    await drain(pool)
    await drain(pool)
    incremental = await daily(pool, cid)
    assert incremental[DAY]["messages_in"] == 4
    await recompute(pool, PRICES, start=DAY, end=DAY, tenant_id=cid)
    assert await daily(pool, cid) == incremental


async def test_second_replica_skips_while_the_first_holds_the_watermark(
    pool: asyncpg.Pool,
) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT 1 FROM metrics_watermark WHERE name = 'daily' FOR UPDATE")
        assert await aggregate_increment(pool, PRICES) is None


@pytest.mark.timeout(120)
async def test_incremental_equals_full_recompute_with_concurrent_writers_and_two_replicas(
    pool: asyncpg.Pool, settings: Settings
) -> None:
    tenants = [await new_tenant(pool, tz) for tz in ("UTC", "America/Sao_Paulo", "Asia/Tokyo")]
    writers = await create_pool(settings, min_size=10, max_size=10)
    replica = await create_pool(settings, min_size=1, max_size=2)  # a second metrics replica
    written: dict[str, int] = {}
    stop = asyncio.Event()

    async def writer(n: int) -> None:
        for i in range(20):
            async with writers.acquire() as conn, conn.transaction():
                for j in range(5):
                    cid = tenants[(n + i + j) % 3]
                    conv = str(uuid.uuid5(uuid.NAMESPACE_OID, f"{n}-{i % 4}"))
                    # every kind whose stored maps/histogram a later run must add to
                    kind = (
                        et.MSG_RECEIVED,
                        et.AI_RESPONDED,
                        et.TOOL_USED,
                        et.SEND_FAILED,
                        et.MEDIA_PROCESSED,
                    )[(i + j) % 5]
                    data = {
                        "model": ("gpt-4o-mini", "whisper-1")[i % 2],
                        "tokens_in": 10 + j,
                        "tokens_out": 3,
                        "latency_ms": 100 * (n + 1) + i * 37,
                        "tool": f"t{j}",
                        "ok": (n + i) % 3 != 0,
                        "code": ("131047", "130429")[n % 2],
                        "seconds": 1.5 * j,
                        "images": j % 2,
                        "provider": "meta",
                    }
                    when = at(DAY, (n * 3 + i) % 24, j)
                    await record_event(conn, cid, kind, data, conversation_id=conv, at=when)
                    written[cid] = written.get(cid, 0) + 1
                # some transactions stay open across several aggregation runs
                await asyncio.sleep(0.25 if (n + i) % 7 == 0 else 0.005)

    async def aggregator(p: asyncpg.Pool) -> None:
        while not stop.is_set():
            await aggregate_increment(p, PRICES)
            await asyncio.sleep(0.02)

    runners = [asyncio.create_task(aggregator(pool)), asyncio.create_task(aggregator(replica))]
    try:
        await asyncio.gather(*(writer(n) for n in range(10)))
    finally:
        stop.set()
        await asyncio.gather(*runners)
        await writers.close()
        await replica.close()
    await drain(pool)

    incremental = {cid: await daily(pool, cid) for cid in tenants}
    for cid in tenants:
        assert sum(r["events"] for r in incremental[cid].values()) == written[cid]
    await recompute(pool, PRICES)
    assert {cid: await daily(pool, cid) for cid in tenants} == incremental


async def test_the_open_transaction_holding_the_watermark_is_named_and_exported(
    pool: asyncpg.Pool,
) -> None:
    cid = await new_tenant(pool)
    fast = MetricsSettings(_env_file=None, aggregation_interval_s=0.2)  # type: ignore[call-arg]
    stuck = await pool.acquire()
    await stuck.execute("SET application_name = 'stuck-writer'")
    try:
        tx = stuck.transaction()
        await tx.start()
        await record_event(stuck, cid, et.MSG_RECEIVED, {"provider": "meta"}, conversation_id=None)
        started = time.monotonic()
        await asyncio.sleep(0.3)
        writer = await oldest_open_writer(pool)
        # the horizon is cluster-wide: an even older writer elsewhere would be named instead
        assert writer is not None and writer.age_s >= time.monotonic() - started - 0.05
        if writer.pid == stuck.get_server_pid():
            assert writer.application == "stuck-writer"
            assert writer.state == "idle in transaction"
        await run_once(pool, fast)
        held = REGISTRY.get_sample_value("wa_metrics_watermark_held_seconds")
        assert held is not None and held >= 0.3
        row = (await daily(pool, cid)).get(DAY)
        assert row is None  # its event is above the horizon: not counted while it is open
        await tx.commit()
        pid = stuck.get_server_pid()
    finally:
        await pool.release(stuck)
    writer = await oldest_open_writer(pool)
    assert writer is None or writer.pid != pid
