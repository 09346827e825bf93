"""The rollup: events selected by a filter -> merged rows of `metrics_daily`.

Four STAGE statements, each a parallel-capable `CREATE TEMP TABLE AS` over only the
events it needs, each already at one row per (tenant, local day):

- `ms_days`: every scalar metric (counts and sums) in one hash aggregate of every event;
- `ms_conv`: the distinct conversations of `msg_received` events, as an array;
- `ms_hist`: the latency histogram of `ai_responded` events and its p90;
- `ms_maps`: tools, tool errors, failed sends, usage per model and the cost of that usage
  (prices from the transaction-local setting `metrics.prices`);
- `ms_quality`: the silent turns per reason and AI handovers per category of the
  `turn_quality` events (their scalar sums are in `ms_days`).

Events of the web sandbox's conversations (provider `sandbox`, the console's "Testar o bot":
an owner's tests, not customers) count in no conversation, message, latency, quality, tool or
handover figure, but their model usage and its cost do (`ms_maps` usage and cost: the money is
real). They are told apart by an anti-join against those few conversations (`sb`, read through
the partial index of migration 0300), so nothing is written differently at event time and a
re-run over the same events gives the same rows.

`metrics_merge_sql.MERGE_SQL` then merges them into `metrics_daily`.
Parameters: STAGE takes `$1` the zone names PostgreSQL does not know (those tenants
count in UTC), then the filter's.
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

TEMP_TABLES = ("ms_days", "ms_conv", "ms_hist", "ms_maps", "ms_quality")

# `sb.id` is set on the events of a sandbox conversation (see `_REAL`)
_SOURCE = """
    FROM conversation_events e
    JOIN (SELECT id, CASE WHEN timezone = ANY($1::text[]) THEN 'UTC' ELSE timezone END AS tz
          FROM clients) c ON c.id = e.client_id
    LEFT JOIN (SELECT id FROM active_conversations WHERE provider = 'sandbox') sb
           ON sb.id = e.conversation_id
    WHERE {filter}"""

# an event of a real customer's conversation (or of none): not the owner's own tests
_REAL = "sb.id IS NULL"
# what the sandbox's events count for: the model usage they paid for
_PAID = "e.event_type IN ('ai_responded', 'llm_usage', 'media_processed')"

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

# every count over real events only (`{real}` in each FILTER); the row itself is there for
# every tenant-day with events, sandbox ones included: the merge is driven by `ms_days`, and a
# day of sandbox-only usage must still add its cost
_DAYS = """
SELECT e.client_id, {day} AS day,
    count(*) FILTER (WHERE {real}) AS events,
    count(*) FILTER (WHERE {real} AND e.event_type = 'msg_received') AS messages_in,
    count(*) FILTER (WHERE {real} AND e.event_type = 'msg_sent') AS sent,
    count(*) FILTER (WHERE {real} AND e.event_type = 'msg_sent' AND e.data->>'role' {human}) AS sent_human,
    count(*) FILTER (WHERE {real} AND e.event_type = 'human_responded') AS human_responded,
    count(*) FILTER (WHERE {real} AND e.event_type = 'resolved') AS resolved,
    count(*) FILTER (WHERE {real} AND e.event_type = 'resolved' AND e.data->>'by' {human}) AS by_human,
    count(*) FILTER (WHERE {real} AND e.event_type = 'human_takeover') AS takeovers,
    count(*) FILTER (WHERE {real} AND e.event_type = 'followup_sent') AS fu_sent,
    count(*) FILTER (WHERE {real} AND e.event_type = 'followup_converted') AS fu_converted,
    count(*) FILTER (WHERE {real} AND e.event_type = 'reply_dropped') AS dropped,
    count(*) FILTER (WHERE {real} AND e.event_type = 'opted_out') AS opt_outs,
    count(*) FILTER (WHERE {real} AND e.event_type = 'bot_resumed') AS resumed,
    count({latency}) FILTER (WHERE {real} AND e.event_type = 'ai_responded') AS resp_n,
    coalesce(sum({latency}) FILTER (WHERE {real} AND e.event_type = 'ai_responded'), 0) AS resp_sum,
    count({duration}) FILTER (WHERE {real} AND e.event_type = 'resolved') AS resol_n,
    coalesce(sum({duration}) FILTER (WHERE {real} AND e.event_type = 'resolved'), 0) AS resol_sum,
    count(*) FILTER (WHERE {real} AND e.event_type = 'turn_quality') AS q_turns,
    count(*) FILTER (WHERE {real} AND e.event_type = 'turn_quality'
                       AND jsonb_typeof(e.data->'grounded') = 'boolean') AS q_judged,
    count(*) FILTER (WHERE {real} AND e.event_type = 'turn_quality'
                       AND e.data->'grounded' = 'true') AS q_grounded,
    coalesce(sum({passages}) FILTER (WHERE {real} AND e.event_type = 'turn_quality'), 0) AS q_passages,
    count(*) FILTER (WHERE {real} AND e.event_type = 'turn_quality'
                       AND e.data->'repeated_info' = 'true') AS q_repeated,
    coalesce(sum({tokens_in}) FILTER (WHERE {real} AND e.event_type = 'turn_quality'), 0) AS q_tokens_in,
    coalesce(sum({tokens_out}) FILTER (WHERE {real} AND e.event_type = 'turn_quality'), 0) AS q_tokens_out,
    coalesce(sum({cost_brl}) FILTER (WHERE {real} AND e.event_type = 'turn_quality'), 0) AS q_cost_brl
{source}
GROUP BY 1, 2
"""

_CONV = """
SELECT client_id, day, array_agg(conv) AS ids
FROM (SELECT DISTINCT e.client_id, {day} AS day, e.conversation_id AS conv
      {source} AND e.event_type = 'msg_received' AND e.conversation_id IS NOT NULL
               AND {real}) s
GROUP BY 1, 2
"""

# buckets: exact below 1 s, then truncated to three significant digits (integer steps only).
# Each event's latency is checked and bucketed in the scan (`l.lat`, a lateral of the event),
# so the parallel workers group by bucket and the serial tail after them (windows for p90,
# the JSON histogram) sees one row per (tenant, day, bucket). Grouping the raw JSON values
# first and bucketing each group afterwards left all of that to one core: 1.4x slower.
_HIST = """
SELECT client_id, day, jsonb_object_agg(b::text, n) AS hist,
       min(b) FILTER (WHERE cum >= ceil(0.9 * total)) AS p90
FROM (SELECT client_id, day, b, n,
             sum(n) OVER (PARTITION BY client_id, day ORDER BY b) AS cum,
             sum(n) OVER (PARTITION BY client_id, day) AS total
      FROM (SELECT e.client_id, {day} AS day,
                   CASE WHEN l.lat < 1000 THEN l.lat
                        ELSE l.lat - l.lat % (10 ^ (length(l.lat::text) - 3))::bigint END AS b,
                   count(*) AS n
            {latency_source} AND e.event_type = 'ai_responded'
            GROUP BY 1, 2, 3) g) w
GROUP BY 1, 2
"""

# one row per (tenant, day, kind, key): kind 1 tool calls (b = failed ones), 2 failed sends,
# 3 LLM tokens of a model (a in, b out), 4 media of a model (a audio ms, b images),
# 5 handovers by the kind of their cause
_MAPS = """
SELECT client_id, day,
    jsonb_object_agg(k, n) FILTER (WHERE kind = 1) AS tools,
    jsonb_object_agg(k, b) FILTER (WHERE kind = 1 AND b > 0) AS errors,
    jsonb_object_agg(k, n) FILTER (WHERE kind = 2) AS codes,
    jsonb_object_agg(k, n) FILTER (WHERE kind = 5) AS causes,
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
                             WHEN 'media_processed' THEN 4 WHEN 'human_takeover' THEN 5
                             ELSE 3 END AS kind,
           CASE e.event_type
               WHEN 'tool_used' THEN coalesce(e.data->>'tool', 'unknown')
               WHEN 'send_failed' THEN coalesce(e.data->>'code', 'unknown')
               -- the kind of cause only ("ai:<free text>" -> "ai"): a bounded set of keys
               WHEN 'human_takeover' THEN left(coalesce(nullif(split_part(e.data->>'cause', ':', 1),
                                                              ''), 'unknown'), 40)
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
                           'media_processed', 'human_takeover')
      -- tools, failed sends and handovers of real conversations; usage of every one
      AND ({real} OR {paid})
    GROUP BY 1, 2, 3, 4
    -- sorted: the outer aggregate then streams tenant-day by tenant-day; hashing it kept
    -- every group's JSON builders at once and spilled to disk on a catch-up
    ORDER BY 1, 2
) g
-- the price map of this run (set by the caller as a transaction-local setting)
-- (OFFSET 0: parsed once, not inlined into every row)
CROSS JOIN (SELECT current_setting('metrics.prices')::jsonb AS prices OFFSET 0) p
GROUP BY 1, 2
"""


# one row per (tenant, day, kind, key) of the `turn_quality` events: kind 1 silent turns
# per reason, 2 handovers per category (both small fixed sets; `left` bounds a stray key)
_QUALITY = """
SELECT client_id, day,
    jsonb_object_agg(k, n) FILTER (WHERE kind = 1) AS silent,
    jsonb_object_agg(k, n) FILTER (WHERE kind = 2) AS handovers
FROM (SELECT e.client_id, {day} AS day, q.kind, left(q.k, 40) AS k, count(*) AS n
      {quality_source}
      GROUP BY 1, 2, 3, 4) g
GROUP BY 1, 2
"""


def _lateral(source: str, lateral: str) -> str:
    """`source` with `CROSS JOIN LATERAL <lateral>` before its WHERE."""
    return source.replace("\n    WHERE ", f"\n    CROSS JOIN LATERAL {lateral}\n    WHERE ", 1)


def select_sql(filter_sql: str) -> list[str]:
    """The five stage SELECTs over the events `filter_sql` selects (trusted constants only)."""
    latency = _NUM.format(v="e.data->'latency_ms'")
    parts = {
        "source": _SOURCE.format(filter=filter_sql),
        "day": _DAY,
        "human": _HUMAN,
        "real": _REAL,
        "paid": _PAID,
        "latency": latency,
        # the events with a valid latency, each with it as `l.lat`
        "latency_source": _lateral(
            _SOURCE.format(filter=f"l.lat IS NOT NULL AND {_REAL} AND " + filter_sql),
            f"(SELECT {latency} AS lat) l",
        ),
        # each turn_quality event as its (kind, key) rows: its silent reason, its handover
        "quality_source": _lateral(
            _SOURCE.format(
                filter=f"e.event_type = 'turn_quality' AND q.k IS NOT NULL AND {_REAL} AND "
                + filter_sql
            ),
            "(VALUES (1, e.data->>'silent'), (2, e.data->>'handover')) q(kind, k)",
        ),
        "passages": _NUM.format(v="e.data->'passages'"),
        "cost_brl": (
            "CASE WHEN jsonb_typeof(e.data->'cost_brl') = 'number'"
            " AND (e.data->'cost_brl')::numeric BETWEEN 0 AND 1e9"
            " THEN (e.data->'cost_brl')::numeric END"
        ),
        "duration": _NUM.format(v="e.data->'duration_ms'"),
        "tokens_in": _NUM.format(v="e.data->'tokens_in'"),
        "tokens_out": _NUM.format(v="e.data->'tokens_out'"),
        "images": _NUM.format(v="e.data->'images'"),
        "seconds": _SECONDS,
    }
    return [sql.format(**parts) for sql in (_DAYS, _CONV, _HIST, _MAPS, _QUALITY)]


def stage_sql(filter_sql: str) -> list[str]:
    """The staging statements: each SELECT into its temp table, dropped at commit."""
    return [
        f"CREATE TEMP TABLE {name} ON COMMIT DROP AS\n{sql}"
        for name, sql in zip(TEMP_TABLES, select_sql(filter_sql), strict=True)
    ]


INCREMENT_STAGE = stage_sql(INCREMENT_FILTER)
ALL_STAGE = stage_sql(ALL_FILTER)
RANGE_STAGE = stage_sql(RANGE_FILTER)
