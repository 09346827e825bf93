"""Follow-up scan benchmark: claim time (database) over N conversations, and sends/s.

Creates a fresh temporary database, COPYs tenants and conversations (a share of
them due), then measures the claim statement with EXPLAIN ANALYZE (rolled back)
and one full scan through the service's handlers with a fake publisher.

    .venv/bin/python bench/followup.py --conversations 1000000 --tenants 1000 --due-pct 1
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

# this file is named like the service package: keep its folder from shadowing `followup`
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

import asyncpg  # noqa: E402
import orjson  # noqa: E402

from followup.main import bootstrap  # noqa: E402
from followup.settings import FollowupSettings  # noqa: E402
from followup.store import LOCK_DUE_FOLLOWUPS  # noqa: E402
from wacommon.broker.publisher import FakePublisher  # noqa: E402
from wacommon.infra.db import _init_connection, create_pool  # noqa: E402
from wacommon.migrations import apply_migrations, ensure_database  # noqa: E402

PLAN = {
    "active": True,
    "stages": [
        {"delay_minutes": 60, "message": "Oi! Ainda posso ajudar?"},
        {"delay_minutes": 1440, "prompt": "Pergunte se ainda tem interesse"},
    ],
}
COLUMNS = (
    "id",
    "client_id",
    "contact_key",
    "provider",
    "state",
    "last_customer_message_at",
    "last_bot_message_at",
    "last_role",
    "followup_stage",
    "followup_due_at",
)


def conversations(
    tenants: list[uuid.UUID], total: int, due_pct: float, now: datetime, seed: int
) -> Iterator[tuple[Any, ...]]:
    """Rows: `due_pct` % due now, the rest armed later, unarmed, or not in bot state."""
    rnd = random.Random(seed)
    due_every = max(1, round(100 / due_pct)) if due_pct > 0 else 0
    for i in range(total):
        client = tenants[i % len(tenants)]
        customer_at = now - timedelta(minutes=rnd.randint(70, 600))
        bot_at = customer_at + timedelta(minutes=1)
        state, due = "bot", None
        if due_every and i % due_every == 0:
            due = now - timedelta(seconds=rnd.randint(1, 3600))
        else:
            r = rnd.random()
            if r < 0.5:
                due = now + timedelta(minutes=rnd.randint(1, 10_000))
            elif r < 0.6:
                state = rnd.choice(("human", "closed", "opted_out"))
        provider = "meta" if i % 3 == 0 else "uazapi"
        yield (
            uuid.uuid4(),
            client,
            f"55119{i:08d}",
            provider,
            state,
            customer_at,
            bot_at,
            "bot",
            0,
            due,
        )


async def load(conn: asyncpg.Connection, args: argparse.Namespace, now: datetime) -> int:
    tenants = [uuid.uuid4() for _ in range(args.tenants)]
    # jsonb has no binary COPY encoder here: the few tenants go in with one executemany
    await conn.executemany(
        "INSERT INTO clients (id, name, timezone, followup_config) VALUES ($1, $2, $3, $4)",
        [(t, f"bench-{i}", "America/Sao_Paulo", PLAN) for i, t in enumerate(tenants)],
    )
    rows = conversations(tenants, args.conversations, args.due_pct, now, args.seed)
    chunk: list[tuple[Any, ...]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == 100_000:
            await conn.copy_records_to_table("active_conversations", columns=COLUMNS, records=chunk)
            chunk = []
    if chunk:
        await conn.copy_records_to_table("active_conversations", columns=COLUMNS, records=chunk)
    await conn.execute("VACUUM ANALYZE active_conversations")
    due: int = await conn.fetchval(
        "SELECT count(*) FROM active_conversations WHERE state = 'bot' AND followup_due_at <= $1",
        now,
    )
    return due


async def explain_claim(conn: asyncpg.Connection, now: datetime, limit: int) -> tuple[float, int]:
    """(planning + execution ms, rows) of one claim (SKIP LOCKED), measured by the server."""
    tr = conn.transaction()
    await tr.start()
    try:
        plan = await conn.fetchval(
            "EXPLAIN (ANALYZE, FORMAT JSON) " + LOCK_DUE_FOLLOWUPS, now, limit
        )
    finally:
        await tr.rollback()
    top = plan[0] if isinstance(plan, list) else plan
    return float(top["Execution Time"]) + float(top["Planning Time"]), int(
        top["Plan"]["Actual Rows"]
    )


async def batched_claims(dsn: str, now: datetime, batch: int) -> tuple[float, int, int]:
    """Server time of the claims one scan makes; earlier batches stay locked (own connections),
    so each claim skips them as it would skip rows already processed."""
    held: list[asyncpg.Connection] = []
    total, claimed = 0.0, 0
    try:
        while True:
            conn = await asyncpg.connect(dsn)
            held.append(conn)
            await conn.execute("BEGIN")
            plan = await conn.fetchval(
                "EXPLAIN (ANALYZE, FORMAT JSON) " + LOCK_DUE_FOLLOWUPS, now, batch
            )
            top = orjson.loads(plan)[0]
            total += float(top["Execution Time"]) + float(top["Planning Time"])
            rows = int(top["Plan"]["Actual Rows"])
            claimed += rows
            if rows < batch:
                return total, len(held), claimed
    finally:
        for conn in held:
            await conn.close()


async def run(args: argparse.Namespace) -> None:
    base = args.pg_base.rstrip("/")
    name = f"wa_bench_followup_{uuid.uuid4().hex[:8]}"
    dsn = f"{base}/{name}"
    await ensure_database(dsn)
    try:
        await apply_migrations(dsn)
        now = datetime.now(UTC).replace(microsecond=0)
        conn = await asyncpg.connect(dsn)
        try:
            await _init_connection(conn)
            started = time.perf_counter()
            due = await load(conn, args, now)
            print(
                f"loaded {args.conversations:,} conversations of {args.tenants:,} tenants "
                f"({due:,} due) in {time.perf_counter() - started:.1f} s"
            )
            for limit in (due, args.batch):
                samples = [await explain_claim(conn, now, limit) for _ in range(args.repeat)]
                times = sorted(ms for ms, _ in samples)
                print(
                    f"claim LIMIT {limit:,}: {samples[0][1]:,} rows, database time "
                    f"median {statistics.median(times):.1f} ms, min {times[0]:.1f} ms "
                    f"(EXPLAIN ANALYZE, {args.repeat} runs, rolled back)"
                )
            total, statements, claimed = await batched_claims(dsn, now, args.batch)
            print(
                f"claim all due in batches of {args.batch} (locks held as in a scan): "
                f"{claimed:,} rows in {statements} statements, database time {total:.1f} ms"
            )
        finally:
            await conn.close()

        settings = FollowupSettings(
            _env_file=None,
            database_url=dsn,
            followup_batch=args.batch,
            followup_concurrency=args.concurrency,
        )
        pool = await create_pool(settings, min_size=2, max_size=args.concurrency + 2)
        try:
            publisher = FakePublisher()
            scanner = bootstrap(settings, pool=pool, publisher=publisher)
            started = time.perf_counter()
            result = await scanner.run_once(now)
            elapsed = time.perf_counter() - started
            sent = result.followups["sent"] + result.followups["skipped"]
            print(
                f"scan: {dict(result.followups)} in {elapsed:.2f} s -> "
                f"{result.followups['sent'] / elapsed:,.0f} sends/s "
                f"({sent / elapsed:,.0f} rows/s incl. skips); "
                f"{len(publisher.published):,} SendReply published"
            )
            again = await scanner.run_once(now)
            print(f"second scan at the same instant: {dict(again.followups) or 'nothing due'}")
        finally:
            await pool.close()
    finally:
        if not args.keep:
            admin = await asyncpg.connect(f"{base}/postgres")
            try:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                await admin.close()


def main() -> None:
    """Parse the sizes and run the benchmark once."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--conversations", type=int, default=1_000_000)
    parser.add_argument("--tenants", type=int, default=1_000)
    parser.add_argument("--due-pct", type=float, default=1.0)
    parser.add_argument("--batch", type=int, default=500, help="rows claimed per statement")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the temporary database")
    parser.add_argument(
        "--pg-base", default=os.environ.get("TEST_PG_BASE", "postgresql://postgres@127.0.0.1:5432")
    )
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
