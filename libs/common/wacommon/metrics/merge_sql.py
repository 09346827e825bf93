"""The rollup's MERGE: the stage tables of a run plus the stored rows -> `metrics_daily`.

Adds the stored row of each tenant-day the run touches (set-based sums; the stored maps,
histograms and conversation sets are combined only for days that have both, so a catch-up
over days nobody counted yet never expands JSON) and upserts the result. `$1` is the price
map. The stage tables come from `metrics_rollup_sql` (ms_days, ms_conv, ms_hist, ms_maps,
ms_quality).
"""

from __future__ import annotations

# old value o, new value n of a {key: number} map; x the key-by-key sum (see `mixed`)
_ADD_MAP = (
    "CASE WHEN {n} IS NULL THEN coalesce({o}, '{{}}') WHEN {o} IS NULL OR {o} = '{{}}' THEN {n}"
    " ELSE {x} END"
)
# the map entries of old o and new n, only where both have some (tagged m)
_BOTH = (
    "SELECT {m} AS m, * FROM jsonb_each_text({o}) WHERE {n} IS NOT NULL"
    " UNION ALL SELECT {m}, * FROM jsonb_each_text({n}) WHERE {o} <> '{{}}'"
)

_MERGE = """
WITH old AS (
    SELECT o.* FROM metrics_daily o JOIN ms_days d USING (client_id, day)
),
mixed_rows AS (
    -- stored and new maps of the days that have both, added key by key, set-based
    -- (m: 1 tools, 2 tool errors, 3 failed sends, 4 usage, 5 latency histogram,
    -- 6 handover causes, 7 silent turns, 8 handover categories)
    SELECT o.client_id, o.day, x.m, x.key, sum(x.value::numeric) AS v
    FROM old o
    LEFT JOIN ms_maps m USING (client_id, day)
    LEFT JOIN ms_hist h USING (client_id, day)
    LEFT JOIN ms_quality q USING (client_id, day)
    CROSS JOIN LATERAL ({both_tools} UNION ALL {both_errors} UNION ALL {both_codes}
                        UNION ALL {both_usage} UNION ALL {both_hist}
                        UNION ALL {both_causes} UNION ALL {both_silent}
                        UNION ALL {both_handovers}) x
    GROUP BY 1, 2, 3, 4
),
mixed AS (
    SELECT client_id, day,
        jsonb_object_agg(key, v) FILTER (WHERE m = 1) AS tools,
        jsonb_object_agg(key, v) FILTER (WHERE m = 2) AS errors,
        jsonb_object_agg(key, v) FILTER (WHERE m = 3) AS codes,
        jsonb_object_agg(key, v) FILTER (WHERE m = 4) AS usage,
        round(coalesce(sum(v * coalesce(
            $1::jsonb -> left(key, length(key) - length(split_part(key, '|', -1)) - 1)
                      ->> split_part(key, '|', -1),
            $1::jsonb -> 'default' ->> split_part(key, '|', -1),
            '0')::numeric) FILTER (WHERE m = 4), 0), 6) AS cost,
        jsonb_object_agg(key, v) FILTER (WHERE m = 5) AS hist,
        jsonb_object_agg(key, v) FILTER (WHERE m = 6) AS causes,
        jsonb_object_agg(key, v) FILTER (WHERE m = 7) AS silent,
        jsonb_object_agg(key, v) FILTER (WHERE m = 8) AS handovers,
        min(key::bigint) FILTER (WHERE m = 5 AND cum >= ceil(0.9 * total)) AS p90
    FROM (SELECT *,
                 sum(v) FILTER (WHERE m = 5) OVER (PARTITION BY client_id, day
                     ORDER BY CASE WHEN m = 5 THEN key::bigint END) AS cum,
                 sum(v) FILTER (WHERE m = 5) OVER (PARTITION BY client_id, day) AS total
          FROM mixed_rows) r
    GROUP BY 1, 2
),
conv AS (
    INSERT INTO metrics_daily_conversations AS s (client_id, day, conversation_ids)
    SELECT client_id, day, ids FROM ms_conv
    ON CONFLICT (client_id, day) DO UPDATE SET conversation_ids = ARRAY(
        SELECT DISTINCT x FROM unnest(s.conversation_ids || EXCLUDED.conversation_ids) x)
    RETURNING client_id, day, cardinality(conversation_ids) AS n
),
up AS (
    -- every value is the merged one: the row lock on the watermark keeps other writers out
    INSERT INTO metrics_daily AS t (
        client_id, day, events, conversations, messages_in, messages_out_bot,
        messages_out_human, resolved_by_ai, resolved_by_human, human_takeovers,
        followups_sent, followups_converted, response_count, response_time_sum_ms,
        response_time_p90_ms, response_time_hist, resolution_count, resolution_time_sum_ms,
        tools_used, tool_errors, failed_sends, usage, cost_usd, replies_dropped, opt_outs,
        bot_resumptions, handover_causes, quality_turns, quality_judged, quality_grounded,
        quality_passages, quality_repeated, quality_tokens_in, quality_tokens_out,
        quality_cost_brl, silent_reasons, handover_categories, updated_at)
    SELECT d.client_id, d.day,
           coalesce(o.events, 0) + d.events,
           coalesce(c.n, o.conversations, 0),
           coalesce(o.messages_in, 0) + d.messages_in,
           coalesce(o.messages_out_bot, 0) + d.sent - d.sent_human,
           coalesce(o.messages_out_human, 0) + d.sent_human + d.human_responded,
           coalesce(o.resolved_by_ai, 0) + d.resolved - d.by_human,
           coalesce(o.resolved_by_human, 0) + d.by_human,
           coalesce(o.human_takeovers, 0) + d.takeovers,
           coalesce(o.followups_sent, 0) + d.fu_sent,
           coalesce(o.followups_converted, 0) + d.fu_converted,
           coalesce(o.response_count, 0) + d.resp_n,
           coalesce(o.response_time_sum_ms, 0) + d.resp_sum,
           CASE WHEN h.hist IS NULL THEN o.response_time_p90_ms
                WHEN o.response_time_hist IS NULL OR o.response_time_hist = '{{}}' THEN h.p90
                ELSE x.p90 END,
           {hist},
           coalesce(o.resolution_count, 0) + d.resol_n,
           coalesce(o.resolution_time_sum_ms, 0) + d.resol_sum,
           {tools},
           {errors},
           {codes},
           {usage},
           CASE WHEN m.usage IS NULL THEN coalesce(o.cost_usd, 0)
                WHEN o.usage IS NULL OR o.usage = '{{}}' THEN m.cost
                ELSE x.cost END,
           coalesce(o.replies_dropped, 0) + d.dropped,
           coalesce(o.opt_outs, 0) + d.opt_outs,
           coalesce(o.bot_resumptions, 0) + d.resumed,
           {causes},
           coalesce(o.quality_turns, 0) + d.q_turns,
           coalesce(o.quality_judged, 0) + d.q_judged,
           coalesce(o.quality_grounded, 0) + d.q_grounded,
           coalesce(o.quality_passages, 0) + d.q_passages,
           coalesce(o.quality_repeated, 0) + d.q_repeated,
           coalesce(o.quality_tokens_in, 0) + d.q_tokens_in,
           coalesce(o.quality_tokens_out, 0) + d.q_tokens_out,
           coalesce(o.quality_cost_brl, 0) + d.q_cost_brl,
           {silent},
           {handovers},
           now()
    FROM ms_days d
    LEFT JOIN old o USING (client_id, day)
    LEFT JOIN conv c USING (client_id, day)
    LEFT JOIN ms_hist h USING (client_id, day)
    LEFT JOIN ms_maps m USING (client_id, day)
    LEFT JOIN ms_quality q USING (client_id, day)
    LEFT JOIN mixed x USING (client_id, day)
    ON CONFLICT (client_id, day) DO UPDATE SET
        events = EXCLUDED.events,
        conversations = EXCLUDED.conversations,
        messages_in = EXCLUDED.messages_in,
        messages_out_bot = EXCLUDED.messages_out_bot,
        messages_out_human = EXCLUDED.messages_out_human,
        resolved_by_ai = EXCLUDED.resolved_by_ai,
        resolved_by_human = EXCLUDED.resolved_by_human,
        human_takeovers = EXCLUDED.human_takeovers,
        followups_sent = EXCLUDED.followups_sent,
        followups_converted = EXCLUDED.followups_converted,
        response_count = EXCLUDED.response_count,
        response_time_sum_ms = EXCLUDED.response_time_sum_ms,
        response_time_p90_ms = EXCLUDED.response_time_p90_ms,
        response_time_hist = EXCLUDED.response_time_hist,
        resolution_count = EXCLUDED.resolution_count,
        resolution_time_sum_ms = EXCLUDED.resolution_time_sum_ms,
        tools_used = EXCLUDED.tools_used,
        tool_errors = EXCLUDED.tool_errors,
        failed_sends = EXCLUDED.failed_sends,
        usage = EXCLUDED.usage,
        cost_usd = EXCLUDED.cost_usd,
        replies_dropped = EXCLUDED.replies_dropped,
        opt_outs = EXCLUDED.opt_outs,
        bot_resumptions = EXCLUDED.bot_resumptions,
        handover_causes = EXCLUDED.handover_causes,
        quality_turns = EXCLUDED.quality_turns,
        quality_judged = EXCLUDED.quality_judged,
        quality_grounded = EXCLUDED.quality_grounded,
        quality_passages = EXCLUDED.quality_passages,
        quality_repeated = EXCLUDED.quality_repeated,
        quality_tokens_in = EXCLUDED.quality_tokens_in,
        quality_tokens_out = EXCLUDED.quality_tokens_out,
        quality_cost_brl = EXCLUDED.quality_cost_brl,
        silent_reasons = EXCLUDED.silent_reasons,
        handover_categories = EXCLUDED.handover_categories,
        updated_at = EXCLUDED.updated_at
    RETURNING 1
)
SELECT (SELECT coalesce(sum(events), 0) FROM ms_days)::bigint AS events,
       (SELECT count(*) FROM up) AS rows
"""


def _merge_sql() -> str:
    maps = {
        "tools": ("o.tools_used", "m.tools", "x.tools", 1),
        "errors": ("o.tool_errors", "m.errors", "x.errors", 2),
        "codes": ("o.failed_sends", "m.codes", "x.codes", 3),
        "usage": ("o.usage", "m.usage", "x.usage", 4),
        "hist": ("o.response_time_hist", "h.hist", "x.hist", 5),
        "causes": ("o.handover_causes", "m.causes", "x.causes", 6),
        "silent": ("o.silent_reasons", "q.silent", "x.silent", 7),
        "handovers": ("o.handover_categories", "q.handovers", "x.handovers", 8),
    }
    parts: dict[str, str] = {}
    for name, (o, n, x, m) in maps.items():
        parts[name] = _ADD_MAP.format(o=o, n=n, x=x)
        parts[f"both_{name}"] = _BOTH.format(o=o, n=n, m=m)
    return _MERGE.format(**parts)


MERGE_SQL = _merge_sql()
