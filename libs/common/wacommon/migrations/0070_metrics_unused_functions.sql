-- The rollup now buckets, checks and adds values set-based inside its own statements
-- (services/metrics/metrics/rollup_sql.py): these per-row helpers have no caller left.
DROP FUNCTION IF EXISTS metrics_bucket(bigint);
DROP FUNCTION IF EXISTS metrics_num(jsonb);
DROP FUNCTION IF EXISTS metrics_jsonb_sum(jsonb, jsonb);
DROP FUNCTION IF EXISTS metrics_hist_quantile(jsonb, numeric);
DROP FUNCTION IF EXISTS metrics_cost(jsonb, jsonb);
