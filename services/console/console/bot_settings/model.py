"""The model section (`tools_config.llm_config`) over the deployment's AI defaults."""

from __future__ import annotations

from functools import cache
from typing import Any, ClassVar, Literal

from pydantic import Field, ValidationInfo, field_validator

from console.bot_settings.base import FieldError, SectionForm, Stored, keep_secret, masked, merge
from console.bot_settings.fields import check_base_url
from waai.llm.config import AISettings


@cache
def ai_defaults() -> AISettings:
    """The deployment's AI defaults, read from the environment as the rag-worker reads them."""
    return AISettings()


# "openrouter" stays for tenants that already name it (the OpenRouter base URL and key
# defaults of the deployment); new ones pick openai_compatible with a base URL
PROVIDERS = ("openai", "gemini", "openai_compatible", "openrouter")


class ModelForm(SectionForm):
    section: ClassVar[str] = "model"

    provider: Literal[PROVIDERS] | None = None  # type: ignore[valid-type]
    model: str | None = Field(None, max_length=200)
    base_url: str | None = Field(None, max_length=500)
    temperature: float | None = Field(None, ge=0, le=2, allow_inf_nan=False)
    max_tokens: int | None = Field(None, ge=16, le=32000)
    history_messages: int | None = Field(None, ge=0, le=200)
    history_hours: float | None = Field(None, gt=0, le=24 * 90, allow_inf_nan=False)
    api_key: str | None = Field(None, max_length=1000)

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str | None, info: ValidationInfo) -> str | None:
        if not value:
            return None
        allowed = (info.context or {}).get("allowed_hosts", frozenset())
        return check_base_url(value, allowed)

    @classmethod
    def view(cls, stored: Stored) -> dict[str, Any]:
        llm = stored.part("llm_config")
        return {
            "provider": llm.get("provider"),
            "model": llm.get("model"),
            "base_url": llm.get("base_url"),
            "temperature": llm.get("temperature"),
            "max_tokens": llm.get("max_tokens"),
            "history_messages": llm.get("history_messages"),
            "history_hours": llm.get("history_hours"),
            "api_key": masked(llm.get("api_key")),
        }

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        ai = ai_defaults()
        return {
            "provider": ai.llm_provider,
            "model": {
                "openai": ai.openai_model,
                "gemini": ai.gemini_model,
                "openai_compatible": None,
                "openrouter": ai.openrouter_model,
            },
            "base_url": None,
            "temperature": ai.llm_temperature,
            "max_tokens": ai.llm_max_tokens,
            "history_messages": ai.llm_history_messages,
            "history_hours": ai.llm_history_hours,
            "api_key": None,
        }

    def apply(self, stored: Stored) -> None:
        current = stored.part("llm_config")
        sent = self.sent()
        if "api_key" in sent:
            sent["api_key"] = keep_secret(sent["api_key"], current.get("api_key"))
        stored.tools["llm_config"] = merge(current, sent)

    def check(self, stored: Stored) -> list[FieldError]:
        llm = stored.part("llm_config")
        if llm.get("provider") != "openai_compatible":
            return []
        errors = []
        if not llm.get("base_url"):
            errors.append(FieldError("base_url", "obrigatório para um servidor compatível"))
        if not llm.get("model"):
            errors.append(FieldError("model", "obrigatório para um servidor compatível"))
        return errors
