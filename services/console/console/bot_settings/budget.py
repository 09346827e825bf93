"""The monthly AI budget section (`tools_config.budget`, read by `waai.budget`)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from console.bot_settings.base import FieldError, SectionForm, Stored, merge


class BudgetForm(SectionForm):
    section: ClassVar[str] = "budget"

    # reais per month; unset (or 0): no limit
    soft_brl: float | None = Field(None, ge=0, le=1_000_000, allow_inf_nan=False)
    hard_brl: float | None = Field(None, ge=0, le=1_000_000, allow_inf_nan=False)
    # the model that answers past the soft limit (same provider and key as the tenant's)
    cheaper_model: str | None = Field(None, max_length=120)
    on_hard: Literal["handover", "offline"] | None = None

    @classmethod
    def view(cls, stored: Stored) -> dict[str, Any]:
        cfg = stored.part("budget")
        return {
            "soft_brl": cfg.get("soft_brl"),
            "hard_brl": cfg.get("hard_brl"),
            "cheaper_model": cfg.get("cheaper_model"),
            "on_hard": cfg.get("on_hard") or "handover",
        }

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return {"soft_brl": None, "hard_brl": None, "cheaper_model": None, "on_hard": "handover"}

    def apply(self, stored: Stored) -> None:
        values = {k: (v or None) if k != "on_hard" else v for k, v in self.sent().items()}
        stored.tools["budget"] = merge(stored.part("budget"), values)

    def check(self, stored: Stored) -> list[FieldError]:
        cfg = stored.part("budget")
        soft, hard = cfg.get("soft_brl"), cfg.get("hard_brl")
        if isinstance(soft, int | float) and isinstance(hard, int | float) and hard < soft:
            return [FieldError("hard_brl", "não pode ser menor que o limite de aviso")]
        return []
