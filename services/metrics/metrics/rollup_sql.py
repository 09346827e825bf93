"""The rollup: events selected by a filter -> merged rows of `metrics_daily`.

Two statements in the aggregation transaction. STAGE is the only pass over the events:
one hash aggregate to a row per (tenant, local day, type, key) in a temporary table,
with count/sum only (so PostgreSQL may run it with parallel workers) and only cheap
per-event work: JSON values that need checking (latency) are grouped raw and checked
once per group. MERGE derives every metric from that table, adds the stored values of
the tenant-days it touches (set-based: no per-row function calls) and writes the merged
rows, plus the per-day conversation sets. Parameters: STAGE takes `$1` the zone names
PostgreSQL does not know (those tenants count in UTC), then the filter's; MERGE takes
`$1` the price map.
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
RANGE_DAYS = "WHERE g.day BETWEEN $6 AND $7"

# A JSON value as a non-negative integer, else NULL (malformed values are ignored).
_NUM = (
    "CASE WHEN jsonb_typeof({v}) = 'number' AND ({v})::numeric >= 0"
    " THEN round(({v})::numeric)::bigint END"
)

_STAGE = """
CREATE TEMP TABLE metrics_stage ON COMMIT DROP AS
SELECT client_id, day,
       CASE t WHEN 'msg_received' THEN 1 WHEN 'msg_sent' THEN 2 WHEN 'human_responded' THEN 3
              WHEN 'resolved' THEN 4 WHEN 'human_takeover' THEN 5 WHEN 'followup_sent' THEN 6
              WHEN 'followup_converted' THEN 7 WHEN 'ai_responded' THEN 8 WHEN 'llm_usage' THEN 9
              WHEN 'media_processed' THEN 10 WHEN 'tool_used' THEN 11 WHEN 'send_failed' THEN 12
              WHEN 'reply_dropped' THEN 13 WHEN 'opted_out' THEN 14 WHEN 'bot_resumed' THEN 15
              ELSE 0 END::smallint AS ty,
       k, conv, lat, bucket, n::integer AS n, a, na::integer AS na, b
FROM (
    SELECT e.client_id, (e.created_at AT TIME ZONE c.tz)::date AS day, e.event_type AS t,
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
           END AS k,
           CASE WHEN e.event_type = 'msg_received' THEN e.conversation_id END AS conv,
           -- grouped raw: latencies repeat within a tenant-day, so they are checked per group
           CASE WHEN e.event_type = 'ai_responded' THEN e.data->'latency_ms' END AS raw_lat,
           count(*) AS n,
           -- tokens in, audio in ms, resolution time; bigint sums are far cheaper than numeric
           sum(CASE e.event_type
                   WHEN 'ai_responded' THEN {tokens_in}
                   WHEN 'llm_usage' THEN {tokens_in}
                   WHEN 'media_processed' THEN CASE WHEN e.data->'ok' IS DISTINCT FROM 'false'
                       THEN round({seconds} * 1000)::bigint END
                   WHEN 'resolved' THEN {duration}
               END) AS a,
           count({duration}) FILTER (WHERE e.event_type = 'resolved') AS na,
           -- tokens out, images, failed tool calls
           sum(CASE e.event_type
                   WHEN 'ai_responded' THEN {tokens_out}
                   WHEN 'llm_usage' THEN {tokens_out}
                   WHEN 'media_processed' THEN CASE WHEN e.data->'ok' IS DISTINCT FROM 'false'
                       THEN {images} END
                   WHEN 'tool_used' THEN CASE WHEN e.data->'ok' = 'false' THEN 1 END
               END) AS b
    FROM conversation_events e
    JOIN (SELECT id, CASE WHEN timezone = ANY($1::text[]) THEN 'UTC' ELSE timezone END AS tz
          FROM clients) c ON c.id = e.client_id
    WHERE {filter}
    GROUP BY 1, 2, 3, 4, 5, 6
) g
CROSS JOIN LATERAL (SELECT {lat} AS lat) l
CROSS JOIN LATERAL (
    SELECT CASE WHEN lat < 1000 THEN lat
                ELSE lat - lat % (10 ^ (length(lat::text) - 3))::bigint END AS bucket) bk
{days}
"""

_MERGE = """
WITH days AS (
    SELECT client_id, day, sum(n) AS events,
        coalesce(sum(n) FILTER (WHERE ty = 1), 0) AS messages_in,
        coalesce(sum(n) FILTER (WHERE ty = 2 AND k = 'bot'), 0) AS out_bot,
        coalesce(sum(n) FILTER (WHERE ty = 2 AND k = 'human'
                                   OR ty = 3), 0) AS out_human,
        coalesce(sum(n) FILTER (WHERE ty = 4 AND k = 'ai'), 0) AS by_ai,
        coalesce(sum(n) FILTER (WHERE ty = 4 AND k = 'human'), 0) AS by_human,
        coalesce(sum(n) FILTER (WHERE ty = 5), 0) AS takeovers,
        coalesce(sum(n) FILTER (WHERE ty = 6), 0) AS fu_sent,
        coalesce(sum(n) FILTER (WHERE ty = 7), 0) AS fu_converted,
        coalesce(sum(n) FILTER (WHERE lat IS NOT NULL), 0) AS resp_n,
        coalesce(sum(n * lat), 0) AS resp_sum,
        coalesce(sum(na) FILTER (WHERE ty = 4), 0) AS resol_n,
        coalesce(sum(a) FILTER (WHERE ty = 4), 0) AS resol_sum,
        coalesce(sum(n) FILTER (WHERE ty = 13), 0) AS dropped,
        coalesce(sum(n) FILTER (WHERE ty = 14), 0) AS opt_outs,
        coalesce(sum(n) FILTER (WHERE ty = 15), 0) AS resumed,
        bool_or(bucket IS NOT NULL) AS has_hist,
        bool_or(ty BETWEEN 8 AND 12) AS has_maps
    FROM metrics_stage GROUP BY 1, 2
),
old AS (
    SELECT o.*, d.has_hist, d.has_maps
    FROM metrics_daily o JOIN days d USING (client_id, day)
),
hist_rows AS (
    SELECT client_id, day, bucket AS b, sum(n) AS n
    FROM (SELECT client_id, day, bucket, n FROM metrics_stage WHERE bucket IS NOT NULL
          UNION ALL
          SELECT o.client_id, o.day, h.key::bigint, h.value::bigint
          FROM old o, jsonb_each_text(o.response_time_hist) h WHERE o.has_hist) r
    GROUP BY 1, 2, 3
),
hist AS (
    SELECT client_id, day, jsonb_object_agg(b::text, n) AS h,
           min(b) FILTER (WHERE cum >= ceil(0.9 * total)) AS p90
    FROM (SELECT client_id, day, b, n,
                 sum(n) OVER (PARTITION BY client_id, day ORDER BY b) AS cum,
                 sum(n) OVER (PARTITION BY client_id, day) AS total
          FROM hist_rows) s
    GROUP BY 1, 2
),
kv AS (
    -- m: 1 tools_used, 2 tool_errors, 3 failed_sends, 4 usage
    SELECT client_id, day, m, key, sum(v) AS v
    FROM (SELECT client_id, day, 1 AS m, k AS key, n::numeric AS v
          FROM metrics_stage WHERE ty = 11
          UNION ALL
          SELECT client_id, day, 2, k, b FROM metrics_stage WHERE ty = 11 AND b > 0
          UNION ALL
          SELECT client_id, day, 3, k, n FROM metrics_stage WHERE ty = 12
          UNION ALL
          SELECT s.client_id, s.day, 4, s.k || '|' || u.unit, u.v
          FROM (SELECT client_id, day, ty = 10 AS media, k, sum(a) AS a,
                       sum(b) AS b
                FROM metrics_stage WHERE ty BETWEEN 8 AND 10
                GROUP BY 1, 2, 3, 4) s
          CROSS JOIN LATERAL (VALUES
              ('in', CASE WHEN NOT s.media THEN s.a END),
              ('out', CASE WHEN NOT s.media THEN s.b END),
              ('audio_s', CASE WHEN s.media THEN s.a / 1000.0 END),
              ('images', CASE WHEN s.media THEN s.b END)) u(unit, v)
          WHERE u.v IS NOT NULL
          UNION ALL
          SELECT o.client_id, o.day, x.m, x.key, x.value::numeric
          FROM old o CROSS JOIN LATERAL (
              SELECT 1 AS m, * FROM jsonb_each_text(o.tools_used)
              UNION ALL SELECT 2, * FROM jsonb_each_text(o.tool_errors)
              UNION ALL SELECT 3, * FROM jsonb_each_text(o.failed_sends)
              UNION ALL SELECT 4, * FROM jsonb_each_text(o.usage)) x
          WHERE o.has_maps) r
    GROUP BY 1, 2, 3, 4
),
maps AS (
    SELECT client_id, day,
        coalesce(jsonb_object_agg(key, v) FILTER (WHERE m = 1), '{{}}') AS tools,
        coalesce(jsonb_object_agg(key, v) FILTER (WHERE m = 2), '{{}}') AS errors,
        coalesce(jsonb_object_agg(key, v) FILTER (WHERE m = 3), '{{}}') AS codes,
        coalesce(jsonb_object_agg(key, v) FILTER (WHERE m = 4 AND v > 0), '{{}}') AS u,
        round(coalesce(sum(v * coalesce(
            $1::jsonb -> left(key, length(key) - length(split_part(key, '|', -1)) - 1)
                      ->> split_part(key, '|', -1),
            $1::jsonb -> 'default' ->> split_part(key, '|', -1),
            '0')::numeric) FILTER (WHERE m = 4 AND v > 0), 0), 6) AS cost
    FROM kv GROUP BY 1, 2
),
conv_ids AS (
    -- the stage holds one row per (tenant, day, conversation) of msg_received: distinct
    SELECT client_id, day, conv FROM metrics_stage WHERE conv IS NOT NULL
    UNION
    SELECT s.client_id, s.day, x.conv
    FROM metrics_daily_conversations s
    JOIN (SELECT DISTINCT client_id, day FROM metrics_stage WHERE conv IS NOT NULL) d
        USING (client_id, day)
    CROSS JOIN LATERAL unnest(s.conversation_ids) x(conv)
),
conv AS (
    INSERT INTO metrics_daily_conversations AS s (client_id, day, conversation_ids)
    SELECT client_id, day, array_agg(conv) FROM conv_ids GROUP BY 1, 2
    ON CONFLICT (client_id, day) DO UPDATE SET conversation_ids = EXCLUDED.conversation_ids
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
        bot_resumptions, updated_at)
    SELECT d.client_id, d.day,
           coalesce(o.events, 0) + d.events,
           coalesce(c.n, o.conversations, 0),
           coalesce(o.messages_in, 0) + d.messages_in,
           coalesce(o.messages_out_bot, 0) + d.out_bot,
           coalesce(o.messages_out_human, 0) + d.out_human,
           coalesce(o.resolved_by_ai, 0) + d.by_ai,
           coalesce(o.resolved_by_human, 0) + d.by_human,
           coalesce(o.human_takeovers, 0) + d.takeovers,
           coalesce(o.followups_sent, 0) + d.fu_sent,
           coalesce(o.followups_converted, 0) + d.fu_converted,
           coalesce(o.response_count, 0) + d.resp_n,
           coalesce(o.response_time_sum_ms, 0) + d.resp_sum,
           CASE WHEN d.has_hist THEN h.p90 ELSE o.response_time_p90_ms END,
           CASE WHEN d.has_hist THEN h.h ELSE coalesce(o.response_time_hist, '{{}}') END,
           coalesce(o.resolution_count, 0) + d.resol_n,
           coalesce(o.resolution_time_sum_ms, 0) + d.resol_sum,
           coalesce(m.tools, o.tools_used, '{{}}'),
           coalesce(m.errors, o.tool_errors, '{{}}'),
           coalesce(m.codes, o.failed_sends, '{{}}'),
           coalesce(m.u, o.usage, '{{}}'),
           coalesce(m.cost, o.cost_usd, 0),
           coalesce(o.replies_dropped, 0) + d.dropped,
           coalesce(o.opt_outs, 0) + d.opt_outs,
           coalesce(o.bot_resumptions, 0) + d.resumed,
           now()
    FROM days d
    LEFT JOIN old o USING (client_id, day)
    LEFT JOIN conv c USING (client_id, day)
    LEFT JOIN hist h USING (client_id, day)
    LEFT JOIN maps m USING (client_id, day)
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
        updated_at = EXCLUDED.updated_at
    RETURNING 1
)
SELECT (SELECT coalesce(sum(events), 0) FROM days)::bigint AS events,
       (SELECT count(*) FROM up) AS rows
"""


def stage_sql(filter_sql: str, days_sql: str = "") -> str:
    """The staging statement over the events `filter_sql` selects (trusted constants only)."""
    return _STAGE.format(
        filter=filter_sql,
        days=days_sql,
        tokens_in=_NUM.format(v="e.data->'tokens_in'"),
        tokens_out=_NUM.format(v="e.data->'tokens_out'"),
        duration=_NUM.format(v="e.data->'duration_ms'"),
        images=_NUM.format(v="e.data->'images'"),
        seconds=(
            "CASE WHEN jsonb_typeof(e.data->'seconds') = 'number'"
            " AND (e.data->'seconds')::numeric >= 0 THEN (e.data->'seconds')::numeric END"
        ),
        lat=_NUM.format(v="g.raw_lat"),
    )


INCREMENT_STAGE = stage_sql(INCREMENT_FILTER)
ALL_STAGE = stage_sql(ALL_FILTER)
RANGE_STAGE = stage_sql(RANGE_FILTER, RANGE_DAYS)
MERGE_SQL = _MERGE.replace("{{", "{").replace("}}", "}")
