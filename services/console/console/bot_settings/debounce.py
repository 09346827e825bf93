"""The debounce section (`tools_config.debounce`): how long ingest waits for a burst to end."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field, field_validator

from console.bot_settings.base import FieldError, SectionForm, Stored, merge
from console.bot_settings.fields import Word, unique_words


class DebounceForm(SectionForm):
    section: ClassVar[str] = "debounce"

    quiet_seconds: float | None = Field(None, ge=0, le=120, allow_inf_nan=False)
    max_wait_seconds: float | None = Field(None, ge=0, le=600, allow_inf_nan=False)
    max_burst: int | None = Field(None, ge=1, le=100)
    flush_keywords: list[Word] | None = Field(None, max_length=50)

    @field_validator("flush_keywords")
    @classmethod
    def _keywords(cls, value: list[str] | None) -> list[str] | None:
        return unique_words([v.casefold() for v in value]) if value is not None else None

    @classmethod
    def view(cls, stored: Stored) -> dict[str, Any]:
        cfg = stored.part("debounce")
        return {
            "quiet_seconds": cfg.get("quiet_seconds"),
            "max_wait_seconds": cfg.get("max_wait_seconds"),
            "max_burst": cfg.get("max_burst"),
            "flush_keywords": list(cfg.get("flush_keywords") or []),
        }

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        # lancepilot_ingest.bursts.DebounceConfig (Meta numbers without a `debounce` key
        # get the gateway's shorter default)
        return {
            "quiet_seconds": 6.0,
            "max_wait_seconds": 30.0,
            "max_burst": 20,
            "flush_keywords": [],
        }

    def apply(self, stored: Stored) -> None:
        stored.tools["debounce"] = merge(stored.part("debounce"), self.sent())

    def check(self, stored: Stored) -> list[FieldError]:
        cfg = stored.part("debounce")
        quiet, wait = cfg.get("quiet_seconds"), cfg.get("max_wait_seconds")
        if isinstance(quiet, int | float) and isinstance(wait, int | float) and wait < quiet:
            return [FieldError("max_wait_seconds", "não pode ser menor que a janela de silêncio")]
        return []
