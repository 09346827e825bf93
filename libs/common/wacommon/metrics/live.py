"""A tenant's (or every tenant's) days over a date range, with today computed live.

Past days come from `metrics_daily` (as of the last aggregation run, at most
`AGGREGATION_INTERVAL_S` old). Today is computed from the event log itself with the
rollup's own stage SELECTs (`metrics_rollup_sql.select_sql`), so today's figures count
every committed event and are defined exactly as the stored rows are: after the next
aggregation the stored row of today equals what this module showed for it.

Used by the console's `/metricas` page and `/api/metrics` (services depend on libs only).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

import asyncpg
import orjson

from wacommon.metrics.rollup_sql import select_sql

# today's events in each tenant's own zone ($2: one tenant, or NULL for all of them), when
# the range [$3, $4] holds today (a past range reads no event); the time bound lets the
# planner skip old partitions (zones stay within +-14 h of UTC)
LIVE_FILTER = (
    "e.created_at >= now() - interval '2 days'"
    " AND ($2::uuid IS NULL OR e.client_id = $2::uuid)"
    " AND (now() AT TIME ZONE c.tz)::date BETWEEN $3::date AND $4::date"
    " AND (e.created_at AT TIME ZONE c.tz)::date = (now() AT TIME ZONE c.tz)::date"
)


def _live_rows_sql() -> str:
    days, conv, hist, maps, quality = select_sql(LIVE_FILTER)
    # the columns of a `metrics_daily` row as the merge derives them from the stage tables
    return f"""
    WITH ld AS ({days}), lc AS ({conv}), lh AS ({hist}), lm AS ({maps}), lq AS ({quality})
    SELECT d.client_id, d.day,
           coalesce(cardinality(lc.ids), 0) AS conversations,
           d.messages_in,
           d.sent - d.sent_human AS messages_out_bot,
           d.sent_human + d.human_responded AS messages_out_human,
           d.resolved - d.by_human AS resolved_by_ai,
           d.by_human AS resolved_by_human,
           d.takeovers AS human_takeovers,
           d.fu_sent AS followups_sent,
           d.fu_converted AS followups_converted,
           d.resp_n AS response_count,
           d.resp_sum AS response_time_sum_ms,
           coalesce(lh.hist, '{{}}'::jsonb) AS response_time_hist,
           coalesce(lm.causes, '{{}}'::jsonb) AS handover_causes,
           coalesce(lm.cost, 0) AS cost_usd,
           d.q_turns AS quality_turns,
           d.q_judged AS quality_judged,
           d.q_grounded AS quality_grounded,
           d.q_passages AS quality_passages,
           d.q_repeated AS quality_repeated,
           d.q_tokens_in AS quality_tokens_in,
           d.q_tokens_out AS quality_tokens_out,
           d.q_cost_brl AS quality_cost_brl,
           coalesce(lq.silent, '{{}}'::jsonb) AS silent_reasons,
           coalesce(lq.handovers, '{{}}'::jsonb) AS handover_categories
    FROM ld d
    LEFT JOIN lc USING (client_id, day)
    LEFT JOIN lh USING (client_id, day)
    LEFT JOIN lm USING (client_id, day)
    LEFT JOIN lq USING (client_id, day)"""


# the sums of the `turn_quality` events (waai.turn_quality), columns of `metrics_daily`
QUALITY_COUNTS = (
    "quality_turns",
    "quality_judged",
    "quality_grounded",
    "quality_passages",
    "quality_repeated",
    "quality_tokens_in",
    "quality_tokens_out",
)
COUNTS = (
    "conversations",
    "messages_in",
    "messages_out_bot",
    "messages_out_human",
    "resolved_by_ai",
    "resolved_by_human",
    "human_takeovers",
    "followups_sent",
    "followups_converted",
    "response_count",
    "response_time_sum_ms",
    *QUALITY_COUNTS,
)
# {key: count} columns summed over the whole range: (column, key of the answer)
_RANGE_MAPS = (
    ("handover_causes", "causes"),
    ("silent_reasons", "silent"),
    ("handover_categories", "handovers"),
)
_COLUMNS = (
    *COUNTS,
    "response_time_hist",
    *(column for column, _ in _RANGE_MAPS),
    "cost_usd",
    "quality_cost_brl",
)
_SUMS = ", ".join(f"sum({c})::int8 AS {c}" for c in COUNTS)
_SUMS_JSON = ", ".join(f"'{c}', {c}" for c in COUNTS)
_MAP_ENTRIES = " UNION ALL ".join(
    f"SELECT '{key}' AS m, * FROM jsonb_each_text(r.{column})" for column, key in _RANGE_MAPS
)
_MAP_JSON = ",\n    ".join(
    f"'{key}', coalesce((SELECT json_object_agg(key, n) FROM range_maps WHERE m = '{key}'),"
    " '{}'::json)"
    for _, key in _RANGE_MAPS
)

# $1 unknown zone names, $2 tenant or NULL, $3..$4 the range, $5 per-tenant totals wanted
RANGE_SQL = f"""
WITH zones AS (
    SELECT id, name, CASE WHEN timezone = ANY($1::text[]) THEN 'UTC' ELSE timezone END AS tz
    FROM clients WHERE $2::uuid IS NULL OR id = $2::uuid
),
live AS ({_live_rows_sql()}),
r AS (
    SELECT m.client_id, m.day, false AS live, {", ".join(f"m.{c}" for c in _COLUMNS)}
    FROM metrics_daily m JOIN zones z ON z.id = m.client_id
    WHERE m.day BETWEEN $3 AND $4 AND m.day <> (now() AT TIME ZONE z.tz)::date
    UNION ALL
    SELECT client_id, day, true, {", ".join(_COLUMNS)}
    FROM live WHERE day BETWEEN $3 AND $4
),
per_day AS (
    SELECT day, bool_or(live) AS live, {_SUMS}, sum(cost_usd)::float8 AS cost_usd,
           sum(quality_cost_brl)::float8 AS quality_cost_brl
    FROM r GROUP BY day
),
hist AS (
    SELECT day, json_object_agg(key, n) AS h
    FROM (SELECT r.day, x.key, sum(x.value::int8) AS n
          FROM r CROSS JOIN LATERAL jsonb_each_text(r.response_time_hist) x GROUP BY 1, 2) s
    GROUP BY day
),
range_maps AS (
    SELECT x.m, x.key, sum(x.value::int8) AS n
    FROM r CROSS JOIN LATERAL ({_MAP_ENTRIES}) x GROUP BY 1, 2
),
tenants AS (
    SELECT r.client_id, z.name, {_SUMS}, sum(r.cost_usd)::float8 AS cost_usd,
           sum(r.quality_cost_brl)::float8 AS quality_cost_brl
    FROM r JOIN zones z ON z.id = r.client_id GROUP BY 1, 2
)
SELECT json_build_object(
    'today', (SELECT max((now() AT TIME ZONE tz)::date) FROM zones),
    'days', coalesce((SELECT json_agg(json_build_object('day', p.day, 'live', p.live,
                                                        {_SUMS_JSON}, 'cost_usd', p.cost_usd,
                                                        'quality_cost_brl', p.quality_cost_brl,
                                                        'hist', h.h) ORDER BY p.day)
                      FROM per_day p LEFT JOIN hist h USING (day)), '[]'::json),
    {_MAP_JSON},
    'tenants', CASE WHEN $5 THEN coalesce(
        (SELECT json_agg(json_build_object('client_id', client_id, 'name', name,
                                           {_SUMS_JSON}, 'cost_usd', cost_usd,
                                           'quality_cost_brl', quality_cost_brl)
                         ORDER BY messages_in DESC, name, client_id) FROM tenants),
        '[]'::json) END
)::text
"""

# the zone names PostgreSQL does not know (those tenants count in UTC, as in the rollup)
_UNKNOWN_ZONES = (
    "SELECT coalesce(array_agg(tz) FILTER (WHERE metrics_tz(tz) <> tz), '{}')"
    " FROM (SELECT DISTINCT timezone AS tz FROM clients) z"
)


def p90(hist: Mapping[str, int]) -> int | None:
    """Nearest-rank 90th percentile of a {bucket_ms: count} histogram."""
    total = sum(hist.values())
    if not total:
        return None
    rank = math.ceil(total * 9 / 10)
    seen = 0
    for bucket in sorted(hist, key=int):
        seen += hist[bucket]
        if seen >= rank:
            return int(bucket)
    return None


def _add(into: dict[str, int], part: Mapping[str, int]) -> None:
    for key, n in part.items():
        into[key] = into.get(key, 0) + n


def _avg(total: int, n: int) -> int | None:
    # half away from zero, as PostgreSQL's round(): sums are never negative
    return math.floor(total / n + 0.5) if n else None


def _finish(row: dict[str, Any], hist: Mapping[str, int], usd_brl: float) -> dict[str, Any]:
    """Averages, p90 and R$ of one day or of the totals (in place; returns it)."""
    row["response_time_avg_ms"] = _avg(row.pop("response_time_sum_ms"), row["response_count"])
    row["response_time_p90_ms"] = p90(hist)
    row["resolved"] = row["resolved_by_ai"] + row["resolved_by_human"]
    row["cost_usd"] = round(float(row["cost_usd"] or 0), 6)
    row["cost_brl"] = round(row["cost_usd"] * usd_brl, 2)
    _quality(row)
    return row


def _ratio(part: float, whole: int, digits: int = 4) -> float | None:
    return round(part / whole, digits) if whole else None


def _quality(row: dict[str, Any]) -> None:
    """The per-turn figures of the `turn_quality` sums (in place)."""
    turns = row["quality_turns"]
    cost = round(float(row.get("quality_cost_brl") or 0), 6)
    row["quality_cost_brl"] = cost
    row["grounded_rate"] = _ratio(row["quality_grounded"], row["quality_judged"])
    row["repeated_rate"] = _ratio(row["quality_repeated"], turns)
    row["passages_per_turn"] = _ratio(row["quality_passages"], turns, 2)
    tokens = row["quality_tokens_in"] + row["quality_tokens_out"]
    row["tokens_per_turn"] = _ratio(tokens, turns, 1)
    row["cost_brl_per_turn"] = _ratio(cost, turns, 6)


def _totals(days: Iterable[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, int]]:
    totals: dict[str, Any] = dict.fromkeys(COUNTS, 0)
    totals["cost_usd"] = totals["quality_cost_brl"] = 0.0
    hist: dict[str, int] = {}
    for day in days:
        for name in COUNTS:
            totals[name] += day[name]
        totals["cost_usd"] += day["cost_usd"] or 0
        totals["quality_cost_brl"] += day["quality_cost_brl"] or 0
        _add(hist, day["hist"] or {})
    return totals, hist


def _by_count(counts: Mapping[str, int]) -> dict[str, int]:
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


async def metrics_range(
    pool: asyncpg.Pool,
    prices: Mapping[str, Any],
    *,
    tenant_id: str | None,
    start: date,
    end: date,
    usd_brl: float,
    per_tenant: bool = False,
) -> dict[str, Any]:
    """Days of [start, end] (today live), totals, handover causes and categories, silent turns
    per reason; `tenant_id` None = all.

    `prices` is the per-unit price map (`PricedSettings.price_map()`) that prices today's
    usage; `usd_brl` converts every cost to reais; `per_tenant` adds each tenant's totals.
    """
    async with pool.acquire() as conn, conn.transaction(readonly=True):
        # today's cost uses the rollup's own price lookup, which reads this setting
        await conn.execute(
            "SELECT set_config('metrics.prices', $1::text, true), set_config('jit', 'off', true)",
            orjson.dumps(prices).decode(),
        )
        unknown = await conn.fetchval(_UNKNOWN_ZONES)
        text = await conn.fetchval(RANGE_SQL, unknown, tenant_id, start, end, per_tenant)
    data = orjson.loads(text)
    days = data["days"]
    totals, hist = _totals(days)
    for day in days:
        _finish(day, day.pop("hist") or {}, usd_brl)
    totals["days"] = len(days)
    tenants = data["tenants"]
    for tenant in tenants or ():
        _finish(tenant, {}, usd_brl)
        del tenant["response_time_p90_ms"]
    return {
        "client_id": tenant_id,
        "from": start.isoformat(),
        "to": end.isoformat(),
        "today": data["today"],
        "usd_brl": usd_brl,
        "days": days,
        "totals": _finish(totals, hist, usd_brl),
        "handover_causes": _by_count(data["causes"]),
        "silent_reasons": _by_count(data["silent"]),
        "handover_categories": _by_count(data["handovers"]),
        "tenants": tenants,
    }
