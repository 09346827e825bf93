"""An outage pauses the consumer instead of spending retries (issue 16, item 4).

The handler reaches PostgreSQL (or publishes) through a loopback proxy this test cuts for
longer than the retry ladder (RETRY_DELAYS_MS, 3 s in all). Before the fix every message
taken during the cut went through the ladder into the dead-letter queue.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import pytest
from aio_pika.abc import AbstractRobustConnection

from tests.e2e.chaos import proxy_to, via
from tests.fakes.tcp_proxy import TcpProxy
from tests.integration.broker_helpers import prepare
from wacommon.broker.connection import connect
from wacommon.broker.consumer import Consumer, Delivery
from wacommon.broker.publisher import AioPikaPublisher
from wacommon.broker.schemas import BurstReady, Envelope, utcnow
from wacommon.broker.topology import (
    BURST_QUEUE,
    PIPELINE,
    SEND_QUEUE,
    declare_topology,
    delete_topology,
    dlq_name,
)
from wacommon.infra.db import create_pool
from wacommon.infra.dependencies import DependencyProbe
from wacommon.infra.errors import BROKER, DATABASE
from wacommon.infra.settings import Settings

QUEUE = BURST_QUEUE
MESSAGES = 20
CUT_S = 6.0  # twice the shortened ladder (0.2 + 0.4 + 0.8 + 1.6 s)


def burst(i: int) -> BurstReady:
    return BurstReady(
        conversation_id="c",
        burst_id=f"b{i}",
        message_ids=[i],
        first_message_at=utcnow(),
        correlation_id="outage",
        tenant_id="t-outage",
    )


@pytest.fixture(scope="module")
def osettings(settings: Settings, run_id: str) -> Settings:
    # the unsharded work queue: this module tests the consumer (test_shard_consumers: shards)
    return settings.model_copy(
        update={
            "broker_prefix": f"t{run_id}c.",
            "outage_probe_min_s": 0.2,
            "outage_probe_max_s": 1,
            "broker_shards": 0,
        }
    )


@pytest.fixture(scope="module")
async def oconn(osettings: Settings) -> AsyncIterator[AbstractRobustConnection]:
    conn = await connect(osettings)
    channel = await conn.channel()
    await declare_topology(channel, osettings)
    yield conn
    channel = await conn.channel()
    await delete_topology(channel, osettings)
    await conn.close()


@pytest.fixture()
async def clean(pool: asyncpg.Pool, oconn: AbstractRobustConnection, osettings: Settings) -> None:
    await prepare(pool)
    await pool.execute("TRUNCATE probe_effects, probe_attempts")
    channel = await oconn.channel()
    for name in (QUEUE, SEND_QUEUE):
        for q in (osettings.q(name), dlq_name(osettings.q(name))):
            await (await channel.get_queue(q, ensure=False)).purge()
    await channel.close()


@pytest.fixture()
async def db_proxy(settings: Settings) -> AsyncIterator[TcpProxy]:
    proxy = await proxy_to(settings.database_url, 5432)
    yield proxy
    await proxy.stop()


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("condition not reached in time")


async def dead(conn: AbstractRobustConnection, settings: Settings, queue: str = QUEUE) -> int:
    channel = await conn.channel()
    q = await channel.declare_queue(dlq_name(settings.q(queue)), passive=True)
    await channel.close()
    return int(q.declaration_result.message_count or 0)


def recording_handler(
    via_pool: asyncpg.Pool, pool: asyncpg.Pool, fail: Callable[[], None] | None = None
) -> Callable[[Envelope, Delivery], Awaitable[None]]:
    """Records every attempt (through the direct pool) and its effect (through `via_pool`)."""

    async def handle(msg: Envelope, delivery: Delivery) -> None:
        await pool.execute(
            "INSERT INTO probe_attempts (message_id, kind) VALUES ($1, $2)",
            msg.message_id,
            f"retry={delivery.retry_count} delivery={delivery.delivery_count}",
        )
        if fail is not None:
            fail()
        await via_pool.execute(
            "INSERT INTO probe_effects (message_id) VALUES ($1) ON CONFLICT DO NOTHING",
            msg.message_id,
        )

    return handle


@pytest.mark.parametrize("hold_s", [300.0, 1.0], ids=["held", "parked"])
async def test_database_outage_longer_than_the_ladder_pauses_instead_of_dead_lettering(
    pool: asyncpg.Pool,
    oconn: AbstractRobustConnection,
    osettings: Settings,
    clean: None,
    db_proxy: TcpProxy,
    hold_s: float,
) -> None:
    """Held: the deliveries wait in place; parked: past `outage_hold_s` they go back, uncounted."""
    osettings = osettings.model_copy(update={"outage_hold_s": hold_s})
    via_pool = await create_pool(
        osettings, dsn=via(osettings.database_url, db_proxy.port), min_size=1, max_size=5
    )
    probe = DependencyProbe({DATABASE: lambda: via_pool.fetchval("SELECT 1")}, timeout_s=1.0)
    consumer = Consumer(oconn, osettings, QUEUE, recording_handler(via_pool, pool), probe=probe)
    await consumer.start()
    publisher = AioPikaPublisher(oconn, osettings)
    try:
        await db_proxy.cut()
        sent = [burst(i) for i in range(MESSAGES)]
        for m in sent:
            await publisher.publish(m, exchange=PIPELINE)
        await asyncio.sleep(CUT_S)
        during = await dead(oconn, osettings)
        await db_proxy.restore()

        async def all_handled() -> bool:
            return int(await pool.fetchval("SELECT count(*) FROM probe_effects")) == MESSAGES

        await until(all_handled)
    finally:
        await consumer.stop()
        await publisher.close()
        await via_pool.close()
    assert (during, await dead(oconn, osettings)) == (0, 0)
    effects = {r["message_id"] for r in await pool.fetch("SELECT message_id FROM probe_effects")}
    assert effects == {m.message_id for m in sent}
    # the outage spent no retry and no quorum-queue delivery on any message
    kinds = {r["kind"] for r in await pool.fetch("SELECT DISTINCT kind FROM probe_attempts")}
    assert kinds == {"retry=0 delivery=0"}


async def test_an_error_that_looks_like_an_outage_while_everything_answers_is_retried_and_dead_lettered(
    pool: asyncpg.Pool, oconn: AbstractRobustConnection, osettings: Settings, clean: None
) -> None:
    """A message that keeps failing with a network error while the probe answers is poison."""

    def reset() -> None:
        raise ConnectionResetError("a handler bug that looks like the network")

    probe = DependencyProbe({DATABASE: lambda: pool.fetchval("SELECT 1")}, timeout_s=1.0)
    consumer = Consumer(oconn, osettings, QUEUE, recording_handler(pool, pool, reset), probe=probe)
    await consumer.start()
    publisher = AioPikaPublisher(oconn, osettings)
    try:
        await publisher.publish(burst(1), exchange=PIPELINE)

        async def dead_lettered() -> bool:
            return await dead(oconn, osettings) == 1

        await until(dead_lettered)
    finally:
        await consumer.stop()
        await publisher.close()
    attempts = await pool.fetchval("SELECT count(*) FROM probe_attempts")
    assert attempts == osettings.max_retries + 1


async def test_broker_unreachable_for_publishes_pauses_instead_of_dead_lettering(
    pool: asyncpg.Pool, oconn: AbstractRobustConnection, osettings: Settings, clean: None
) -> None:
    """The handler's publishes go through a cut link; the consumer's own link stays up."""
    amqp_proxy = await proxy_to(osettings.amqp_url, 5672)
    link = osettings.model_copy(
        update={"amqp_url": via(osettings.amqp_url, amqp_proxy.port), "publish_timeout_s": 1.0}
    )
    out_conn = await connect(link)
    out = AioPikaPublisher(out_conn, link)
    probe = DependencyProbe({BROKER: out.ping}, timeout_s=2.0)

    async def forward(msg: Envelope, delivery: Delivery) -> None:
        await pool.execute(
            "INSERT INTO probe_attempts (message_id, kind) VALUES ($1, $2)",
            msg.message_id,
            f"retry={delivery.retry_count} delivery={delivery.delivery_count}",
        )
        assert isinstance(msg, BurstReady)
        await out.publish(msg, exchange=PIPELINE, routing_key="reply.send.v1")

    consumer = Consumer(oconn, osettings, QUEUE, forward, probe=probe)
    await consumer.start()
    publisher = AioPikaPublisher(oconn, osettings)
    forwarded: list[Any] = []
    try:
        await amqp_proxy.cut()
        for i in range(MESSAGES):
            await publisher.publish(burst(i), exchange=PIPELINE)
        await asyncio.sleep(CUT_S)
        during = await dead(oconn, osettings)
        await amqp_proxy.restore()
        channel = await oconn.channel()
        sends = await channel.get_queue(osettings.q(SEND_QUEUE), ensure=False)

        async def all_forwarded() -> bool:
            while (m := await sends.get(no_ack=True, fail=False)) is not None:
                forwarded.append(m.message_id)
            return len(set(forwarded)) == MESSAGES

        await until(all_forwarded, timeout=60)
        await channel.close()
    finally:
        await consumer.stop()
        await publisher.close()
        await out.close()
        await out_conn.close()
        await amqp_proxy.stop()
    assert (during, await dead(oconn, osettings)) == (0, 0)
    kinds = {r["kind"] for r in await pool.fetch("SELECT DISTINCT kind FROM probe_attempts")}
    assert kinds == {"retry=0 delivery=0"}
