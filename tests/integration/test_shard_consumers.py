"""Shard consumers keep main's guarantees: retry tiers come back to the shard, outages pause.

- A message that fails on a shard goes through its retry tier (`wa.retries.<ms>`) and comes
  back to the same shard queue (the requeue exchange is bound with the shard's name); past
  `max_retries` it lands in the work queue's dead-letter queue.
- A database outage longer than the whole retry ladder pauses every shard subscription
  (`Runtime.work_consumers` hands them the dependency probe): nothing dead-lettered, no retry
  or delivery spent, every message handled once, and each conversation in publish order.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest
from aio_pika.abc import AbstractRobustConnection

from tests.e2e.chaos import proxy_to, via
from tests.fakes.tcp_proxy import TcpProxy
from tests.integration.broker_helpers import prepare, probe_handler
from wacommon.broker.connection import connect
from wacommon.broker.consumer import Delivery
from wacommon.broker.publisher import AioPikaPublisher
from wacommon.broker.schemas import BurstReady, Envelope, utcnow
from wacommon.broker.sharded_consumer import WorkConsumers
from wacommon.broker.shards import shard_of, shard_queue
from wacommon.broker.topology import (
    BURST_QUEUE,
    PIPELINE,
    declare_topology,
    delete_topology,
    dlq_name,
)
from wacommon.infra.db import create_pool
from wacommon.infra.dependencies import DependencyProbe
from wacommon.infra.errors import DATABASE
from wacommon.infra.settings import Settings

QUEUE = BURST_QUEUE
SHARDS = 2
CUT_S = 6.0  # twice the shortened ladder (0.2 + 0.4 + 0.8 + 1.6 s)


def burst(conversation: str, i: int, mode: str = "ok") -> BurstReady:
    return BurstReady(
        conversation_id=conversation,
        burst_id=f"{conversation}-{i}-{uuid.uuid4().hex[:6]}",
        message_ids=[i],
        first_message_at=utcnow(),
        correlation_id=mode,
        tenant_id="t-shards",
    )


@pytest.fixture()
async def bus(
    settings: Settings, run_id: str
) -> AsyncIterator[tuple[Settings, AbstractRobustConnection]]:
    ssettings = settings.model_copy(
        update={
            "broker_prefix": f"t{run_id}h{uuid.uuid4().hex[:4]}.",
            "broker_shards": SHARDS,
            "retry_delays_ms": [200, 400, 800, 1600],
            "outage_probe_min_s": 0.2,
            "outage_probe_max_s": 1.0,
        }
    )
    conn = await connect(ssettings)
    channel = await conn.channel()
    await declare_topology(channel, ssettings)
    await channel.close()
    yield ssettings, conn
    channel = await conn.channel()
    await delete_topology(channel, ssettings)
    await conn.close()


@pytest.fixture()
async def clean(pool: asyncpg.Pool) -> None:
    await prepare(pool)
    await pool.execute("TRUNCATE probe_effects, probe_attempts")


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("condition not reached in time")


async def depth(conn: AbstractRobustConnection, name: str) -> int:
    channel = await conn.channel()
    q = await channel.declare_queue(name, passive=True)
    await channel.close()
    return int(q.declaration_result.message_count or 0)


async def test_a_retry_on_a_shard_comes_back_to_the_shard_and_exhaustion_dead_letters(
    pool: asyncpg.Pool, bus: tuple[Settings, AbstractRobustConnection], clean: None
) -> None:
    ssettings, conn = bus
    consumers = WorkConsumers(conn, ssettings, QUEUE, probe_handler(pool))
    await consumers.start()
    publisher = AioPikaPublisher(conn, ssettings)
    flaky, poison = burst("c-retry", 1, "retry-2"), burst("c-poison", 1, "always-retry")
    try:
        await publisher.publish(flaky, exchange=PIPELINE)
        await publisher.publish(poison, exchange=PIPELINE)
        dlq = dlq_name(ssettings.q(QUEUE))

        async def settled() -> bool:
            done = await pool.fetchval(
                "SELECT count(*) FROM probe_effects WHERE message_id = $1", flaky.message_id
            )
            return done == 1 and await depth(conn, dlq) == 1

        await until(settled)
        # nothing was routed to the unsharded queue: the copies went back to their shard
        assert await depth(conn, ssettings.q(QUEUE)) == 0
    finally:
        await consumers.stop()
        await publisher.close()
    attempts = dict(
        await pool.fetch(
            "SELECT message_id, count(*) FROM probe_attempts GROUP BY message_id",
        )
    )
    assert attempts == {flaky.message_id: 3, poison.message_id: ssettings.max_retries + 1}


@pytest.fixture()
async def db_proxy(settings: Settings) -> AsyncIterator[TcpProxy]:
    proxy = await proxy_to(settings.database_url, 5432)
    yield proxy
    await proxy.stop()


async def test_a_database_outage_pauses_the_shards_without_dead_letters_and_keeps_order(
    pool: asyncpg.Pool,
    bus: tuple[Settings, AbstractRobustConnection],
    clean: None,
    db_proxy: TcpProxy,
) -> None:
    ssettings, conn = bus
    via_pool = await create_pool(
        ssettings, dsn=via(ssettings.database_url, db_proxy.port), min_size=1, max_size=5
    )
    probe = DependencyProbe({DATABASE: lambda: via_pool.fetchval("SELECT 1")}, timeout_s=1.0)

    async def handle(msg: Envelope, delivery: Delivery) -> None:
        await pool.execute(
            "INSERT INTO probe_attempts (message_id, kind) VALUES ($1, $2)",
            msg.message_id,
            f"retry={delivery.retry_count} delivery={delivery.delivery_count}",
        )
        await via_pool.execute(
            "INSERT INTO probe_effects (message_id) VALUES ($1) ON CONFLICT DO NOTHING",
            msg.message_id,
        )

    # two conversations on different shards, so both shard subscriptions meet the outage
    names = [f"c{i}" for i in range(40)]
    first = names[0]
    second = next(
        n
        for n in names
        if shard_of(f"t-shards:{n}", SHARDS) != shard_of(f"t-shards:{first}", SHARDS)
    )
    sent = {c: [burst(c, i) for i in range(8)] for c in (first, second)}
    consumers = WorkConsumers(conn, ssettings, QUEUE, handle, probe=probe)
    await consumers.start()
    publisher = AioPikaPublisher(conn, ssettings)
    try:
        await db_proxy.cut()
        for i in range(8):
            for c in (first, second):
                await publisher.publish(sent[c][i], exchange=PIPELINE)
        await asyncio.sleep(CUT_S)
        dlq = dlq_name(ssettings.q(QUEUE))
        during = await depth(conn, dlq)
        await db_proxy.restore()

        async def all_handled() -> bool:
            return int(await pool.fetchval("SELECT count(*) FROM probe_effects")) == 16

        await until(all_handled)
        shard_depths = [
            await depth(conn, ssettings.q(shard_queue(QUEUE, s))) for s in range(SHARDS)
        ]
    finally:
        await consumers.stop()
        await publisher.close()
        await via_pool.close()
    assert (during, await depth(conn, dlq), shard_depths) == (0, 0, [0] * SHARDS)
    kinds = {r["kind"] for r in await pool.fetch("SELECT DISTINCT kind FROM probe_attempts")}
    assert kinds == {"retry=0 delivery=0"}
    handled = [
        r["message_id"]
        for r in await pool.fetch("SELECT message_id FROM probe_effects ORDER BY handled_at")
    ]
    for c in (first, second):
        ids = [m.message_id for m in sent[c]]
        assert [m for m in handled if m in ids] == ids
