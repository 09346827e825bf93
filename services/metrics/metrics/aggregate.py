"""Incremental aggregation and recompute of `metrics_daily`, advanced by a transaction-id watermark.

A run takes the watermark row lock (SKIP LOCKED: a second replica skips the tick),
reads `pg_snapshot_xmin` (every transaction below it has finished, so every row it
wrote is visible now), rolls up the events with `lo <= xact_id < xmin` and moves the
watermark to `xmin`, all in one transaction. Rows of a transaction still open stay
above the watermark until it ends, so late commits are neither skipped nor counted twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from wacommon.metrics.merge_sql import MERGE_SQL
from wacommon.metrics.rollup_sql import ALL_STAGE, INCREMENT_STAGE, RANGE_STAGE, TEMP_TABLES

WATERMARK = "daily"
# the rollup hashes and sorts in memory; JIT compilation costs more than it saves here; a
# generic plan (asyncpg prepares statements) would scan every partition for a small xid range;
# the default parallel costs keep the conversation and latency stages on one core although
# their scans split well across workers
_SESSION = (
    "SET LOCAL work_mem = '256MB'; SET LOCAL hash_mem_multiplier = 4; SET LOCAL jit = off;"
    " SET LOCAL plan_cache_mode = force_custom_plan;"
    " SET LOCAL parallel_setup_cost = 100; SET LOCAL parallel_tuple_cost = 0.01"
)
# a catch-up after downtime may roll up millions of events: longer than the pool's default
_ROLLUP_TIMEOUT_S = 3600.0
# below this many tenant-days the default plan of the merge is fine without statistics
_ANALYZE_ABOVE = 5000
# local days are computed in the tenant's zone: UTC offsets stay within +-14 h
_ZONE_MARGIN = timedelta(days=2)


@dataclass(frozen=True)
class RollupResult:
    """What one run counted: events read and tenant-day rows written."""

    events: int
    rows: int
    lo: str
    hi: str


async def aggregate_increment(pool: asyncpg.Pool, prices: dict[str, Any]) -> RollupResult | None:
    """Roll up the events committed since the last run; None when another replica holds the lock."""
    async with pool.acquire() as conn, conn.transaction():
        lo = await conn.fetchval(
            "SELECT xact_hi::text FROM metrics_watermark WHERE name = $1 FOR UPDATE SKIP LOCKED",
            WATERMARK,
        )
        if lo is None:
            return None
        hi = await conn.fetchval("SELECT pg_snapshot_xmin(pg_current_snapshot())::text")
        if int(hi) <= int(lo):
            return RollupResult(0, 0, lo, lo)
        await conn.execute(_SESSION)
        row = await _rollup(conn, prices, INCREMENT_STAGE, lo, hi)
        await conn.execute(
            "UPDATE metrics_watermark SET xact_hi = $2::text::xid8, runs = runs + 1,"
            " updated_at = now() WHERE name = $1",
            WATERMARK,
            hi,
        )
        return RollupResult(int(row["events"]), int(row["rows"]), lo, hi)


async def recompute(
    pool: asyncpg.Pool,
    prices: dict[str, Any],
    *,
    start: date | None = None,
    end: date | None = None,
    tenant_id: str | None = None,
) -> RollupResult:
    """Rebuild the rows of [start, end] (all days when omitted) from the event log.

    Counts exactly the events below the watermark, i.e. what the incremental path has
    counted, so the rebuilt rows equal the incremental ones.
    """
    if (start is None) != (end is None):
        raise ValueError("start and end go together")
    async with pool.acquire() as conn, conn.transaction():
        hi = await conn.fetchval(
            "SELECT xact_hi::text FROM metrics_watermark WHERE name = $1 FOR UPDATE", WATERMARK
        )
        await conn.execute(_SESSION)
        if start is None or end is None:
            if tenant_id is not None:
                raise ValueError("a tenant recompute needs a date range")
            await conn.execute("DELETE FROM metrics_daily_conversations")
            await conn.execute("DELETE FROM metrics_daily")
            row = await _rollup(conn, prices, ALL_STAGE, hi)
        else:
            await _delete_range(conn, start, end, tenant_id)
            t0 = datetime.combine(start, time(), UTC) - _ZONE_MARGIN
            t1 = datetime.combine(end, time(), UTC) + _ZONE_MARGIN
            row = await _rollup(conn, prices, RANGE_STAGE, hi, t0, t1, tenant_id, start, end)
        return RollupResult(int(row["events"]), int(row["rows"]), "0", hi)


async def _rollup(
    conn: PoolConnectionProxy[Any], prices: dict[str, Any], stage: list[str], *args: Any
) -> asyncpg.Record:
    # the run's price map for the maps stage, and the zone names PostgreSQL does not know
    unknown = await conn.fetchval(
        "SELECT coalesce(array_agg(tz) FILTER (WHERE metrics_tz(tz) <> tz), '{}'),"
        " set_config('metrics.prices', $1::jsonb::text, true)"
        " FROM (SELECT DISTINCT timezone AS tz FROM clients) z",
        prices,
    )
    statuses = [
        await conn.execute(statement, unknown, *args, timeout=_ROLLUP_TIMEOUT_S)
        for statement in stage
    ]
    days = int(statuses[0].rsplit(" ", 1)[-1])  # "SELECT n": the tenant-days of `ms_days`
    if days > _ANALYZE_ABOVE:
        # row counts for the merge's join plan (temp tables are never auto-analyzed)
        await conn.execute(f"ANALYZE {', '.join(TEMP_TABLES)}", timeout=_ROLLUP_TIMEOUT_S)
    # the stage tables are ON COMMIT DROP: gone with this transaction
    row: asyncpg.Record | None = await conn.fetchrow(MERGE_SQL, prices, timeout=_ROLLUP_TIMEOUT_S)
    assert row is not None  # an aggregate-only SELECT always returns one row
    return row


async def _delete_range(
    conn: PoolConnectionProxy[Any], start: date, end: date, tenant_id: str | None
) -> None:
    for table in ("metrics_daily_conversations", "metrics_daily"):
        if tenant_id is None:
            await conn.execute(f"DELETE FROM {table} WHERE day BETWEEN $1 AND $2", start, end)
        else:
            await conn.execute(
                f"DELETE FROM {table} WHERE client_id = $1 AND day BETWEEN $2 AND $3",
                tenant_id,
                start,
                end,
            )
