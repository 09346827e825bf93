"""`clients.followup_config`: the follow-up stages, allowed hours and templates."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator, model_validator

from wacommon.tenants.flags import truthy
from wacommon.tenants.sections.base import Section

# a year: a longer delay or window is a typo, and one past the date range broke every reply
MAX_SPAN_MINUTES = 366 * 24 * 60


def _span(value: Any, default: float) -> float:
    """A non-negative number at most MAX_SPAN_MINUTES; anything else is `default`."""
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return default
    if number != number:  # NaN
        return default
    return min(max(0.0, number), float(MAX_SPAN_MINUTES))


class FollowupStageSection(Section):
    """One follow-up: LLM text from `instruction`, a fixed `message`, or media at `media_url`.

    The seed's names are read too: `prompt` for `instruction`, `text` for `message`,
    `audio_url` for `media_url`.
    """

    type: str = "text"
    delay_minutes: float = 60.0
    instruction: str = ""
    message: str = ""
    media_url: Any = None
    # an approved template {name, language, components} for use outside the 24-hour window
    template: dict[str, Any] | None = None

    @model_validator(mode="before")
    @classmethod
    def _seed_names(cls, raw: Any) -> Any:
        if not isinstance(raw, dict):
            return raw
        data = dict(raw)
        data["type"] = str(raw.get("type") or "text").lower()
        data["delay_minutes"] = _span(raw.get("delay_minutes"), 60.0)
        data["instruction"] = str(raw.get("prompt") or raw.get("instruction") or "")
        data["message"] = str(raw.get("message") or raw.get("text") or "")
        data["media_url"] = raw.get("media_url") or raw.get("audio_url")
        template = raw.get("template")
        data["template"] = template if isinstance(template, dict) and template.get("name") else None
        return data


class FollowupsSection(Section):
    """`clients.followup_config`: the follow-up stages, allowed hours and templates."""

    active: bool = False
    stages: tuple[FollowupStageSection, ...] = ()
    max_stages: int | None = None
    allowed_hours: dict[str, Any] = Field(default_factory=dict)
    conversion_window_hours: float = 24.0
    reminder_template: dict[str, Any] | None = None

    @field_validator("active", mode="before")
    @classmethod
    def _active(cls, value: Any) -> bool:
        return truthy(value)

    @field_validator("stages", mode="before")
    @classmethod
    def _stages(cls, value: Any) -> tuple[Any, ...]:
        return tuple(s for s in value or () if isinstance(s, dict))

    @field_validator("max_stages", mode="before")
    @classmethod
    def _limit(cls, value: Any) -> int | None:
        return value if isinstance(value, int) and value >= 0 else None

    @field_validator("allowed_hours", mode="before")
    @classmethod
    def _hours(cls, value: Any) -> dict[str, Any]:
        return value if isinstance(value, dict) else {}

    @field_validator("conversion_window_hours", mode="before")
    @classmethod
    def _window(cls, value: Any) -> float:
        return _span(value, 24.0)

    @field_validator("reminder_template", mode="before")
    @classmethod
    def _template(cls, value: Any) -> dict[str, Any] | None:
        return value if isinstance(value, dict) else None
