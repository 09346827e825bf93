"""A probe handler that records its effect in Postgres once per message id (idempotency)."""

from __future__ import annotations

import asyncio
import os
import sys

import asyncpg

from wacommon.broker.connection import connect
from wacommon.broker.consumer import Consumer, Delivery
from wacommon.broker.schemas import Envelope
from wacommon.broker.topology import declare_topology
from wacommon.infra.db import create_pool
from wacommon.infra.errors import PermanentError, RetryableError
from wacommon.infra.settings import Settings

PROBE_TABLE = """CREATE TABLE IF NOT EXISTS probe_effects (
    message_id text PRIMARY KEY, handled_at timestamptz NOT NULL DEFAULT clock_timestamp())"""
PROBE_LOG = """CREATE TABLE IF NOT EXISTS probe_attempts (
    id bigserial PRIMARY KEY, message_id text NOT NULL, kind text NOT NULL,
    at timestamptz NOT NULL DEFAULT clock_timestamp())"""


async def prepare(pool: asyncpg.Pool) -> None:
    await pool.execute(PROBE_TABLE)
    await pool.execute(PROBE_LOG)


def probe_handler(pool: asyncpg.Pool, *, hold_s: float = 0.0):  # type: ignore[no-untyped-def]
    """Behaviour chosen by the message's correlation id: ok | retry-N | permanent | always-retry."""

    async def handle(msg: Envelope, delivery: Delivery) -> None:
        mode = msg.correlation_id
        await pool.execute(
            "INSERT INTO probe_attempts (message_id, kind) VALUES ($1, $2)",
            msg.message_id,
            "attempt",
        )
        if mode == "permanent":
            raise PermanentError("bad message")
        if mode == "always-retry":
            raise RetryableError("still failing")
        if mode.startswith("retry-"):
            failures = int(mode.split("-")[1])
            if delivery.retry_count < failures:
                raise RetryableError(f"transient {delivery.retry_count}")
        if hold_s:
            await asyncio.sleep(hold_s)
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO probe_effects (message_id) VALUES ($1) ON CONFLICT DO NOTHING",
                msg.message_id,
            )

    return handle


async def run_worker(queue: str, hold_s: float) -> None:
    """A consumer process for the SIGKILL test (configured by the environment)."""
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    pool = await create_pool(settings)
    connection = await connect(settings)
    channel = await connection.channel()
    await declare_topology(channel, settings)
    consumer = Consumer(connection, settings, queue, probe_handler(pool, hold_s=hold_s), prefetch=5)
    await consumer.start()
    print("worker-ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(run_worker(sys.argv[1], float(os.environ.get("PROBE_HOLD_S", "0"))))
