"""The metrics rollup (`conversation_events` -> `metrics_daily`), its live reading of today, and the model prices."""
