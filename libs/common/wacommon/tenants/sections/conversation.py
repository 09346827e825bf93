"""The sections a conversation's course follows: the human handover and its stop words,
business hours, and the customer's #commands."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from wacommon.tenants.flags import truthy
from wacommon.tenants.sections.base import Section


class HandoverSection(Section):
    """`tools_config["atendimento_humano"]`: how long a human's reply pauses the bot."""

    timeout_minutes: float | None = None
    permanent_on_human_reply: bool = False
    instructions: str | None = None

    @field_validator("timeout_minutes", mode="before")
    @classmethod
    def _minutes(cls, value: Any) -> float | None:
        # a value of another type, or one float() refuses, means "no tenant timeout"
        if isinstance(value, int | float | str) and str(value).strip():
            try:
                return float(value)
            except ValueError:
                return None
        return None

    @field_validator("permanent_on_human_reply", mode="before")
    @classmethod
    def _switch(cls, value: Any) -> bool:
        return truthy(value)


class StopTriggersSection(Section):
    """`tools_config["desativar_ia"]`: words in a human's message that pause the bot for good."""

    triggers: tuple[str, ...] = Field(default=(), alias="instructions")

    @field_validator("triggers", mode="before")
    @classmethod
    def _split(cls, value: Any) -> tuple[str, ...]:
        # as the seed's reader did: any value is read as text (even null, as "none")
        return tuple(t.strip().lower() for t in str(value).split(",") if t.strip())


class HoursSection(Section):
    """`tools_config["business_hours"]`: opening hours, holidays and the off-hours reply.

    `schedule` and `holidays` keep the seed's shapes (day keys seg..dom or English names,
    "HH:MM" strings); `wacommon.conversation.business_hours` reads them.
    """

    active: bool = False
    mode: str = "dentro"
    schedule: dict[str, Any] = Field(default_factory=dict)
    holidays: list[Any] = Field(default_factory=list)
    # sent once per closed period ("dentro"), or once per open period in mode "fora"
    off_message: Any = None
    on_message: Any = None

    @field_validator("active", mode="before")
    @classmethod
    def _active(cls, value: Any) -> bool:
        return truthy(value)

    @field_validator("mode", mode="before")
    @classmethod
    def _mode(cls, value: Any) -> str:
        return str(value or "dentro").lower()

    @field_validator("schedule", mode="before")
    @classmethod
    def _schedule(cls, value: Any) -> dict[str, Any]:
        return value if isinstance(value, dict) else {}

    @field_validator("holidays", mode="before")
    @classmethod
    def _holidays(cls, value: Any) -> list[Any]:
        return list(value) if isinstance(value, list) else []


class CommandsSection(Section):
    """`tools_config["commands"]`: the customer's #commands and what the bot answers them.

    The command lists stay as written (None: the defaults in `wacommon.conversation.commands`).
    """

    enabled: bool = True
    pause: Any = None
    resume: Any = None
    reset: Any = None
    opt_out: Any = None
    opt_out_phrases: Any = None
    customer_can_resume: bool = False
    customer_can_reset: bool = True
    # absent: the default pause; present but empty (0, null): a pause until resumed
    pause_hours: Any = 24
    replies: dict[str, Any] | None = None

    @field_validator("enabled", mode="before")
    @classmethod
    def _enabled(cls, value: Any) -> bool:
        return value is not False

    @field_validator("customer_can_resume", "customer_can_reset", mode="before")
    @classmethod
    def _bool(cls, value: Any) -> bool:
        return bool(value)

    @field_validator("replies", mode="before")
    @classmethod
    def _replies(cls, value: Any) -> dict[str, Any] | None:
        return value if isinstance(value, dict) else None
