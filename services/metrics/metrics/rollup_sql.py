"""The rollup statement: events selected by a filter -> additive upsert into `metrics_daily`.

One statement does everything: a first GROUP BY shrinks the events to one row per
(tenant, day, type, key), the rest works on that small set. `$1` is always the price
map; the filters below supply the other parameters.
"""

from __future__ import annotations

# events committed in [lo, hi) transaction ids: $2 lo, $3 hi
INCREMENT_FILTER = "e.xact_id >= $2::text::xid8 AND e.xact_id < $3::text::xid8"

# everything below the watermark $2
ALL_FILTER = "e.xact_id < $2::text::xid8"

# below the watermark $2, created in [$3, $4), optionally one tenant ($5), local days [$6, $7]
RANGE_FILTER = (
    "e.xact_id < $2::text::xid8 AND e.created_at >= $3 AND e.created_at < $4"
    " AND ($5::uuid IS NULL OR e.client_id = $5::uuid)"
)
RANGE_DAYS = "WHERE day BETWEEN $6 AND $7"

_TEMPLATE = """
WITH zones AS MATERIALIZED (
    -- materialized: the zone check runs once per distinct zone, not once per event
    SELECT tz, metrics_tz(tz) AS zone FROM (SELECT DISTINCT timezone AS tz FROM clients) z
),
ev AS (
    SELECT e.client_id, (e.created_at AT TIME ZONE z.zone)::date AS day, e.event_type,
           e.conversation_id, e.data
    FROM conversation_events e
    JOIN clients c ON c.id = e.client_id
    JOIN zones z ON z.tz = c.timezone
    WHERE {filter}
),
l1 AS (
    SELECT client_id, day, event_type, k1, k2, count(*) AS n,
           sum(s1) AS s1, sum(s2) AS s2, sum(s3) AS s3, count(s3) AS n3
    FROM (
        SELECT client_id, day, event_type,
               CASE event_type
                   WHEN 'msg_received' THEN conversation_id::text
                   WHEN 'msg_sent' THEN CASE WHEN data->>'role' IN ('human', 'operator')
                                             THEN 'human' ELSE 'bot' END
                   WHEN 'resolved' THEN CASE WHEN data->>'by' IN ('human', 'operator')
                                             THEN 'human' ELSE 'ai' END
                   WHEN 'tool_used' THEN coalesce(data->>'tool', 'unknown')
                   WHEN 'send_failed' THEN coalesce(data->>'code', 'unknown')
                   WHEN 'ai_responded' THEN coalesce(data->>'model', 'default')
                   WHEN 'llm_usage' THEN coalesce(data->>'model', 'default')
                   WHEN 'media_processed' THEN coalesce(data->>'model', 'default')
               END AS k1,
               CASE event_type
                   WHEN 'ai_responded' THEN metrics_bucket(round(metrics_num(data->'latency_ms'))::bigint)
                   WHEN 'tool_used' THEN CASE WHEN data->'ok' = 'false'::jsonb THEN 0 ELSE 1 END
               END AS k2,
               CASE WHEN event_type IN ('ai_responded', 'llm_usage')
                        THEN metrics_num(data->'tokens_in')
                    WHEN event_type = 'media_processed' AND data->'ok' IS DISTINCT FROM 'false'
                        THEN metrics_num(data->'seconds')
               END AS s1,
               CASE WHEN event_type IN ('ai_responded', 'llm_usage')
                        THEN metrics_num(data->'tokens_out')
                    WHEN event_type = 'media_processed' AND data->'ok' IS DISTINCT FROM 'false'
                        THEN metrics_num(data->'images')
               END AS s2,
               CASE event_type
                   WHEN 'ai_responded' THEN round(metrics_num(data->'latency_ms'))
                   WHEN 'resolved' THEN round(metrics_num(data->'duration_ms'))
               END AS s3
        FROM ev {days}) x
    GROUP BY 1, 2, 3, 4, 5
),
days AS (
    SELECT client_id, day, sum(n) AS events,
        coalesce(sum(n) FILTER (WHERE event_type = 'msg_received'), 0) AS messages_in,
        coalesce(sum(n) FILTER (WHERE event_type = 'msg_sent' AND k1 = 'bot'), 0) AS out_bot,
        coalesce(sum(n) FILTER (WHERE event_type = 'msg_sent' AND k1 = 'human'
                                   OR event_type = 'human_responded'), 0) AS out_human,
        coalesce(sum(n) FILTER (WHERE event_type = 'resolved' AND k1 = 'ai'), 0) AS by_ai,
        coalesce(sum(n) FILTER (WHERE event_type = 'resolved' AND k1 = 'human'), 0) AS by_human,
        coalesce(sum(n) FILTER (WHERE event_type = 'human_takeover'), 0) AS takeovers,
        coalesce(sum(n) FILTER (WHERE event_type = 'followup_sent'), 0) AS fu_sent,
        coalesce(sum(n) FILTER (WHERE event_type = 'followup_converted'), 0) AS fu_converted,
        coalesce(sum(n3) FILTER (WHERE event_type = 'ai_responded'), 0) AS resp_n,
        coalesce(sum(s3) FILTER (WHERE event_type = 'ai_responded'), 0) AS resp_sum,
        coalesce(sum(n3) FILTER (WHERE event_type = 'resolved'), 0) AS resol_n,
        coalesce(sum(s3) FILTER (WHERE event_type = 'resolved'), 0) AS resol_sum,
        coalesce(sum(n) FILTER (WHERE event_type = 'reply_dropped'), 0) AS dropped,
        coalesce(sum(n) FILTER (WHERE event_type = 'opted_out'), 0) AS opt_outs,
        coalesce(sum(n) FILTER (WHERE event_type = 'bot_resumed'), 0) AS resumed
    FROM l1 GROUP BY 1, 2
),
tools AS (
    SELECT client_id, day, jsonb_object_agg(k1, n) AS used,
           coalesce(jsonb_object_agg(k1, errors) FILTER (WHERE errors > 0), '{{}}') AS errors
    FROM (SELECT client_id, day, k1, sum(n) AS n, coalesce(sum(n) FILTER (WHERE k2 = 0), 0) AS errors
          FROM l1 WHERE event_type = 'tool_used' GROUP BY 1, 2, 3) t
    GROUP BY 1, 2
),
failed AS (
    SELECT client_id, day, jsonb_object_agg(k1, n) AS codes
    FROM (SELECT client_id, day, k1, sum(n) AS n
          FROM l1 WHERE event_type = 'send_failed' GROUP BY 1, 2, 3) f
    GROUP BY 1, 2
),
hist AS (
    SELECT client_id, day, jsonb_object_agg(b::text, n) AS h,
           min(b) FILTER (WHERE cum >= ceil(0.9 * total)) AS p90
    FROM (SELECT client_id, day, b, n,
                 sum(n) OVER (PARTITION BY client_id, day ORDER BY b) AS cum,
                 sum(n) OVER (PARTITION BY client_id, day) AS total
          FROM (SELECT client_id, day, k2 AS b, sum(n3) AS n
                FROM l1 WHERE event_type = 'ai_responded' AND k2 IS NOT NULL
                GROUP BY 1, 2, 3) hb) s
    GROUP BY 1, 2
),
usage AS (
    SELECT client_id, day, jsonb_object_agg(k1 || '|' || unit, amount) AS u,
           round(sum(amount * coalesce($1::jsonb -> k1 ->> unit,
                                       $1::jsonb -> 'default' ->> unit, '0')::numeric), 6) AS cost
    FROM (SELECT client_id, day, k1, unit, sum(amount) AS amount
          FROM l1 CROSS JOIN LATERAL (VALUES
              ('in', CASE WHEN event_type <> 'media_processed' THEN s1 END),
              ('out', CASE WHEN event_type <> 'media_processed' THEN s2 END),
              ('audio_s', CASE WHEN event_type = 'media_processed' THEN s1 END),
              ('images', CASE WHEN event_type = 'media_processed' THEN s2 END)) v(unit, amount)
          WHERE event_type IN ('ai_responded', 'llm_usage', 'media_processed')
          GROUP BY 1, 2, 3, 4) ur
    WHERE amount > 0
    GROUP BY 1, 2
),
conv AS (
    -- l1 holds one row per (tenant, day, conversation) for msg_received: already distinct
    INSERT INTO metrics_daily_conversations AS s (client_id, day, conversation_ids)
    SELECT client_id, day, array_agg(k1::uuid) FROM l1
    WHERE event_type = 'msg_received' AND k1 IS NOT NULL
    GROUP BY 1, 2
    ON CONFLICT (client_id, day) DO UPDATE SET conversation_ids = ARRAY(
        SELECT DISTINCT x FROM unnest(s.conversation_ids || EXCLUDED.conversation_ids) x)
    RETURNING client_id, day, cardinality(conversation_ids) AS n
),
up AS (
    INSERT INTO metrics_daily AS t (
        client_id, day, events, conversations, messages_in, messages_out_bot,
        messages_out_human, resolved_by_ai, resolved_by_human, human_takeovers,
        followups_sent, followups_converted, response_count, response_time_sum_ms,
        response_time_p90_ms, response_time_hist, resolution_count, resolution_time_sum_ms,
        tools_used, tool_errors, failed_sends, usage, cost_usd, replies_dropped, opt_outs,
        bot_resumptions, updated_at)
    SELECT d.client_id, d.day, d.events, coalesce(c.n, 0), d.messages_in, d.out_bot,
           d.out_human, d.by_ai, d.by_human, d.takeovers,
           d.fu_sent, d.fu_converted, d.resp_n, d.resp_sum,
           h.p90, coalesce(h.h, '{{}}'), d.resol_n, d.resol_sum,
           coalesce(tl.used, '{{}}'), coalesce(tl.errors, '{{}}'), coalesce(f.codes, '{{}}'),
           coalesce(u.u, '{{}}'), coalesce(u.cost, 0), d.dropped, d.opt_outs,
           d.resumed, now()
    FROM days d
    LEFT JOIN conv c USING (client_id, day)
    LEFT JOIN tools tl USING (client_id, day)
    LEFT JOIN failed f USING (client_id, day)
    LEFT JOIN hist h USING (client_id, day)
    LEFT JOIN usage u USING (client_id, day)
    ON CONFLICT (client_id, day) DO UPDATE SET
        events = t.events + EXCLUDED.events,
        -- the merged set's size; a set only grows, and a run without messages sends 0
        conversations = greatest(t.conversations, EXCLUDED.conversations),
        messages_in = t.messages_in + EXCLUDED.messages_in,
        messages_out_bot = t.messages_out_bot + EXCLUDED.messages_out_bot,
        messages_out_human = t.messages_out_human + EXCLUDED.messages_out_human,
        resolved_by_ai = t.resolved_by_ai + EXCLUDED.resolved_by_ai,
        resolved_by_human = t.resolved_by_human + EXCLUDED.resolved_by_human,
        human_takeovers = t.human_takeovers + EXCLUDED.human_takeovers,
        followups_sent = t.followups_sent + EXCLUDED.followups_sent,
        followups_converted = t.followups_converted + EXCLUDED.followups_converted,
        response_count = t.response_count + EXCLUDED.response_count,
        response_time_sum_ms = t.response_time_sum_ms + EXCLUDED.response_time_sum_ms,
        response_time_p90_ms = CASE WHEN EXCLUDED.response_time_hist = '{{}}'
            THEN t.response_time_p90_ms
            ELSE metrics_hist_quantile(
                metrics_jsonb_sum(t.response_time_hist, EXCLUDED.response_time_hist), 0.9) END,
        response_time_hist = CASE WHEN EXCLUDED.response_time_hist = '{{}}'
            THEN t.response_time_hist
            ELSE metrics_jsonb_sum(t.response_time_hist, EXCLUDED.response_time_hist) END,
        resolution_count = t.resolution_count + EXCLUDED.resolution_count,
        resolution_time_sum_ms = t.resolution_time_sum_ms + EXCLUDED.resolution_time_sum_ms,
        tools_used = CASE WHEN EXCLUDED.tools_used = '{{}}' THEN t.tools_used
            ELSE metrics_jsonb_sum(t.tools_used, EXCLUDED.tools_used) END,
        tool_errors = CASE WHEN EXCLUDED.tool_errors = '{{}}' THEN t.tool_errors
            ELSE metrics_jsonb_sum(t.tool_errors, EXCLUDED.tool_errors) END,
        failed_sends = CASE WHEN EXCLUDED.failed_sends = '{{}}' THEN t.failed_sends
            ELSE metrics_jsonb_sum(t.failed_sends, EXCLUDED.failed_sends) END,
        cost_usd = CASE WHEN EXCLUDED.usage = '{{}}' THEN t.cost_usd
            ELSE metrics_cost(metrics_jsonb_sum(t.usage, EXCLUDED.usage), $1::jsonb) END,
        usage = CASE WHEN EXCLUDED.usage = '{{}}' THEN t.usage
            ELSE metrics_jsonb_sum(t.usage, EXCLUDED.usage) END,
        replies_dropped = t.replies_dropped + EXCLUDED.replies_dropped,
        opt_outs = t.opt_outs + EXCLUDED.opt_outs,
        bot_resumptions = t.bot_resumptions + EXCLUDED.bot_resumptions,
        updated_at = now()
    RETURNING 1
)
SELECT (SELECT coalesce(sum(events), 0) FROM days)::bigint AS events,
       (SELECT count(*) FROM up) AS rows
"""


def rollup_sql(filter_sql: str, days_sql: str = "") -> str:
    """The rollup statement over the events `filter_sql` selects (trusted constants only)."""
    return _TEMPLATE.format(filter=filter_sql, days=days_sql)


INCREMENT_SQL = rollup_sql(INCREMENT_FILTER)
ALL_SQL = rollup_sql(ALL_FILTER)
RANGE_SQL = rollup_sql(RANGE_FILTER, RANGE_DAYS)
