"""The faster latency stage gives the rows the previous one gave, on a generated event log.

The histogram stage used to group the raw JSON latencies first and check and bucket each
group afterwards (on one core); it now checks and buckets each event in the parallel
scan, and the maps stage feeds its outer aggregate sorted. Both runs below roll up the
same events (malformed latencies included) through the same merge into `metrics_daily`,
each in a transaction rolled back, and must store identical rows.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import orjson

from wacommon.metrics.merge_sql import MERGE_SQL
from wacommon.metrics.prices import PricedSettings
from wacommon.metrics.rollup_sql import (  # the parts the old stage used
    _DAY,
    _NUM,
    _SOURCE,
    TEMP_TABLES,
    select_sql,
)

# the previous histogram stage, verbatim
_OLD_HIST = """
SELECT client_id, day, jsonb_object_agg(b::text, n) AS hist,
       min(b) FILTER (WHERE cum >= ceil(0.9 * total)) AS p90
FROM (SELECT client_id, day, b, n,
             sum(n) OVER (PARTITION BY client_id, day ORDER BY b) AS cum,
             sum(n) OVER (PARTITION BY client_id, day) AS total
      FROM (SELECT client_id, day,
                   CASE WHEN lat < 1000 THEN lat
                        ELSE lat - lat % (10 ^ (length(lat::text) - 3))::bigint END AS b,
                   sum(n) AS n
            FROM (SELECT client_id, day, {raw_latency} AS lat, n
                  FROM (SELECT e.client_id, {day} AS day, e.data->'latency_ms' AS raw,
                               count(*) AS n
                        {source} AND e.event_type = 'ai_responded'
                        GROUP BY 1, 2, 3) r
                  OFFSET 0) x
            WHERE lat IS NOT NULL
            GROUP BY 1, 2, 3) g) w
GROUP BY 1, 2
"""
# this run's tenants only (other tests share the database)
FILTER = "e.client_id = ANY($2::uuid[])"
LATENCIES: list[Any] = [0, 7, 999, 1000, 1234, 1239, 98765, 4.6, 12.5, -3, "900", None, 2e15]


def _old_stage() -> list[str]:
    days, conv, _, maps, quality = select_sql(FILTER)
    hist = _OLD_HIST.format(
        raw_latency=_NUM.format(v="r.raw"), day=_DAY, source=_SOURCE.format(filter=FILTER)
    )
    unsorted_maps = maps.replace("    ORDER BY 1, 2\n) g", ") g")
    assert unsorted_maps != maps
    return [days, conv, hist, unsorted_maps, quality]


async def _rolled_up(
    pool: asyncpg.Pool, selects: list[str], tenants: list[str], prices: dict[str, Any]
) -> list[dict[str, Any]]:
    async with pool.acquire() as conn:
        tr = conn.transaction()
        await tr.start()
        try:
            await conn.execute(
                "SELECT set_config('metrics.prices', $1::text, true)", orjson.dumps(prices).decode()
            )
            # the zones PostgreSQL does not know count in UTC, as the aggregation passes them
            unknown = await conn.fetchval(
                "SELECT coalesce(array_agg(tz) FILTER (WHERE metrics_tz(tz) <> tz), '{}')"
                " FROM (SELECT DISTINCT timezone AS tz FROM clients) z"
            )
            for name, sql in zip(TEMP_TABLES, selects, strict=True):
                await conn.execute(
                    f"CREATE TEMP TABLE {name} ON COMMIT DROP AS {sql}", unknown, tenants
                )
            await conn.fetchrow(MERGE_SQL, prices)
            rows = await conn.fetch(
                "SELECT * FROM metrics_daily WHERE client_id = ANY($1::uuid[])"
                " ORDER BY client_id, day",
                tenants,
            )
        finally:
            await tr.rollback()
    return [{k: v for k, v in dict(r).items() if k != "updated_at"} for r in rows]


async def test_new_latency_and_maps_stages_store_what_the_old_ones_did(pool: asyncpg.Pool) -> None:
    rng = random.Random(13)
    tenants = [
        str(
            await pool.fetchval(
                "INSERT INTO clients (name, timezone) VALUES ($1, $2) RETURNING id",
                f"rewrite-{i}",
                zone,
            )
        )
        for i, zone in enumerate(("America/Sao_Paulo", "UTC", "Not/AZone"))
    ]
    now = datetime.now(UTC)
    rows = []
    for _ in range(3000):
        kind = rng.choice(["ai_responded"] * 5 + ["tool_used", "llm_usage", "msg_received"])
        data: dict[str, Any] = {"model": rng.choice(["gpt-4o-mini", "gemini-2.5-flash", None])}
        if kind == "ai_responded":
            data["latency_ms"] = rng.choice(
                [*LATENCIES, int(rng.lognormvariate(7.5, 0.8)), rng.randint(0, 999)]
            )
            data.update(tokens_in=rng.randint(0, 3000), tokens_out=rng.randint(0, 400))
        elif kind == "tool_used":
            data.update(tool=rng.choice(["cep", "crm"]), ok=rng.random() > 0.2)
        rows.append(
            (
                rng.choice(tenants),
                str(uuid.UUID(int=rng.getrandbits(128))),
                kind,
                orjson.dumps(data).decode(),
                now - timedelta(minutes=rng.randint(0, 60 * 24 * 9)),
            )
        )
    await pool.executemany(
        "INSERT INTO conversation_events (client_id, conversation_id, event_type, data,"
        " created_at) VALUES ($1, $2, $3, $4::text::jsonb, $5)",
        rows,
    )
    prices = PricedSettings(_env_file=None).price_map()
    old = await _rolled_up(pool, _old_stage(), tenants, prices)
    new = await _rolled_up(pool, select_sql(FILTER), tenants, prices)
    assert len(old) >= 20  # days of three tenants, each with a histogram
    assert sum(1 for r in old if r["response_time_hist"]) >= 20
    assert new == old
