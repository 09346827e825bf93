"""Settings of the metrics service: aggregation cadence, read API limits and the price table."""

from __future__ import annotations

from wacommon.metrics.prices import ModelPrice, PricedSettings, default_prices

__all__ = ["MetricsSettings", "ModelPrice", "default_prices"]


class MetricsSettings(PricedSettings):
    """Shared settings plus what only the metrics service reads (prices: `PricedSettings`)."""

    service_name: str = "metrics"
    # seconds between incremental aggregation runs
    aggregation_interval_s: float = 300.0
    # longest date range one read request may ask for
    metrics_max_range_days: int = 400
    # how long a tenant API key lookup is cached (revocation takes effect after this)
    metrics_auth_cache_s: float = 30.0
