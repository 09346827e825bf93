"""The allow/block lists: `tools_config.security_lists` (`wacommon.tenants.contact_filter`)."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import Field, field_validator

from console.bot_settings.base import SectionForm, Stored, merge
from wacommon.tenants.contact_filter import phone_set

Phone = Annotated[str, Field(min_length=1, max_length=32)]


class ContactsForm(SectionForm):
    section: ClassVar[str] = "contacts"

    active: bool | None = None
    # when not empty, the bot answers only these numbers
    allowed_numbers: list[Phone] | None = Field(None, max_length=5000)
    # the bot never answers these
    blocked_numbers: list[Phone] | None = Field(None, max_length=5000)

    @field_validator("allowed_numbers", "blocked_numbers")
    @classmethod
    def _phones(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        for number in value:
            digits = "".join(c for c in number if c.isdigit())
            if not 8 <= len(digits) <= 15 or any(c.isalpha() for c in number):
                raise ValueError(f"{number!r} não é um número de telefone (8 a 15 dígitos)")
        return sorted(phone_set(value))

    @classmethod
    def view(cls, stored: Stored) -> dict[str, Any]:
        cfg = stored.part("security_lists")
        return {
            "active": cfg.get("active") is not False,
            "allowed_numbers": sorted(phone_set(cfg.get("allowed_numbers"))),
            "blocked_numbers": sorted(phone_set(cfg.get("blocked_numbers"))),
        }

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return {"active": True, "allowed_numbers": [], "blocked_numbers": []}

    def apply(self, stored: Stored) -> None:
        stored.tools["security_lists"] = merge(stored.part("security_lists"), self.sent())
