"""The model price table (USD) that turns usage into cost, shared by every reader of usage.

The metrics service prices its rollups with it and the console prices today's live
figures with the same table, so a day costs the same before and after aggregation.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field

from wacommon.infra.settings import Settings

_PER_MILLION = Decimal(1_000_000)
_PER_MINUTE = Decimal(60)
# prices per second of audio are rounded to this many places, once, so cost is reproducible
_QUANTUM = Decimal("1e-12")


class ModelPrice(BaseModel):
    """USD prices of one model: per million tokens, per minute of audio, per image."""

    input_per_1m: Decimal = Decimal(0)
    output_per_1m: Decimal = Decimal(0)
    audio_per_minute: Decimal = Decimal(0)
    per_image: Decimal = Decimal(0)

    def per_unit(self) -> dict[str, str]:
        """Prices per usage unit as the aggregation SQL reads them (decimal strings)."""
        return {
            "in": str(self.input_per_1m / _PER_MILLION),
            "out": str(self.output_per_1m / _PER_MILLION),
            "audio_s": str((self.audio_per_minute / _PER_MINUTE).quantize(_QUANTUM)),
            "images": str(self.per_image),
        }


def _p(i: str = "0", o: str = "0", audio: str = "0", image: str = "0") -> ModelPrice:
    return ModelPrice(
        input_per_1m=Decimal(i),
        output_per_1m=Decimal(o),
        audio_per_minute=Decimal(audio),
        per_image=Decimal(image),
    )


def default_prices() -> dict[str, ModelPrice]:
    """List prices (USD) of the models the services use; "default" prices any other model."""
    return {
        "default": _p("0.50", "1.50", "0.006", "0.001"),
        "offline": _p(),
        "gpt-4o-mini": _p("0.15", "0.60"),
        "gpt-4o": _p("2.50", "10.00"),
        "gpt-4.1-mini": _p("0.40", "1.60"),
        "gpt-4.1": _p("2.00", "8.00"),
        "gemini-2.5-flash": _p("0.30", "2.50", image="0.0000774"),
        "gemini-2.0-flash": _p("0.10", "0.40", image="0.0000258"),
        "whisper-1": _p(audio="0.006"),
        "gpt-4o-transcribe": _p(audio="0.006"),
        "gpt-4o-mini-transcribe": _p(audio="0.003"),
        # OpenAI speech: the characters read, metered as tokens in (tts-1 and tts-1-hd list
        # prices per million characters; gpt-4o-mini-tts from OpenAI's estimate of
        # $0.015 a minute at about 900 characters of Portuguese a minute)
        "tts-1": _p("15.00"),
        "tts-1-hd": _p("30.00"),
        "gpt-4o-mini-tts": _p("16.67"),
        # Gemini speech: text tokens in, audio tokens (25 a second) out
        "gemini-2.5-flash-preview-tts": _p("0.50", "10.00"),
        "gemini-2.5-pro-preview-tts": _p("1.00", "20.00"),
    }


def reply_cost_usd(
    prices: Mapping[str, ModelPrice], model: str, tokens_in: int, tokens_out: int
) -> Decimal:
    """A reply's token cost: the model's price, else the "default" row's."""
    price = prices.get(model) or prices.get("default") or ModelPrice()
    return (price.input_per_1m * tokens_in + price.output_per_1m * tokens_out) / _PER_MILLION


class PricedSettings(Settings):
    """Settings of a service that prices usage: `METRICS_PRICES`, one table for all of them."""

    # JSON {model: {input_per_1m, output_per_1m, audio_per_minute, per_image}}; replaces the table
    metrics_prices: dict[str, ModelPrice] = Field(default_factory=default_prices)

    def price_map(self) -> dict[str, Any]:
        """The price table in the per-unit form the aggregation SQL takes."""
        prices = dict(self.metrics_prices)
        prices.setdefault("default", ModelPrice())
        return {model: price.per_unit() for model, price in prices.items()}
