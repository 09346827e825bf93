-- Handovers per kind of cause ({"ai": 3, "console": 1, ...}) for the console's metrics page.
-- Rows rolled up before this migration keep '{}': `python -m metrics recompute` fills them.
ALTER TABLE metrics_daily
    ADD COLUMN IF NOT EXISTS handover_causes jsonb NOT NULL DEFAULT '{}'::jsonb;
