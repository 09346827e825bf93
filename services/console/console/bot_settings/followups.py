"""The follow-ups section: the `followup_config` column (read by
`wacommon.conversation.followups.parse_plan`)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, ValidationInfo, field_validator

from console.bot_settings.base import FieldError, SectionForm, Stored, merge
from console.bot_settings.fields import HHMM, Day, Strict, check_base_url
from wacommon.conversation.business_hours import DAY_KEYS
from wacommon.tenants.sections.base import parse_section
from wacommon.tenants.sections.followups import MAX_SPAN_MINUTES, FollowupsSection


class TemplateRef(Strict):
    """An approved WhatsApp template, for messages outside the 24-hour window."""

    name: str = Field(pattern=r"^[a-z0-9_]{1,512}$")
    language: str = Field("pt_BR", pattern=r"^[a-z]{2,3}(_[A-Z]{2})?$")
    components: list[dict[str, Any]] | None = Field(None, max_length=10)


class StageForm(Strict):
    type: Literal["text", "audio", "image", "video", "document"] = "text"
    delay_minutes: float = Field(ge=1, le=MAX_SPAN_MINUTES, allow_inf_nan=False)
    instruction: str = Field("", max_length=2000)
    message: str = Field("", max_length=4096)
    media_url: str | None = Field(None, max_length=1000)
    template: TemplateRef | None = None

    @field_validator("template", mode="before")
    @classmethod
    def _no_template(cls, value: Any) -> Any:
        # the page sends {"name": null, "language": "pt_BR"} for a stage without one
        if isinstance(value, dict) and not value.get("name"):
            return None
        return value

    @field_validator("media_url")
    @classmethod
    def _media(cls, value: str | None, info: ValidationInfo) -> str | None:
        if not value:
            return None
        return check_base_url(value, (info.context or {}).get("allowed_hosts", frozenset()))


class AllowedHours(Strict):
    enabled: bool = False
    start: HHMM = "08:00"
    end: HHMM = "20:00"
    days: dict[Day, bool] | None = None


class FollowupsForm(SectionForm):
    section: ClassVar[str] = "followups"

    active: bool | None = None
    stages: list[StageForm] | None = Field(None, max_length=10)
    max_stages: int | None = Field(None, ge=0, le=10)
    allowed_hours: AllowedHours | None = None
    conversion_window_hours: float | None = Field(None, ge=0, le=24 * 30, allow_inf_nan=False)
    reminder_template: TemplateRef | None = None

    @classmethod
    def view(cls, stored: Stored) -> dict[str, Any]:
        section = parse_section(FollowupsSection, stored.followup or None, "followups")
        hours = section.allowed_hours
        days = hours.get("days")
        return {
            "active": section.active,
            "stages": [
                {
                    "type": s.type,
                    "delay_minutes": s.delay_minutes,
                    "instruction": s.instruction,
                    "message": s.message,
                    "media_url": s.media_url,
                    "template": s.template,
                }
                for s in section.stages
            ],
            "max_stages": section.max_stages,
            "allowed_hours": {
                "enabled": bool(hours.get("enabled", False)),
                "start": str(hours.get("start") or "08:00"),
                "end": str(hours.get("end") or "20:00"),
                "days": (
                    {d: bool(days.get(d)) for d in DAY_KEYS}
                    if isinstance(days, dict)
                    else {d: d in DAY_KEYS[:5] for d in DAY_KEYS}
                ),
            },
            "conversion_window_hours": section.conversion_window_hours,
            "reminder_template": section.reminder_template,
        }

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return {
            "active": False,
            "stages": [],
            "max_stages": None,
            "allowed_hours": {"enabled": False, "start": "08:00", "end": "20:00"},
            "conversion_window_hours": 24.0,
            "reminder_template": None,
        }

    def apply(self, stored: Stored) -> None:
        sent = self.sent()
        if self.stages is not None:
            # the stored stages are replaced in the canonical names (readers take both)
            sent["stages"] = [
                {k: v for k, v in s.model_dump(mode="json", exclude_none=True).items() if v != ""}
                for s in self.stages
            ]
        if self.reminder_template is not None:
            sent["reminder_template"] = self.reminder_template.model_dump(exclude_none=True)
        stored.followup = merge(stored.followup, sent)

    def check(self, stored: Stored) -> list[FieldError]:
        errors = []
        for i, stage in enumerate(stored.followup.get("stages") or []):
            if not isinstance(stage, dict):
                continue
            kind = stage.get("type", "text")
            has_text = stage.get("message") or stage.get("instruction") or stage.get("prompt")
            if kind == "text" and not has_text and not stage.get("template"):
                errors.append(
                    FieldError(f"stages.{i}", "escreva a mensagem, a instrução ou um modelo")
                )
            if kind != "text" and not (stage.get("media_url") or stage.get("audio_url")):
                errors.append(FieldError(f"stages.{i}.media_url", "obrigatório para mídia"))
        return errors
