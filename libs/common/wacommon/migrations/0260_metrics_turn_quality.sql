-- Per-day sums of the `turn_quality` events (one per AI turn, waai.turn_quality): the
-- grounded rate is quality_grounded / quality_judged, passages, tokens and cost per turn are
-- sums over quality_turns. Silent turns per reason and AI handovers per category are maps
-- ({"stale": 2, ...}). Rows rolled up before this migration keep zeros: `python -m metrics
-- recompute` fills them.
ALTER TABLE metrics_daily
    ADD COLUMN IF NOT EXISTS quality_turns bigint NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS quality_judged bigint NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS quality_grounded bigint NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS quality_passages bigint NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS quality_repeated bigint NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS quality_tokens_in bigint NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS quality_tokens_out bigint NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS quality_cost_brl numeric(18, 6) NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS silent_reasons jsonb NOT NULL DEFAULT '{}'::jsonb,
    ADD COLUMN IF NOT EXISTS handover_categories jsonb NOT NULL DEFAULT '{}'::jsonb;
