"""Builds a tenant's daily report (series, totals, merged maps) from its metrics_daily rows.

The read is one aggregate row per request: each scalar column comes back as one array
(decoded by asyncpg in C) and each map column as one `json_agg` text (one `orjson.loads`
for the whole range). Reading a row per day instead decoded every jsonb value through a
Python codec call (five per day) and every `cost_usd` into a `Decimal`: under load that,
plus building the days with `dict(record)`, cost the service ~50 % more CPU per read
than a bare endpoint returning the same rows. Building the day objects in SQL (`json_build_object`)
costs PostgreSQL about three times what it saves in Python, so the days are zipped here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date
from itertools import repeat
from typing import Any

import asyncpg
import orjson

from wacommon.metrics.live import QUALITY_COUNTS, p90

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
    "resolution_count",
    "replies_dropped",
    "opt_outs",
    "bot_resumptions",
    # sums of the `turn_quality` events (one per AI turn)
    *QUALITY_COUNTS,
)
MAPS = (
    "tools_used",
    "tool_errors",
    "failed_sends",
    "usage",
    "silent_reasons",
    "handover_categories",
)
# the fields of one day of `series`, in answer order; the first ones come back as arrays
_SCALARS = (
    "day",
    *COUNTS,
    "response_time_p90_ms",
    "response_time_avg_ms",
    "resolution_time_avg_ms",
    "cost_usd",
    "quality_cost_brl",
)
DAY_FIELDS = (*_SCALARS, *MAPS)


def _avg_sql(total: str, n: str) -> str:
    # floor(total / n + 0.5) in integers: half away from zero like round(), sums are >= 0
    return f"CASE WHEN {n} > 0 THEN (2 * {total} + {n}) / (2 * {n}) END"


_INNER = {
    "response_time_avg_ms": _avg_sql("response_time_sum_ms", "response_count"),
    "resolution_time_avg_ms": _avg_sql("resolution_time_sum_ms", "resolution_count"),
    # float8 is what the answer carries; numeric would come back as Decimal, one per day
    "cost_usd": "cost_usd::float8",
    "quality_cost_brl": "quality_cost_brl::float8",
}

# The subquery's ORDER BY feeds every aggregate in day order (and one pass keeps the
# arrays aligned); `build` checks the order anyway instead of relying on the planner.
# Per-aggregate ORDER BY would sort once per column on PostgreSQL 15.
ROWS_SQL = (
    "SELECT "
    + ", ".join(f"array_agg({c})" for c in _SCALARS)
    + ", "
    + ", ".join(f"json_agg({m})::text" for m in (*MAPS, "response_time_hist"))
    + ", sum(response_time_sum_ms)::int8, sum(resolution_time_sum_ms)::int8"
    + ", sum(cost)::float8"
    + " FROM (SELECT day, "
    + ", ".join(COUNTS)
    + ", response_time_p90_ms, "
    + ", ".join(f"{expr} AS {name}" for name, expr in _INNER.items())
    + ", "
    + ", ".join(MAPS)
    + ", response_time_hist, response_time_sum_ms, resolution_time_sum_ms, cost_usd AS cost"
    + " FROM metrics_daily WHERE client_id = $1 AND day BETWEEN $2 AND $3 ORDER BY day) d"
)
_N = len(_SCALARS)


def _avg(total: int, n: int) -> int | None:
    # half away from zero, as PostgreSQL's round(): sums are never negative
    return math.floor(total / n + 0.5) if n else None


def _merge(parts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    into: dict[str, Any] = {}
    get = into.get
    for part in parts:
        for key, n in part.items():
            into[key] = get(key, 0) + n
    return into


def _in_day_order(columns: list[list[Any]]) -> list[list[Any]]:
    days = columns[0]
    if days == sorted(days):
        return columns
    order = sorted(range(len(days)), key=days.__getitem__)
    return [[col[i] for i in order] for col in columns]


def build(tenant_id: str, start: date, end: date, row: asyncpg.Record) -> bytes:
    """The JSON body of `GET /api/clients/{id}/metrics/daily` from the `ROWS_SQL` row."""
    totals: dict[str, Any]
    if row[0] is None:  # no day in the range has a row
        totals = dict.fromkeys(COUNTS, 0)
        totals.update(days=0, response_time_avg_ms=None, resolution_time_avg_ms=None, cost_usd=0)
        totals["quality_cost_brl"] = 0
        body: dict[str, Any] = {"client_id": tenant_id, "from": start, "to": end}
        body.update(series=[], totals=totals, response_time_p90_ms=None)
        body.update((name, {}) for name in MAPS)
        return orjson.dumps(body)
    maps = [orjson.loads(text) for text in row[_N : _N + len(MAPS)]]
    columns = _in_day_order([*row[:_N], *maps, orjson.loads(row[_N + len(MAPS)])])
    # one dict per day, built at C speed (no Python frame per day)
    series = list(map(dict, map(zip, repeat(DAY_FIELDS), zip(*columns[:-1], strict=True))))
    named = dict(zip(DAY_FIELDS, columns, strict=False))
    totals = {field: sum(named[field]) for field in COUNTS}
    resp_sum, resol_sum, cost = row[-3:]
    totals["days"] = len(series)
    totals["response_time_avg_ms"] = _avg(resp_sum, totals["response_count"])
    totals["resolution_time_avg_ms"] = _avg(resol_sum, totals["resolution_count"])
    totals["cost_usd"] = cost
    totals["quality_cost_brl"] = round(sum(named["quality_cost_brl"]), 6)
    body = {
        "client_id": tenant_id,
        "from": start,
        "to": end,
        "series": series,
        "totals": totals,
        "response_time_p90_ms": p90(_merge(columns[-1])),
    }
    body.update((name, _merge(named[name])) for name in MAPS)
    return orjson.dumps(body)


async def tenant_daily(pool: asyncpg.Pool, tenant_id: str, start: date, end: date) -> bytes:
    """One tenant's daily series and totals over [start, end], as JSON."""
    row = await pool.fetchrow(ROWS_SQL, tenant_id, start, end)
    assert row is not None  # an aggregate without GROUP BY always returns one row
    return build(tenant_id, start, end, row)
