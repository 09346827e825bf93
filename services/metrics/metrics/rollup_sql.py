"""The rollup: events selected by a filter -> merged rows of `metrics_daily`.

Four STAGE statements, each a parallel-capable `CREATE TEMP TABLE AS` over only the
events it needs, each already at one row per (tenant, local day):

- `ms_days`: every scalar metric (counts and sums) in one hash aggregate of every event;
- `ms_conv`: the distinct conversations of `msg_received` events, as an array;
- `ms_hist`: the latency histogram of `ai_responded` events and its p90;
- `ms_maps`: tools, tool errors, failed sends, usage per model and the cost of that usage
  (prices from the transaction-local setting `metrics.prices`).

MERGE then adds the stored row of each tenant-day the run touches (set-based sums; the
stored maps, histograms and conversation sets are combined only for days that have both,
so a catch-up over days nobody counted yet never expands JSON) and upserts the result.
Parameters: STAGE takes `$1` the zone names PostgreSQL does not know (those tenants
count in UTC), then the filter's; MERGE takes `$1` the price map.
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
    " AND (e.created_at AT TIME ZONE c.tz)::date BETWEEN $6 AND $7"
)

TEMP_TABLES = ("ms_days", "ms_conv", "ms_hist", "ms_maps")

_SOURCE = """
    FROM conversation_events e
    JOIN (SELECT id, CASE WHEN timezone = ANY($1::text[]) THEN 'UTC' ELSE timezone END AS tz
          FROM clients) c ON c.id = e.client_id
    WHERE {filter}"""

_DAY = "(e.created_at AT TIME ZONE c.tz)::date"

# A JSON value as a non-negative integer, else NULL: a malformed value is ignored, and an
# absurdly large one too (the bigint cast would otherwise abort the whole rollup).
_NUM = (
    "CASE WHEN jsonb_typeof({v}) = 'number' AND ({v})::numeric BETWEEN 0 AND 1e15"
    " THEN round(({v})::numeric)::bigint END"
)
_SECONDS = (
    "CASE WHEN jsonb_typeof(e.data->'seconds') = 'number'"
    " AND (e.data->'seconds')::numeric BETWEEN 0 AND 1e12 THEN (e.data->'seconds')::numeric END"
)
_HUMAN = "IN ('human', 'operator')"

_DAYS = """
CREATE TEMP TABLE ms_days ON COMMIT DROP AS
SELECT e.client_id, {day} AS day,
    count(*) AS events,
    count(*) FILTER (WHERE e.event_type = 'msg_received') AS messages_in,
    count(*) FILTER (WHERE e.event_type = 'msg_sent') AS sent,
    count(*) FILTER (WHERE e.event_type = 'msg_sent' AND e.data->>'role' {human}) AS sent_human,
    count(*) FILTER (WHERE e.event_type = 'human_responded') AS human_responded,
    count(*) FILTER (WHERE e.event_type = 'resolved') AS resolved,
    count(*) FILTER (WHERE e.event_type = 'resolved' AND e.data->>'by' {human}) AS by_human,
    count(*) FILTER (WHERE e.event_type = 'human_takeover') AS takeovers,
    count(*) FILTER (WHERE e.event_type = 'followup_sent') AS fu_sent,
    count(*) FILTER (WHERE e.event_type = 'followup_converted') AS fu_converted,
    count(*) FILTER (WHERE e.event_type = 'reply_dropped') AS dropped,
    count(*) FILTER (WHERE e.event_type = 'opted_out') AS opt_outs,
    count(*) FILTER (WHERE e.event_type = 'bot_resumed') AS resumed,
    count({latency}) FILTER (WHERE e.event_type = 'ai_responded') AS resp_n,
    coalesce(sum({latency}) FILTER (WHERE e.event_type = 'ai_responded'), 0) AS resp_sum,
    count({duration}) FILTER (WHERE e.event_type = 'resolved') AS resol_n,
    coalesce(sum({duration}) FILTER (WHERE e.event_type = 'resolved'), 0) AS resol_sum
{source}
GROUP BY 1, 2
"""

_CONV = """
CREATE TEMP TABLE ms_conv ON COMMIT DROP AS
SELECT client_id, day, array_agg(conv) AS ids
FROM (SELECT DISTINCT e.client_id, {day} AS day, e.conversation_id AS conv
      {source} AND e.event_type = 'msg_received' AND e.conversation_id IS NOT NULL) s
GROUP BY 1, 2
"""

# buckets: exact below 1 s, then truncated to three significant digits (integer steps only).
# Latencies are grouped raw first (parallel-friendly, no per-event JSON checks); each group's
# value is checked and bucketed once (OFFSET 0 keeps it from being recomputed per use).
_HIST = """
CREATE TEMP TABLE ms_hist ON COMMIT DROP AS
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

# one row per (tenant, day, kind, key): kind 1 tool calls (b = failed ones), 2 failed sends,
# 3 LLM tokens of a model (a in, b out), 4 media of a model (a audio ms, b images)
_MAPS = """
CREATE TEMP TABLE ms_maps ON COMMIT DROP AS
SELECT client_id, day,
    jsonb_object_agg(k, n) FILTER (WHERE kind = 1) AS tools,
    jsonb_object_agg(k, b) FILTER (WHERE kind = 1 AND b > 0) AS errors,
    jsonb_object_agg(k, n) FILTER (WHERE kind = 2) AS codes,
    nullif(coalesce(jsonb_object_agg(k || '|in', a) FILTER (WHERE kind = 3 AND a > 0), '{{}}')
        || coalesce(jsonb_object_agg(k || '|out', b) FILTER (WHERE kind = 3 AND b > 0), '{{}}')
        || coalesce(jsonb_object_agg(k || '|audio_s', round(a / 1000.0, 3))
                    FILTER (WHERE kind = 4 AND a > 0), '{{}}')
        || coalesce(jsonb_object_agg(k || '|images', b) FILTER (WHERE kind = 4 AND b > 0), '{{}}'),
        '{{}}') AS usage,
    round(coalesce(sum(CASE kind
        WHEN 3 THEN coalesce(a * coalesce(p.prices -> k ->> 'in', p.prices -> 'default' ->> 'in',
                                          '0')::numeric, 0)
                  + coalesce(b * coalesce(p.prices -> k ->> 'out', p.prices -> 'default' ->> 'out',
                                          '0')::numeric, 0)
        WHEN 4 THEN coalesce(a / 1000.0 * coalesce(p.prices -> k ->> 'audio_s',
                                                   p.prices -> 'default' ->> 'audio_s',
                                                   '0')::numeric, 0)
                  + coalesce(b * coalesce(p.prices -> k ->> 'images',
                                          p.prices -> 'default' ->> 'images', '0')::numeric, 0)
        END), 0), 6) AS cost
FROM (
    SELECT e.client_id, {day} AS day,
           CASE e.event_type WHEN 'tool_used' THEN 1 WHEN 'send_failed' THEN 2
                             WHEN 'media_processed' THEN 4 ELSE 3 END AS kind,
           CASE e.event_type
               WHEN 'tool_used' THEN coalesce(e.data->>'tool', 'unknown')
               WHEN 'send_failed' THEN coalesce(e.data->>'code', 'unknown')
               ELSE coalesce(e.data->>'model', 'default')
           END AS k,
           count(*) AS n,
           sum(CASE e.event_type
                   WHEN 'media_processed' THEN CASE WHEN e.data->'ok' IS DISTINCT FROM 'false'
                       THEN round({seconds} * 1000)::bigint END
                   WHEN 'ai_responded' THEN {tokens_in}
                   WHEN 'llm_usage' THEN {tokens_in}
               END) AS a,
           sum(CASE e.event_type
                   WHEN 'media_processed' THEN CASE WHEN e.data->'ok' IS DISTINCT FROM 'false'
                       THEN {images} END
                   WHEN 'tool_used' THEN CASE WHEN e.data->'ok' = 'false' THEN 1 END
                   WHEN 'ai_responded' THEN {tokens_out}
                   WHEN 'llm_usage' THEN {tokens_out}
               END) AS b
    {source}
      AND e.event_type IN ('tool_used', 'send_failed', 'ai_responded', 'llm_usage',
                           'media_processed')
    GROUP BY 1, 2, 3, 4
) g
-- the price map of this run (set by the caller as a transaction-local setting)
-- (OFFSET 0: parsed once, not inlined into every row)
CROSS JOIN (SELECT current_setting('metrics.prices')::jsonb AS prices OFFSET 0) p
GROUP BY 1, 2
"""

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
    -- (m: 1 tools, 2 tool errors, 3 failed sends, 4 usage, 5 latency histogram)
    SELECT o.client_id, o.day, x.m, x.key, sum(x.value::numeric) AS v
    FROM old o
    LEFT JOIN ms_maps m USING (client_id, day)
    LEFT JOIN ms_hist h USING (client_id, day)
    CROSS JOIN LATERAL ({both_tools} UNION ALL {both_errors} UNION ALL {both_codes}
                        UNION ALL {both_usage} UNION ALL {both_hist}) x
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
        bot_resumptions, updated_at)
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
           now()
    FROM ms_days d
    LEFT JOIN old o USING (client_id, day)
    LEFT JOIN conv c USING (client_id, day)
    LEFT JOIN ms_hist h USING (client_id, day)
    LEFT JOIN ms_maps m USING (client_id, day)
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
        updated_at = EXCLUDED.updated_at
    RETURNING 1
)
SELECT (SELECT coalesce(sum(events), 0) FROM ms_days)::bigint AS events,
       (SELECT count(*) FROM up) AS rows
"""


def stage_sql(filter_sql: str) -> list[str]:
    """The staging statements over the events `filter_sql` selects (trusted constants only)."""
    parts = {
        "source": _SOURCE.format(filter=filter_sql),
        "day": _DAY,
        "human": _HUMAN,
        "latency": _NUM.format(v="e.data->'latency_ms'"),
        "raw_latency": _NUM.format(v="r.raw"),
        "duration": _NUM.format(v="e.data->'duration_ms'"),
        "tokens_in": _NUM.format(v="e.data->'tokens_in'"),
        "tokens_out": _NUM.format(v="e.data->'tokens_out'"),
        "images": _NUM.format(v="e.data->'images'"),
        "seconds": _SECONDS,
    }
    return [sql.format(**parts) for sql in (_DAYS, _CONV, _HIST, _MAPS)]


def _merge_sql() -> str:
    maps = {
        "tools": ("o.tools_used", "m.tools", "x.tools", 1),
        "errors": ("o.tool_errors", "m.errors", "x.errors", 2),
        "codes": ("o.failed_sends", "m.codes", "x.codes", 3),
        "usage": ("o.usage", "m.usage", "x.usage", 4),
        "hist": ("o.response_time_hist", "h.hist", "x.hist", 5),
    }
    parts: dict[str, str] = {}
    for name, (o, n, x, m) in maps.items():
        parts[name] = _ADD_MAP.format(o=o, n=n, x=x)
        parts[f"both_{name}"] = _BOTH.format(o=o, n=n, m=m)
    return _MERGE.format(**parts)


INCREMENT_STAGE = stage_sql(INCREMENT_FILTER)
ALL_STAGE = stage_sql(ALL_FILTER)
RANGE_STAGE = stage_sql(RANGE_FILTER)
MERGE_SQL = _merge_sql()
