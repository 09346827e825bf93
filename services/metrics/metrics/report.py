"""Builds a tenant's daily report (series, totals, merged maps) from its metrics_daily rows."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date
from typing import Any

import asyncpg
import orjson

ROWS_SQL = (
    "SELECT day, conversations, messages_in, messages_out_bot, messages_out_human,"
    " resolved_by_ai, resolved_by_human, human_takeovers, followups_sent, followups_converted,"
    " response_count, response_time_sum_ms, response_time_p90_ms, resolution_count,"
    " resolution_time_sum_ms, replies_dropped, opt_outs, bot_resumptions, cost_usd,"
    " tools_used, tool_errors, failed_sends, usage, response_time_hist"
    " FROM metrics_daily WHERE client_id = $1 AND day BETWEEN $2 AND $3 ORDER BY day"
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
    "resolution_count",
    "replies_dropped",
    "opt_outs",
    "bot_resumptions",
)
MAPS = ("tools_used", "tool_errors", "failed_sends", "usage")


def _avg(total: int, n: int) -> int | None:
    # half away from zero, as PostgreSQL's round(): sums are never negative
    return math.floor(total / n + 0.5) if n else None


def _merge(into: dict[str, int], part: dict[str, Any]) -> None:
    for key, n in part.items():
        into[key] = into.get(key, 0) + n


def p90(hist: dict[str, int]) -> int | None:
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


def build(client_id: str, start: date, end: date, rows: Sequence[asyncpg.Record]) -> bytes:
    """The JSON body of `GET /api/clients/{id}/metrics/daily`."""
    series: list[dict[str, Any]] = []
    totals: dict[str, Any] = dict.fromkeys(COUNTS, 0)
    maps: dict[str, dict[str, int]] = {name: {} for name in MAPS}
    hist: dict[str, int] = {}
    resp_sum = resol_sum = 0
    cost = 0
    for r in rows:
        day = dict(r)
        for field in COUNTS:
            totals[field] += day[field]
        for name in MAPS:
            _merge(maps[name], day[name])
        _merge(hist, day.pop("response_time_hist"))
        resp_sum += day["response_time_sum_ms"]
        resol_sum += day["resolution_time_sum_ms"]
        cost += day["cost_usd"]
        day["response_time_avg_ms"] = _avg(day.pop("response_time_sum_ms"), day["response_count"])
        day["resolution_time_avg_ms"] = _avg(
            day.pop("resolution_time_sum_ms"), day["resolution_count"]
        )
        series.append(day)
    totals["days"] = len(series)
    totals["response_time_avg_ms"] = _avg(resp_sum, totals["response_count"])
    totals["resolution_time_avg_ms"] = _avg(resol_sum, totals["resolution_count"])
    totals["cost_usd"] = cost
    body = {
        "client_id": client_id,
        "from": start,
        "to": end,
        "series": series,
        "totals": totals,
        "response_time_p90_ms": p90(hist),
        **maps,
    }
    return orjson.dumps(body, default=float)


async def tenant_daily(pool: asyncpg.Pool, client_id: str, start: date, end: date) -> bytes:
    """One tenant's daily series and totals over [start, end], as JSON."""
    rows = await pool.fetch(ROWS_SQL, client_id, start, end)
    return build(client_id, start, end, rows)
