"""Debounce benchmark: N concurrent conversations send bursts; how late is each flush?

Lateness = time `on_flush` is called - the burst's deadline (arrival of its last message in
Redis + quiet window, as returned by `add`; same host clock). Every message id must be flushed
exactly once and in order. Runs against a fresh temporary database and a random Redis prefix, both removed at the end.

    .venv/bin/python bench/debounce.py --conversations 1000 --bursts 3 --messages 4 --quiet-ms 1000
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from datetime import UTC, datetime

import asyncpg
import orjson
import redis.asyncio as aioredis

from lancepilot_ingest.bursts import Burst, DebounceConfig
from lancepilot_ingest.debounce import Debouncer
from wacommon.infra.db import create_pool
from wacommon.infra.logging import configure_logging
from wacommon.infra.settings import Settings
from wacommon.migrations import apply_migrations, ensure_database


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--conversations", type=int, default=1000)
    p.add_argument("--bursts", type=int, default=3, help="bursts per conversation")
    p.add_argument("--messages", type=int, default=4, help="messages per burst")
    p.add_argument("--quiet-ms", type=int, default=1000)
    p.add_argument("--gap-ms", type=int, default=0, help="max gap inside a burst (quiet/4)")
    p.add_argument("--processes", type=int, default=2, help="debouncer replicas (OS processes)")
    p.add_argument("--poll-ms", type=float, default=20.0)
    p.add_argument("--pg-base", default="postgresql://postgres@127.0.0.1:5432")
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--redis-connections", type=int, default=64)
    p.add_argument("--uvloop", action="store_true", help="run on uvloop (as uvicorn does)")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--dsn", help=argparse.SUPPRESS)
    p.add_argument("--prefix", help=argparse.SUPPRESS)
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
            records=[
                (uuid.UUID(c), uuid.UUID(tenant), f"c{i}", "uazapi") for i, c in enumerate(conv_ids)
            ],
            columns=["id", "client_id", "contact_key", "provider"],
        )
        rows = [
            (
                uuid.UUID(tenant),
                uuid.UUID(c),
                "in",
                "customer",
                "uazapi",
                f"{c}-{k}",
                f"msg {k}",
                "buffered",
            )
            for c in conv_ids
            for k in range(per_conv)
        ]
        await conn.copy_records_to_table(
            "chat_messages",
            records=rows,
            columns=[
                "client_id",
                "conversation_id",
                "direction",
                "role",
                "provider",
                "provider_message_id",
                "content",
                "status",
            ],
        )
        await conn.execute("ANALYZE chat_messages")
        fetched = await conn.fetch(
            "SELECT id, conversation_id FROM chat_messages WHERE client_id = $1 ORDER BY id",
            uuid.UUID(tenant),
        )
    by_conv: dict[str, list[int]] = defaultdict(list)
    for r in fetched:
        by_conv[str(r["conversation_id"])].append(r["id"])
    return conv_ids, [by_conv[c] for c in conv_ids]


async def worker(args: argparse.Namespace) -> None:
    """One debouncer replica (an OS process): flushes go to a Redis list the driver reads."""
    settings = bench_settings(args.dsn, args.redis_url, args.prefix)
    configure_logging(settings)
    pool = await create_pool(settings, min_size=2, max_size=5)
    redis = aioredis.Redis(
        connection_pool=aioredis.BlockingConnectionPool.from_url(args.redis_url, max_connections=32)
    )
    results, stop_key = settings.rkey("bench", "flushes"), settings.rkey("bench", "stop")

    async def on_flush(burst: Burst) -> None:
        at = time.time()
        await redis.rpush(results, orjson.dumps([burst.conversation_id, burst.message_ids, at]))

    stop = asyncio.Event()
    deb = Debouncer(redis, settings, pool, poll_interval_s=args.poll_ms / 1000)
    task = asyncio.create_task(deb.run(stop, on_flush))
    await redis.incr(settings.rkey("bench", "ready"))
    while not await redis.exists(stop_key):
        await asyncio.sleep(0.05)
    stop.set()
    await task
    await redis.aclose()
    await pool.close()


def bench_settings(dsn: str, redis_url: str, prefix: str) -> Settings:
    return Settings(
        _env_file=None,
        database_url=dsn,
        redis_url=redis_url,
        redis_prefix=prefix,
        log_level="WARNING",
    )


async def bench(args: argparse.Namespace) -> None:
    run = uuid.uuid4().hex[:10]
    dsn = f"{args.pg_base}/wa_bench_{run}"
    settings = bench_settings(dsn, args.redis_url, f"bench{run}:")
    configure_logging(settings)
    await ensure_database(dsn)
    pool = None
    redis = aioredis.Redis(
        connection_pool=aioredis.BlockingConnectionPool.from_url(
            args.redis_url, max_connections=args.redis_connections
        )
    )
    try:
        await apply_migrations(dsn)
        pool = await create_pool(settings, min_size=4, max_size=10)
        tenant = str(
            await pool.fetchval("INSERT INTO clients (name) VALUES ('bench') RETURNING id")
        )
        per_conv = args.bursts * args.messages
        conv_ids, rows = await seed_rows(pool, tenant, args.conversations, per_conv)
        workers = [
            subprocess.Popen(
                [
                    sys.executable,
                    __file__,
                    *(["--uvloop"] if args.uvloop else []),
                    "--worker",
                    "--dsn",
                    dsn,
                    "--prefix",
                    settings.redis_prefix,
                    "--redis-url",
                    args.redis_url,
                    "--poll-ms",
                    str(args.poll_ms),
                ]
            )
            for _ in range(args.processes)
        ]
        try:
            ready = settings.rkey("bench", "ready")
            while int(await redis.get(ready) or 0) < args.processes:
                await asyncio.sleep(0.05)
            await measure(args, settings, redis, pool, tenant, conv_ids, rows)
        finally:
            await redis.set(settings.rkey("bench", "stop"), 1)
            for w in workers:
                w.wait(timeout=30)
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
    args: argparse.Namespace,
    settings: Settings,
    redis: aioredis.Redis,
    pool: asyncpg.Pool,
    tenant: str,
    conv_ids: list[str],
    rows: list[list[int]],
) -> None:
    rng = random.Random(args.seed)
    cfg = DebounceConfig(
        quiet_ms=args.quiet_ms,
        max_wait_ms=max(30000, 4 * args.quiet_ms),
        max_burst=max(20, args.messages + 1),
    )
    gap_ms = args.gap_ms or max(1, args.quiet_ms // 4)
    flushes: dict[str, list[tuple[float, list[int]]]] = defaultdict(list)
    last_id: dict[str, int] = {}
    done: dict[str, asyncio.Event] = {c: asyncio.Event() for c in conv_ids}

    stop = asyncio.Event()
    results = settings.rkey("bench", "flushes")
    reader_redis = aioredis.from_url(args.redis_url)

    async def reader() -> None:
        while not stop.is_set():
            item = await reader_redis.blpop([results], timeout=0.05)
            if item is None:
                continue
            conv, ids, at = orjson.loads(item[1])
            flushes[conv].append((at, ids))
            if last_id.get(conv) in ids:
                done[conv].set()

    # the driver only adds (as ingest replicas would); the flushing replicas are OS processes
    deb = Debouncer(redis, settings, pool)
    loops = [asyncio.create_task(reader())]
    late: list[float] = []
    late_sent: list[float] = []
    add_ms: list[float] = []
    lag: list[float] = []
    timeouts = 0

    async def monitor() -> None:
        while not stop.is_set():
            t0 = time.perf_counter()
            await asyncio.sleep(0.005)
            lag.append((time.perf_counter() - t0) * 1000 - 5)

    async def customer(n: int, conv: str, ids: list[int]) -> None:
        nonlocal timeouts
        crng = random.Random(rng.random())
        await asyncio.sleep(crng.uniform(0, 2 * args.quiet_ms / 1000))
        for b in range(args.bursts):
            burst_ids = ids[b * args.messages : (b + 1) * args.messages]
            done[conv].clear()
            last_id[conv] = burst_ids[-1]
            sent_at = deadline = 0.0
            for k, mid in enumerate(burst_ids):
                if k:
                    await asyncio.sleep(crng.uniform(0.05 * gap_ms, gap_ms) / 1000)
                sent_at = time.time()
                due = await deb.add(tenant, conv, mid, f"msg {k}", datetime.now(UTC), cfg)
                add_ms.append((time.time() - sent_at) * 1000)
                assert due is not None
                deadline = due.timestamp()
            try:
                await asyncio.wait_for(done[conv].wait(), 10 + args.quiet_ms / 1000)
            except TimeoutError:
                timeouts += 1
                continue
            flushed_at = next(t for t, got in flushes[conv] if burst_ids[-1] in got)
            late.append((flushed_at - deadline) * 1000)
            late_sent.append((flushed_at - sent_at) * 1000 - args.quiet_ms)
            await asyncio.sleep(crng.uniform(0.1, 0.5))

    mon = asyncio.create_task(monitor())
    started = time.perf_counter()
    await asyncio.gather(
        *(customer(n, c, r) for n, (c, r) in enumerate(zip(conv_ids, rows, strict=True)))
    )
    elapsed = time.perf_counter() - started
    await asyncio.sleep(1.0)  # a duplicate flush would show up here
    stop.set()
    await asyncio.gather(*loops, mon)
    await reader_redis.aclose()

    bursts = len(conv_ids) * args.bursts
    total = sum(len(v) for v in flushes.values())
    seen: Counter[int] = Counter(i for v in flushes.values() for _, ids in v for i in ids)
    expected = [i for r in rows for i in r]
    twice = sum(1 for i in expected if seen[i] > 1)
    never = sum(1 for i in expected if seen[i] == 0)
    in_order = sum(
        1
        for c, r in zip(conv_ids, rows, strict=True)
        if [i for _, ids in flushes[c] for i in ids] == r
    )
    flushed_rows = await pool.fetchval(
        "SELECT count(*) FROM chat_messages WHERE client_id = $1 AND status = 'flushed'"
        " AND burst_id IS NOT NULL",
        uuid.UUID(tenant),
    )
    print(
        f"conversations={len(conv_ids)} bursts/conv={args.bursts} messages/burst={args.messages}"
        f" quiet={args.quiet_ms} ms gap<={gap_ms} ms flushing processes={args.processes}"
        f" poll={args.poll_ms} ms"
    )
    print(
        f"wall {elapsed:.1f} s: {len(expected) / elapsed:.0f} adds/s, {total / elapsed:.0f}"
        f" flushes/s; add latency p50={statistics.median(add_ms):.2f} ms"
        f" p99={pct(add_ms, 99):.2f} ms; event-loop lag p99={pct(lag, 99):.1f} ms"
    )
    print(
        f"flushes per burst: {total / bursts:.2f} ({total} flushes / {bursts} bursts;"
        f" a burst splits only if a gap between arrivals exceeded the quiet window)"
    )
    print(
        f"messages flushed twice: {twice}, never: {never}; conversations in order:"
        f" {in_order}/{len(conv_ids)}; rows marked flushed: {flushed_rows}/{len(expected)};"
        f" waits timed out: {timeouts}"
    )
    if late:
        print(
            f"flush delay after the quiet window's end (ms): p50={statistics.median(late):.1f}"
            f" p90={pct(late, 90):.1f} p99={pct(late, 99):.1f} max={max(late):.1f}"
            f" min={min(late):.1f}"
        )
        print(
            f"  measured from before the last add call instead: p50="
            f"{statistics.median(late_sent):.1f} p99={pct(late_sent, 99):.1f}"
        )


def main() -> None:
    args = parse_args()
    coro = worker(args) if args.worker else bench(args)
    if args.uvloop:
        import uvloop

        uvloop.run(coro)
    else:
        asyncio.run(coro)


if __name__ == "__main__":
    main()
