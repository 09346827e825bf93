"""Broker guarantees: confirms, retry with back-off, dead-lettering, SIGKILL redelivery, replay."""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from urllib.parse import urlparse

import asyncpg
import pytest
from aio_pika.abc import AbstractRobustConnection

from tests.fakes.tcp_proxy import TcpProxy
from tests.integration.broker_helpers import prepare, probe_handler
from wacommon.broker.connection import connect
from wacommon.broker.consumer import Consumer
from wacommon.broker.publisher import AioPikaPublisher, PublishFailed
from wacommon.broker.schemas import BurstReady, utcnow
from wacommon.broker.topology import (
    BURST_QUEUE,
    PIPELINE,
    declare_topology,
    delete_topology,
    dlq_name,
)
from wacommon.infra.settings import Settings
from wacommon.ops.dead_letters import Filter, replay_dead_letters

QUEUE = BURST_QUEUE


def probe(mode: str = "ok") -> BurstReady:
    return BurstReady(
        conversation_id="c",
        burst_id="b",
        message_ids=[1],
        first_message_at=utcnow(),
        correlation_id=mode,
        tenant_id="t-probe",
    )


@pytest.fixture(scope="module")
def bsettings(settings: Settings, run_id: str) -> Settings:
    """Own broker names: nothing else in this run consumes these queues."""
    # the unsharded work queue: this module tests the consumer, not the shards
    return settings.model_copy(update={"broker_prefix": f"t{run_id}b.", "broker_shards": 0})


@pytest.fixture(scope="module")
async def bconn(bsettings: Settings) -> AsyncIterator[AbstractRobustConnection]:
    conn = await connect(bsettings)
    channel = await conn.channel()
    await declare_topology(channel, bsettings)
    yield conn
    channel = await conn.channel()
    await delete_topology(channel, bsettings)
    await conn.close()


@pytest.fixture()
async def clean(pool: asyncpg.Pool, bconn: AbstractRobustConnection, bsettings: Settings) -> None:
    await prepare(pool)
    await pool.execute("TRUNCATE probe_effects, probe_attempts")
    channel = await bconn.channel()
    for name in (bsettings.q(QUEUE), dlq_name(bsettings.q(QUEUE))):
        queue = await channel.get_queue(name, ensure=False)
        await queue.purge()
    await channel.close()


async def wait_until(predicate, timeout: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached in time")


async def dlq_count(conn: AbstractRobustConnection, settings: Settings) -> int:
    channel = await conn.channel()
    q = await channel.declare_queue(dlq_name(settings.q(QUEUE)), passive=True)
    await channel.close()
    return int(q.declaration_result.message_count or 0)


async def test_publish_without_broker_connection_fails_loudly(
    bconn: AbstractRobustConnection, bsettings: Settings
) -> None:
    target = urlparse(bsettings.amqp_url)
    proxy = await TcpProxy(target.hostname or "127.0.0.1", target.port or 5672).start()
    via_proxy = bsettings.model_copy(
        update={
            "amqp_url": f"amqp://guest:guest@127.0.0.1:{proxy.port}/",
            "publish_timeout_s": 2.0,
        }
    )
    conn = await connect(via_proxy)
    publisher = AioPikaPublisher(conn, via_proxy)
    await publisher.publish(probe(), exchange=PIPELINE)  # confirmed while the link is up
    await proxy.cut()
    await asyncio.sleep(0.2)
    with pytest.raises(PublishFailed):
        await publisher.publish(probe(), exchange=PIPELINE)
    await proxy.restore()
    await conn.close()


async def test_unroutable_publish_is_not_reported_as_published(
    bconn: AbstractRobustConnection, bsettings: Settings, clean: None
) -> None:
    publisher = AioPikaPublisher(bconn, bsettings)
    with pytest.raises(PublishFailed):
        await publisher.publish(probe(), exchange=PIPELINE, routing_key="nobody.listens.v1")
    await publisher.close()


async def test_retryable_error_is_retried_with_backoff_then_handled(
    pool: asyncpg.Pool, bconn: AbstractRobustConnection, bsettings: Settings, clean: None
) -> None:
    consumer = Consumer(bconn, bsettings, QUEUE, probe_handler(pool))
    await consumer.start()
    publisher = AioPikaPublisher(bconn, bsettings)
    msg = probe("retry-2")
    await publisher.publish(msg, exchange=PIPELINE)

    async def handled() -> bool:
        return bool(
            await pool.fetchval(
                "SELECT count(*) FROM probe_effects WHERE message_id = $1", msg.message_id
            )
        )

    await wait_until(handled)
    attempts = await pool.fetch(
        "SELECT at FROM probe_attempts WHERE message_id = $1 ORDER BY id", msg.message_id
    )
    await consumer.stop()
    await publisher.close()
    assert len(attempts) == 3
    gaps = [(b["at"] - a["at"]).total_seconds() for a, b in itertools.pairwise(attempts)]
    delays = bsettings.retry_delays_ms
    assert gaps[0] >= delays[0] / 1000 * 0.9
    assert gaps[1] >= delays[1] / 1000 * 0.9


async def test_retries_exhausted_and_permanent_errors_go_to_the_dead_letter_queue(
    pool: asyncpg.Pool, bconn: AbstractRobustConnection, bsettings: Settings, clean: None
) -> None:
    consumer = Consumer(bconn, bsettings, QUEUE, probe_handler(pool))
    await consumer.start()
    publisher = AioPikaPublisher(bconn, bsettings)
    permanent, flaky, good = probe("permanent"), probe("always-retry"), probe("ok")
    for m in (permanent, flaky, good):
        await publisher.publish(m, exchange=PIPELINE)

    async def two_dead() -> bool:
        return await dlq_count(bconn, bsettings) == 2

    await wait_until(two_dead, timeout=30)
    await consumer.stop()
    await publisher.close()
    attempts = dict(
        await pool.fetch("SELECT message_id, count(*) FROM probe_attempts GROUP BY message_id")
    )
    assert attempts[permanent.message_id] == 1
    assert attempts[flaky.message_id] == bsettings.max_retries + 1
    assert await pool.fetchval("SELECT count(*) FROM probe_effects") == 1


async def test_consumer_killed_before_ack_gets_message_redelivered_and_handled_once(
    pool: asyncpg.Pool,
    bconn: AbstractRobustConnection,
    bsettings: Settings,
    clean: None,
    test_env: dict[str, str],
) -> None:
    env = {
        **os.environ,
        **test_env,
        "BROKER_PREFIX": bsettings.broker_prefix,
        # the module's unsharded topology: the worker declares no shard queues nobody deletes
        "BROKER_SHARDS": str(bsettings.broker_shards),
        "PROBE_HOLD_S": "3",
    }
    cmd = [sys.executable, "-m", "tests.integration.broker_helpers", QUEUE]
    worker = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True)
    assert worker.stdout is not None
    while (line := worker.stdout.readline()) and line.strip() != "worker-ready":
        pass
    assert line.strip() == "worker-ready"
    publisher = AioPikaPublisher(bconn, bsettings)
    msg = probe("ok")
    await publisher.publish(msg, exchange=PIPELINE)

    async def received() -> bool:
        return bool(
            await pool.fetchval(
                "SELECT count(*) FROM probe_attempts WHERE message_id = $1", msg.message_id
            )
        )

    await wait_until(received)
    worker.kill()  # SIGKILL while the handler holds the message, before its ack
    worker.wait()
    assert await pool.fetchval("SELECT count(*) FROM probe_effects") == 0
    env["PROBE_HOLD_S"] = "0"
    worker = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, text=True)
    try:

        async def handled() -> bool:
            return bool(await pool.fetchval("SELECT count(*) FROM probe_effects"))

        await wait_until(handled, timeout=30)
        await asyncio.sleep(0.5)
    finally:
        worker.terminate()
        worker.wait()
    await publisher.close()
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM probe_attempts WHERE message_id = $1", msg.message_id
        )
        == 2
    )
    assert await pool.fetchval("SELECT count(*) FROM probe_effects") == 1


async def test_replay_dry_run_moves_nothing_and_replay_is_handled_once(
    pool: asyncpg.Pool, bconn: AbstractRobustConnection, bsettings: Settings, clean: None
) -> None:
    publisher = AioPikaPublisher(bconn, bsettings)
    consumer = Consumer(bconn, bsettings, QUEUE, probe_handler(pool))
    await consumer.start()
    bad = probe("permanent")
    await publisher.publish(bad, exchange=PIPELINE)

    async def dead() -> bool:
        return await dlq_count(bconn, bsettings) == 1

    await wait_until(dead)
    await consumer.stop()

    listed = await replay_dead_letters(bconn, bsettings, queues=[QUEUE], dry_run=True)
    assert [m.message_id for m in listed] == [bad.message_id]
    assert listed[0].reason == "rejected"
    await wait_until(dead)  # the dry run returned it to the dead-letter queue
    none = await replay_dead_letters(
        bconn, bsettings, queues=[QUEUE], where=Filter(tenant="someone-else")
    )
    assert none == []
    await wait_until(dead)

    # the "fix": the same message id now succeeds
    await pool.execute("TRUNCATE probe_attempts")

    async def fixed(msg, delivery):  # type: ignore[no-untyped-def]
        await pool.execute(
            "INSERT INTO probe_effects (message_id) VALUES ($1) ON CONFLICT DO NOTHING",
            msg.message_id,
        )

    consumer = Consumer(bconn, bsettings, QUEUE, fixed)
    await consumer.start()
    moved = await replay_dead_letters(
        bconn, bsettings, queues=[QUEUE], where=Filter(tenant="t-probe")
    )
    assert [m.message_id for m in moved] == [bad.message_id]

    async def handled() -> bool:
        return bool(
            await pool.fetchval(
                "SELECT count(*) FROM probe_effects WHERE message_id = $1", bad.message_id
            )
        )

    await wait_until(handled)
    await consumer.stop()
    await publisher.close()
    assert await dlq_count(bconn, bsettings) == 0
    assert await pool.fetchval("SELECT count(*) FROM probe_effects") == 1
