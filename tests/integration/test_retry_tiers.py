"""Issue 16 item 5: every broker hop of a retry is at-least-once.

- A retry waiting in its tier survives a broker restart (stop_app while the messages sit
  there, start_app after their TTL ran out): tested on a RabbitMQ node of the test's own, so
  the shared broker is never stopped.
- A retry copy the broker cannot route is not acked away.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import asyncpg
import pytest
from aio_pika.abc import AbstractRobustConnection

from tests.fakes.rabbit_node import RabbitNode, RabbitNodeUnavailable
from tests.integration.broker_helpers import prepare, probe_handler
from wacommon.broker.connection import connect
from wacommon.broker.consumer import Consumer
from wacommon.broker.publisher import AioPikaPublisher
from wacommon.broker.schemas import BurstReady, utcnow
from wacommon.broker.topology import (
    BURST_QUEUE,
    PIPELINE,
    declare_topology,
    delete_topology,
    dlq_name,
    retry_queue_name,
    retry_tier_arguments,
)
from wacommon.infra.settings import Settings

QUEUE = BURST_QUEUE
TIER_MS = 12000


def probe(mode: str) -> BurstReady:
    return BurstReady(
        conversation_id="c",
        burst_id=uuid.uuid4().hex,
        message_ids=[1],
        first_message_at=utcnow(),
        correlation_id=mode,
        tenant_id="t-probe",
    )


async def wait_until(predicate: Callable[[], Awaitable[bool]], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return True
        await asyncio.sleep(0.2)
    return await predicate()


async def count(pool: asyncpg.Pool, table: str, ids: list[str]) -> int:
    return int(
        await pool.fetchval(
            f"SELECT count(DISTINCT message_id) FROM {table} WHERE message_id = ANY($1::text[])",
            ids,
        )
    )


async def queue_depth(conn: AbstractRobustConnection, name: str) -> int:
    channel = await conn.channel()
    try:
        queue = await channel.declare_queue(name, passive=True)
        return int(queue.declaration_result.message_count or 0)
    finally:
        await channel.close()


@pytest.fixture(scope="module")
def rabbit(run_id: str) -> Iterator[RabbitNode]:
    node = RabbitNode(f"t{run_id}")
    try:
        node.start()
    except RabbitNodeUnavailable as exc:
        pytest.skip(f"no private RabbitMQ node for the restart test: {exc}")
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture()
async def private(
    rabbit: RabbitNode, settings: Settings, run_id: str
) -> AsyncIterator[tuple[Settings, AbstractRobustConnection]]:
    psettings = settings.model_copy(
        update={
            "amqp_url": rabbit.url,
            "broker_prefix": f"t{run_id}r{uuid.uuid4().hex[:4]}.",
            "retry_delays_ms": [TIER_MS],
            "broker_shards": 0,
            "max_retries": 2,
        }
    )
    conn = await connect(psettings)
    channel = await conn.channel()
    await declare_topology(channel, psettings)
    await channel.close()
    yield psettings, conn
    await conn.close()


async def test_retries_waiting_in_a_tier_survive_a_broker_restart(
    pool: asyncpg.Pool,
    rabbit: RabbitNode,
    private: tuple[Settings, AbstractRobustConnection],
) -> None:
    psettings, conn = private
    await prepare(pool)
    consumer = Consumer(conn, psettings, QUEUE, probe_handler(pool), prefetch=50)
    await consumer.start()
    publisher = AioPikaPublisher(conn, psettings)
    messages = [probe("retry-1") for _ in range(60)]
    ids = [m.message_id for m in messages]
    try:
        for m in messages:
            await publisher.publish(m, exchange=PIPELINE)
        tier = retry_queue_name(psettings, TIER_MS)
        # every message failed once and its retry copy sits in the tier
        assert await wait_until(lambda: _all_in(conn, pool, tier, ids), timeout=TIER_MS / 2000)
        assert await count(pool, "probe_effects", ids) == 0

        # the broker goes down while they wait, and comes back after their TTL ran out
        rabbit.stop_app()
        await asyncio.sleep(TIER_MS / 1000 + 2)
        rabbit.start_app()

        await wait_until(lambda: _all_handled(pool, ids), timeout=90)
        assert await count(pool, "probe_effects", ids) == len(ids)
        assert await queue_depth(conn, dlq_name(psettings.q(QUEUE))) == 0
    finally:
        await consumer.stop()
        await publisher.close()
        channel = await conn.channel()
        await delete_topology(channel, psettings)


async def _all_in(
    conn: AbstractRobustConnection, pool: asyncpg.Pool, tier: str, ids: list[str]
) -> bool:
    return await count(pool, "probe_attempts", ids) == len(ids) and await queue_depth(
        conn, tier
    ) == len(ids)


async def _all_handled(pool: asyncpg.Pool, ids: list[str]) -> bool:
    return await count(pool, "probe_effects", ids) == len(ids)


@pytest.fixture()
async def shared(
    settings: Settings, run_id: str
) -> AsyncIterator[tuple[Settings, AbstractRobustConnection]]:
    """The shared broker under names of this test's own, tiers of 200 ms only."""
    tsettings = settings.model_copy(
        update={
            "broker_prefix": f"t{run_id}u{uuid.uuid4().hex[:4]}.",
            "retry_delays_ms": [200],
            "broker_shards": 0,
        }
    )
    conn = await connect(tsettings)
    channel = await conn.channel()
    await declare_topology(channel, tsettings)
    await channel.close()
    yield tsettings, conn
    channel = await conn.channel()
    await delete_topology(channel, tsettings)
    await conn.close()


async def test_a_retry_the_broker_cannot_route_is_not_acked_away(
    pool: asyncpg.Pool, shared: tuple[Settings, AbstractRobustConnection]
) -> None:
    tsettings, conn = shared
    await prepare(pool)
    # this consumer's ladder names a tier nobody declared (settings out of step)
    consumer = Consumer(
        conn, tsettings.model_copy(update={"retry_delays_ms": [777]}), QUEUE, probe_handler(pool)
    )
    await consumer.start()
    publisher = AioPikaPublisher(conn, tsettings)
    message = probe("retry-1")
    try:
        await publisher.publish(message, exchange=PIPELINE)
        dlq = dlq_name(tsettings.q(QUEUE))

        # not lost: redelivered until the delivery limit puts it in the dead-letter queue
        assert await wait_until(lambda: _depth_is(conn, dlq, 1), timeout=30)
        assert await count(pool, "probe_effects", [message.message_id]) == 0
    finally:
        await consumer.stop()
        await publisher.close()


async def _depth_is(conn: AbstractRobustConnection, name: str, n: int) -> bool:
    return await queue_depth(conn, name) == n


def test_the_retry_tiers_are_quorum_queues_with_at_least_once_dead_lettering(
    settings: Settings,
) -> None:
    args = retry_tier_arguments(settings, 5000)
    assert args["x-queue-type"] == "quorum"
    assert args["x-dead-letter-strategy"] == "at-least-once"
    # with drop-head RabbitMQ silently falls back to at-most-once
    assert args["x-overflow"] == "reject-publish"
    assert args["x-message-ttl"] == 5000
