-- Metrics service (ADR-003): rollup state, watermark and helper functions. See docs/metrics.md.

-- The watermark is a transaction id: every event whose inserting transaction is below it
-- has been counted. Ids alone would skip rows that commit late (reliability.md G9).
CREATE INDEX IF NOT EXISTS conversation_events_xact ON conversation_events (xact_id);

CREATE TABLE metrics_watermark (
    name        text PRIMARY KEY,
    xact_hi     xid8 NOT NULL,
    runs        bigint NOT NULL DEFAULT 0,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO metrics_watermark (name, xact_hi) VALUES ('daily', '0');

-- The distinct conversations of each tenant-day (16 bytes each): merging sets keeps the
-- count exact when a conversation's messages of one day land in different runs.
CREATE TABLE metrics_daily_conversations (
    client_id         uuid NOT NULL,
    day               date NOT NULL,
    conversation_ids  uuid[] NOT NULL,
    PRIMARY KEY (client_id, day)
);

ALTER TABLE metrics_daily
    ADD COLUMN response_time_hist jsonb NOT NULL DEFAULT '{}'::jsonb,
    ADD COLUMN tool_errors        jsonb NOT NULL DEFAULT '{}'::jsonb,
    ADD COLUMN usage              jsonb NOT NULL DEFAULT '{}'::jsonb,
    ADD COLUMN replies_dropped    integer NOT NULL DEFAULT 0,
    ADD COLUMN opt_outs           integer NOT NULL DEFAULT 0,
    ADD COLUMN bot_resumptions    integer NOT NULL DEFAULT 0,
    ADD COLUMN events             bigint NOT NULL DEFAULT 0;

-- Histogram bucket of a latency: exact below 1 s, then truncated to 3 significant digits.
CREATE FUNCTION metrics_bucket(ms bigint) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN ms < 1000 THEN ms
                ELSE ms - ms % (10 ^ (length(ms::text) - 3))::bigint END
$$;

-- A non-negative JSON number, else NULL: one malformed event must not stop the rollup.
CREATE FUNCTION metrics_num(j jsonb) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN jsonb_typeof(j) = 'number' THEN
               CASE WHEN j::numeric >= 0 THEN j::numeric END END
$$;

-- Adds two {key: number} maps key by key.
CREATE FUNCTION metrics_jsonb_sum(a jsonb, b jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(jsonb_object_agg(key, total), '{}'::jsonb)
    FROM (SELECT key, sum(value::numeric) AS total
          FROM (SELECT * FROM jsonb_each_text(a) UNION ALL SELECT * FROM jsonb_each_text(b)) s
          GROUP BY key) t
$$;

-- Nearest-rank quantile of a {bucket_ms: count} histogram (q numeric: exact rank arithmetic).
CREATE FUNCTION metrics_hist_quantile(h jsonb, q numeric) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT min(b)::integer FROM (
        SELECT key::bigint AS b,
               sum(value::bigint) OVER (ORDER BY key::bigint) AS cum,
               sum(value::bigint) OVER () AS total
        FROM jsonb_each_text(h)) s
    WHERE cum >= ceil(q * total)
$$;

-- Cost of a usage map {"model|unit": amount} under a price map {model: {unit: price}}.
CREATE FUNCTION metrics_cost(usage jsonb, prices jsonb) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT round(coalesce(sum(u.value::numeric * coalesce(
               prices -> left(u.key, length(u.key) - length(split_part(u.key, '|', -1)) - 1)
                      ->> split_part(u.key, '|', -1),
               prices -> 'default' ->> split_part(u.key, '|', -1),
               '0')::numeric), 0), 6)
    FROM jsonb_each_text(usage) u
$$;

-- A tenant's time zone, or UTC when the stored name is not one PostgreSQL knows.
CREATE FUNCTION metrics_tz(tz text) RETURNS text
LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM now() AT TIME ZONE tz;
    RETURN tz;
EXCEPTION WHEN others THEN
    RETURN 'UTC';
END $$;
