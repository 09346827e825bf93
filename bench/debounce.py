"""Debounce benchmark: N concurrent conversations send bursts; how late is each flush?

Lateness = flush time - (time the burst's last message was sent + quiet window). The send time
is taken just before `add`, so the figure includes the add round trip (a slight overestimate).
Runs against a fresh temporary database and a random Redis prefix, both removed at the end.

    .venv/bin/python bench/debounce.py --conversations 1000 --bursts 3 --messages 4 --quiet-ms 1000
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime

import asyncpg
import redis.asyncio as aioredis

from lancepilot_ingest.debounce import Burst, DebounceConfig, Debouncer
from wacommon.db import create_pool
from wacommon.logging import configure_logging
from wacommon.migrations import apply_migrations, ensure_database
from wacommon.settings import Settings


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--conversations", type=int, default=1000)
    p.add_argument("--bursts", type=int, default=3, help="bursts per conversation")
    p.add_argument("--messages", type=int, default=4, help="messages per burst")
    p.add_argument("--quiet-ms", type=int, default=1000)
    p.add_argument("--gap-ms", type=int, default=0, help="max gap inside a burst (quiet/4)")
    p.add_argument("--replicas", type=int, default=2, help="Debouncer.run loops (same process)")
    p.add_argument("--poll-ms", type=float, default=20.0)
    p.add_argument("--pg-base", default="postgresql://postgres@127.0.0.1:5432")
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--uvloop", action="store_true", help="run on uvloop (as uvicorn does)")
    return p.parse_args()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def seed_rows(
    pool: asyncpg.Pool, tenant: str, convs: int, per_conv: int
) -> tuple[list[str], list[list[int]]]:
    """Conversations and their inbound rows, all 'buffered' (what the ingest stores)."""
    conv_ids = [str(uuid.uuid4()) for _ in range(convs)]
    async with pool.acquire() as conn:
        await conn.copy_records_to_table(
            "active_conversations",
            records=[(uuid.UUID(c), uuid.UUID(tenant), f"c{i}", "uazapi")
                     for i, c in enumerate(conv_ids)],
            columns=["id", "client_id", "contact_key", "provider"],
        )
        rows = [(uuid.UUID(tenant), uuid.UUID(c), "in", "customer", "uazapi", f"{c}-{k}",
                 f"msg {k}", "buffered") for c in conv_ids for k in range(per_conv)]
        await conn.copy_records_to_table(
            "chat_messages", records=rows,
            columns=["client_id", "conversation_id", "direction", "role", "provider",
                     "provider_message_id", "content", "status"],
        )
        fetched = await conn.fetch(
            "SELECT id, conversation_id FROM chat_messages WHERE client_id = $1 ORDER BY id",
            uuid.UUID(tenant),
        )
    by_conv: dict[str, list[int]] = defaultdict(list)
    for r in fetched:
        by_conv[str(r["conversation_id"])].append(r["id"])
    return conv_ids, [by_conv[c] for c in conv_ids]


async def bench(args: argparse.Namespace) -> None:
    run = uuid.uuid4().hex[:10]
    dsn = f"{args.pg_base}/wa_bench_{run}"
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=dsn, redis_url=args.redis_url, redis_prefix=f"bench{run}:",
        log_level="WARNING",
    )
    configure_logging(settings)
    await ensure_database(dsn)
    pool = None
    redis = aioredis.Redis(
        connection_pool=aioredis.BlockingConnectionPool.from_url(args.redis_url, max_connections=64)
    )
    try:
        await apply_migrations(dsn)
        pool = await create_pool(settings, min_size=4, max_size=10)
        tenant = str(await pool.fetchval("INSERT INTO clients (name) VALUES ('bench') RETURNING id"))
        per_conv = args.bursts * args.messages
        conv_ids, rows = await seed_rows(pool, tenant, args.conversations, per_conv)
        await measure(args, settings, redis, pool, tenant, conv_ids, rows)
    finally:
        keys = [k async for k in redis.scan_iter(match=f"{settings.redis_prefix}*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()
        if pool is not None:
            await pool.close()
        conn = await asyncpg.connect(f"{args.pg_base}/postgres")
        await conn.execute(f'DROP DATABASE IF EXISTS "wa_bench_{run}" WITH (FORCE)')
        await conn.close()


async def measure(
    args: argparse.Namespace, settings: Settings, redis: aioredis.Redis, pool: asyncpg.Pool,
    tenant: str, conv_ids: list[str], rows: list[list[int]],
) -> None:
    rng = random.Random(args.seed)
    cfg = DebounceConfig(quiet_ms=args.quiet_ms, max_wait_ms=max(30000, 4 * args.quiet_ms),
                         max_burst=max(20, args.messages + 1))
    gap_ms = args.gap_ms or max(1, args.quiet_ms // 4)
    flushes: dict[str, list[tuple[float, list[int]]]] = defaultdict(list)
    waiters: dict[str, asyncio.Event] = {}

    async def on_flush(burst: Burst) -> None:
        flushes[burst.conversation_id].append((time.perf_counter(), burst.message_ids))
        waiters[burst.conversation_id].set()

    stop = asyncio.Event()
    replicas = [
        Debouncer(redis, settings, pool, poll_interval_s=args.poll_ms / 1000)
        for _ in range(args.replicas)
    ]
    loops = [asyncio.create_task(d.run(stop, on_flush)) for d in replicas]
    late: list[float] = []
    add_ms: list[float] = []
    timeouts = 0

    async def customer(n: int, conv: str, ids: list[int]) -> None:
        nonlocal timeouts
        crng = random.Random(rng.random())
        waiters[conv] = asyncio.Event()
        await asyncio.sleep(crng.uniform(0, 2 * args.quiet_ms / 1000))
        for b in range(args.bursts):
            burst_ids = ids[b * args.messages:(b + 1) * args.messages]
            waiters[conv].clear()
            sent_at = 0.0
            for k, mid in enumerate(burst_ids):
                if k:
                    await asyncio.sleep(crng.uniform(0.05 * gap_ms, gap_ms) / 1000)
                sent_at = time.perf_counter()
                deb = replicas[(n + k) % len(replicas)]
                await deb.add(tenant, conv, mid, f"msg {k}", datetime.now(UTC), cfg)
                add_ms.append((time.perf_counter() - sent_at) * 1000)
            try:
                await asyncio.wait_for(waiters[conv].wait(), 10 + args.quiet_ms / 1000)
            except TimeoutError:
                timeouts += 1
                continue
            late.append((flushes[conv][-1][0] - sent_at) * 1000 - args.quiet_ms)
            await asyncio.sleep(crng.uniform(0.1, 0.5))

    lag: list[float] = []

    async def monitor() -> None:
        while not stop.is_set():
            t0 = time.perf_counter()
            await asyncio.sleep(0.005)
            lag.append((time.perf_counter() - t0) * 1000 - 5)

    mon = asyncio.create_task(monitor())
    started = time.perf_counter()
    await asyncio.gather(*(customer(n, c, r) for n, (c, r) in enumerate(zip(conv_ids, rows,
                                                                          strict=True))))
    elapsed = time.perf_counter() - started
    await asyncio.sleep(0.5)  # a duplicate flush would show up here
    stop.set()
    await asyncio.gather(*loops, mon)

    bursts = len(conv_ids) * args.bursts
    total = sum(len(v) for v in flushes.values())
    exact = sum(
        1 for c, r in zip(conv_ids, rows, strict=True)
        if [ids for _, ids in flushes[c]]
        == [r[b * args.messages:(b + 1) * args.messages] for b in range(args.bursts)]
    )
    flushed_rows = await pool.fetchval(
        "SELECT count(*) FROM chat_messages WHERE client_id = $1 AND status = 'flushed'"
        " AND burst_id IS NOT NULL", uuid.UUID(tenant),
    )
    print(f"conversations={len(conv_ids)} bursts/conv={args.bursts} messages/burst={args.messages}"
          f" quiet={args.quiet_ms} ms replicas={args.replicas} poll={args.poll_ms} ms")
    print(f"wall time {elapsed:.1f} s, {bursts * args.messages / elapsed:.0f} adds/s,"
          f" {total / elapsed:.0f} flushes/s")
    print(f"flushes per burst: {total / bursts:.2f} ({total} flushes / {bursts} bursts),"
          f" conversations with exactly the expected bursts in order: {exact}/{len(conv_ids)},"
          f" waits timed out: {timeouts}")
    print(f"rows marked flushed: {flushed_rows}/{bursts * args.messages}")
    print(f"add latency (ms): p50={statistics.median(add_ms):.2f} p99={pct(add_ms, 99):.2f}"
          f" max={max(add_ms):.1f}")
    print(f"event-loop lag (ms): p50={statistics.median(lag):.2f} p99={pct(lag, 99):.2f}"
          f" max={max(lag):.1f}")
    if late:
        print(f"lateness after the quiet window (ms): p50={statistics.median(late):.1f}"
              f" p90={pct(late, 90):.1f} p99={pct(late, 99):.1f} max={max(late):.1f}"
              f" min={min(late):.1f}")


def main() -> None:
    args = parse_args()
    if args.uvloop:
        import uvloop

        uvloop.run(bench(args))
    else:
        asyncio.run(bench(args))


if __name__ == "__main__":
    main()
