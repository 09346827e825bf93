"""The rollup: events selected by a filter -> additive upsert into `metrics_daily`.

Two statements in the aggregation transaction. STAGE shrinks the events to one row
per (tenant, local day, type, key) in a temporary table; it only reads and uses
count/sum, so PostgreSQL may run it with parallel workers. UPSERT derives every
metric from that small table and merges it into `metrics_daily` (and the per-day
conversation sets). Parameters: STAGE takes `$1` the zone names PostgreSQL does not know
(those tenants count in UTC), then the filter's; UPSERT takes `$1` the price map.
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

_STAGE = """
CREATE TEMP TABLE metrics_stage ON COMMIT DROP AS
SELECT client_id, day, event_type, k1, conv, bucket, count(*) AS n,
       sum(s1) AS s1, sum(s2) AS s2, sum(s3) AS s3, count(s3) AS n3,
       count(*) FILTER (WHERE failed) AS n_err
FROM (
    SELECT e.client_id,
           (e.created_at AT TIME ZONE CASE WHEN c.timezone = ANY($1::text[]) THEN 'UTC'
                                          ELSE c.timezone END)::date AS day,
           e.event_type,
           CASE e.event_type
               WHEN 'msg_sent' THEN CASE WHEN e.data->>'role' IN ('human', 'operator')
                                         THEN 'human' ELSE 'bot' END
               WHEN 'resolved' THEN CASE WHEN e.data->>'by' IN ('human', 'operator')
                                         THEN 'human' ELSE 'ai' END
               WHEN 'tool_used' THEN coalesce(e.data->>'tool', 'unknown')
               WHEN 'send_failed' THEN coalesce(e.data->>'code', 'unknown')
               WHEN 'ai_responded' THEN coalesce(e.data->>'model', 'default')
               WHEN 'llm_usage' THEN coalesce(e.data->>'model', 'default')
               WHEN 'media_processed' THEN coalesce(e.data->>'model', 'default')
           END AS k1,
           CASE WHEN e.event_type = 'msg_received' THEN e.conversation_id END AS conv,
           CASE WHEN e.event_type = 'ai_responded'
                THEN metrics_bucket(round(metrics_num(e.data->'latency_ms'))::bigint) END AS bucket,
           -- bigint sums are far cheaper than numeric ones; audio is summed in milliseconds
           CASE WHEN e.event_type IN ('ai_responded', 'llm_usage')
                    THEN round(metrics_num(e.data->'tokens_in'))::bigint
                WHEN e.event_type = 'media_processed' AND e.data->'ok' IS DISTINCT FROM 'false'
                    THEN round(metrics_num(e.data->'seconds') * 1000)::bigint
           END AS s1,
           CASE WHEN e.event_type IN ('ai_responded', 'llm_usage')
                    THEN round(metrics_num(e.data->'tokens_out'))::bigint
                WHEN e.event_type = 'media_processed' AND e.data->'ok' IS DISTINCT FROM 'false'
                    THEN round(metrics_num(e.data->'images'))::bigint
           END AS s2,
           CASE e.event_type
               WHEN 'ai_responded' THEN round(metrics_num(e.data->'latency_ms'))::bigint
               WHEN 'resolved' THEN round(metrics_num(e.data->'duration_ms'))::bigint
           END AS s3,
           e.event_type = 'tool_used' AND e.data->'ok' = 'false' AS failed
    FROM conversation_events e
    JOIN clients c ON c.id = e.client_id
    WHERE {filter}
) x {days}
GROUP BY 1, 2, 3, 4, 5, 6
"""

_UPSERT = """
WITH l1 AS (SELECT * FROM metrics_stage),
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
    FROM (SELECT client_id, day, k1, sum(n) AS n, sum(n_err) AS errors
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
          FROM (SELECT client_id, day, bucket AS b, sum(n3) AS n
                FROM l1 WHERE event_type = 'ai_responded' AND bucket IS NOT NULL
                GROUP BY 1, 2, 3) hb) s
    GROUP BY 1, 2
),
usage AS (
    SELECT client_id, day, jsonb_object_agg(k1 || '|' || unit, amount) AS u,
           round(sum(amount * coalesce($1::jsonb -> k1 ->> unit,
                                       $1::jsonb -> 'default' ->> unit, '0')::numeric), 6) AS cost
    FROM (SELECT client_id, day, k1, unit, sum(amount) AS amount
          FROM (SELECT client_id, day, event_type, k1, sum(s1) AS s1, sum(s2) AS s2
                FROM l1 WHERE event_type IN ('ai_responded', 'llm_usage', 'media_processed')
                GROUP BY 1, 2, 3, 4) m
          CROSS JOIN LATERAL (VALUES
              ('in', CASE WHEN event_type <> 'media_processed' THEN s1 END),
              ('out', CASE WHEN event_type <> 'media_processed' THEN s2 END),
              ('audio_s', CASE WHEN event_type = 'media_processed' THEN s1 / 1000.0 END),
              ('images', CASE WHEN event_type = 'media_processed' THEN s2 END)) v(unit, amount)
          GROUP BY 1, 2, 3, 4) ur
    WHERE amount > 0
    GROUP BY 1, 2
),
conv AS (
    -- the stage holds one row per (tenant, day, conversation) for msg_received: distinct
    INSERT INTO metrics_daily_conversations AS s (client_id, day, conversation_ids)
    SELECT client_id, day, array_agg(conv) FROM l1
    WHERE event_type = 'msg_received' AND conv IS NOT NULL
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


def stage_sql(filter_sql: str, days_sql: str = "") -> str:
    """The staging statement over the events `filter_sql` selects (trusted constants only)."""
    return _STAGE.format(filter=filter_sql, days=days_sql)


INCREMENT_STAGE = stage_sql(INCREMENT_FILTER)
ALL_STAGE = stage_sql(ALL_FILTER)
RANGE_STAGE = stage_sql(RANGE_FILTER, RANGE_DAYS)
UPSERT_SQL = _UPSERT.replace("{{", "{").replace("}}", "}")
