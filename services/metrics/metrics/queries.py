"""Operator read queries: one statement each, JSON built by PostgreSQL from `metrics_daily`.

Across tenants the rows are many and the answer small, so PostgreSQL folds them; the
tenant report (few rows, several maps to merge) is built in Python by `report`.
"""

from __future__ import annotations

from datetime import date

import asyncpg

from wacommon.metrics.live import QUALITY_COUNTS

_DAY_FIELDS = """
    'day', day, 'conversations', conversations, 'messages_in', messages_in,
    'messages_out_bot', messages_out_bot, 'messages_out_human', messages_out_human,
    'resolved_by_ai', resolved_by_ai, 'resolved_by_human', resolved_by_human,
    'human_takeovers', human_takeovers, 'followups_sent', followups_sent,
    'followups_converted', followups_converted, 'response_count', response_count,
    'response_time_avg_ms', round(response_time_sum_ms::numeric / nullif(response_count, 0)),
    'response_time_p90_ms', response_time_p90_ms, 'resolution_count', resolution_count,
    'resolution_time_avg_ms', round(resolution_time_sum_ms::numeric / nullif(resolution_count, 0)),
    'replies_dropped', replies_dropped, 'opt_outs', opt_outs, 'bot_resumptions', bot_resumptions,
    'cost_usd', cost_usd, 'tools_used', tools_used, 'tool_errors', tool_errors,
    'failed_sends', failed_sends
"""

# the `turn_quality` sums (waai.turn_quality) of a range's rows
_QUALITY_TOTALS = ",\n".join(
    f"    '{c}', coalesce(sum({c}), 0)" for c in (*QUALITY_COUNTS, "quality_cost_brl")
)


def _map_total(column: str) -> str:
    """A {key: count} column of the range's rows added up, key by key."""
    return (
        f"coalesce((SELECT json_object_agg(key, n) FROM (SELECT x.key, sum(x.value::int8) AS n"
        f" FROM d CROSS JOIN LATERAL jsonb_each_text(d.{column}) x GROUP BY 1) s), '{{}}'::json)"
    )


_TOTAL_FIELDS = (
    """
    'days', count(*), 'conversations', coalesce(sum(conversations), 0),
    'messages_in', coalesce(sum(messages_in), 0),
    'messages_out_bot', coalesce(sum(messages_out_bot), 0),
    'messages_out_human', coalesce(sum(messages_out_human), 0),
    'resolved_by_ai', coalesce(sum(resolved_by_ai), 0),
    'resolved_by_human', coalesce(sum(resolved_by_human), 0),
    'human_takeovers', coalesce(sum(human_takeovers), 0),
    'followups_sent', coalesce(sum(followups_sent), 0),
    'followups_converted', coalesce(sum(followups_converted), 0),
    'response_count', coalesce(sum(response_count), 0),
    'response_time_avg_ms', round(sum(response_time_sum_ms)::numeric
                                  / nullif(sum(response_count), 0)),
    'resolution_count', coalesce(sum(resolution_count), 0),
    'resolution_time_avg_ms', round(sum(resolution_time_sum_ms)::numeric
                                    / nullif(sum(resolution_count), 0)),
    'replies_dropped', coalesce(sum(replies_dropped), 0),
    'opt_outs', coalesce(sum(opt_outs), 0),
    'bot_resumptions', coalesce(sum(bot_resumptions), 0),
    'cost_usd', coalesce(sum(cost_usd), 0),
"""
    + _QUALITY_TOTALS
)


# Operator view: every tenant's totals over the range and the all-tenant daily series.
OPERATOR_SQL = f"""
WITH d AS (SELECT * FROM metrics_daily WHERE day BETWEEN $1 AND $2),
per_tenant AS (
    SELECT d.client_id, c.name, json_build_object({_TOTAL_FIELDS}) AS totals,
           sum(d.messages_in) AS rank
    FROM d LEFT JOIN clients c ON c.id = d.client_id
    GROUP BY d.client_id, c.name
),
per_day AS (
    SELECT day, json_build_object('day', day, {_TOTAL_FIELDS}) AS t FROM d GROUP BY day
)
SELECT json_build_object(
    'from', $1::date, 'to', $2::date,
    'tenants', coalesce((SELECT json_agg(json_build_object('client_id', client_id, 'name', name,
                                                            'totals', totals)
                                         ORDER BY rank DESC, client_id) FROM per_tenant),
                        '[]'::json),
    'series', coalesce((SELECT json_agg(t ORDER BY day) FROM per_day), '[]'::json),
    'totals', (SELECT json_build_object({_TOTAL_FIELDS}) FROM d),
    'silent_reasons', {_map_total("silent_reasons")},
    'handover_categories', {_map_total("handover_categories")}
)::text
"""

TENANTS_SQL = """
SELECT coalesce(json_agg(json_build_object('client_id', id, 'name', name, 'timezone', timezone)
                         ORDER BY name, id), '[]'::json)::text
FROM clients
"""


async def operator_daily(pool: asyncpg.Pool, start: date, end: date) -> str:
    """Every tenant's totals and the all-tenant series over [start, end], as JSON text."""
    text: str = await pool.fetchval(OPERATOR_SQL, start, end)
    return text


async def tenant_list(pool: asyncpg.Pool) -> str:
    """Tenants an operator can pick on the dashboard, as JSON text."""
    text: str = await pool.fetchval(TENANTS_SQL)
    return text
