"""The persona section: the `system_prompt` column and `tools_config.persona`."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from console.bot_settings.base import SectionForm, Stored, merge
from wacommon.tenants.sections.ai import BUSINESS_TYPES


class PersonaForm(SectionForm):
    section: ClassVar[str] = "persona"

    system_prompt: str | None = Field(None, max_length=20000)
    business_type: Literal[BUSINESS_TYPES] | None = None  # type: ignore[valid-type]
    tone: str | None = Field(None, max_length=200)
    greeting: str | None = Field(None, max_length=1000)

    @classmethod
    def view(cls, stored: Stored) -> dict[str, Any]:
        persona = stored.part("persona")
        return {
            "system_prompt": stored.system_prompt,
            "business_type": persona.get("business_type") or "generic",
            "tone": persona.get("tone"),
            "greeting": persona.get("greeting"),
        }

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return {"system_prompt": "", "business_type": "generic", "tone": None, "greeting": None}

    def apply(self, stored: Stored) -> None:
        sent = self.sent()
        if "system_prompt" in sent:
            stored.system_prompt = sent.pop("system_prompt") or ""
        if sent:
            stored.tools["persona"] = merge(stored.part("persona"), sent)
