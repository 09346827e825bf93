"""Settings of the metrics service: aggregation cadence, read API limits and the price table."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from wacommon.prices import ModelPrice, default_prices
from wacommon.settings import Settings


class MetricsSettings(Settings):
    """Shared settings plus what only the metrics service reads."""

    service_name: str = "metrics"
    # seconds between incremental aggregation runs
    aggregation_interval_s: float = 300.0
    # JSON {model: {input_per_1m, output_per_1m, audio_per_minute, per_image}}; replaces the table
    metrics_prices: dict[str, ModelPrice] = Field(default_factory=default_prices)
    # longest date range one read request may ask for
    metrics_max_range_days: int = 400
    # how long a tenant API key lookup is cached (revocation takes effect after this)
    metrics_auth_cache_s: float = 30.0

    def price_map(self) -> dict[str, Any]:
        """The price table in the per-unit form the aggregation SQL takes."""
        prices = dict(self.metrics_prices)
        prices.setdefault("default", ModelPrice())
        return {model: price.per_unit() for model, price in prices.items()}
