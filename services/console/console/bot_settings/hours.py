"""Business hours: the `timezone` column and `tools_config.business_hours`."""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from typing import Annotated, Any, ClassVar, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

from console.bot_settings.base import SectionForm, Stored, merge
from console.bot_settings.fields import HHMM, Day, unique_words
from wacommon.conversation.business_hours import DAY_KEYS


class DayHours(BaseModel):
    model_config = ConfigDict(extra="forbid")

    on: bool = True
    start: HHMM = "08:00"
    end: HHMM = "18:00"


_HOLIDAY = re.compile(r"^(\d{4}-)?\d{2}-\d{2}$")


class HoursForm(SectionForm):
    section: ClassVar[str] = "hours"

    timezone: str | None = Field(None, max_length=64)
    active: bool | None = None
    mode: Literal["dentro", "fora", "sempre"] | None = None
    schedule: dict[Day, DayHours] | None = None
    holidays: list[Annotated[str, Field(max_length=10)]] | None = Field(None, max_length=366)
    off_message: str | None = Field(None, max_length=1000)
    on_message: str | None = Field(None, max_length=1000)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"fuso horário desconhecido: {value!r}") from None
        return value

    @field_validator("holidays")
    @classmethod
    def _holidays(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        out = []
        for text in value:
            if not text:
                continue
            if not _HOLIDAY.match(text):
                raise ValueError(f"{text!r} não é uma data (AAAA-MM-DD, ou MM-DD todo ano)")
            try:
                date.fromisoformat(text if len(text) == 10 else f"2024-{text}")
            except ValueError:
                raise ValueError(f"{text!r} não é uma data que exista") from None
            out.append(text)
        return unique_words(out)

    @classmethod
    def view(cls, stored: Stored) -> dict[str, Any]:
        hours = stored.part("business_hours")
        raw = hours.get("schedule")
        schedule: dict[str, Any] = raw if isinstance(raw, dict) else {}
        by_day = {_day_key(k): v for k, v in schedule.items() if isinstance(v, dict)}
        return {
            "timezone": stored.timezone,
            "active": bool(hours.get("active", False)),
            "mode": str(hours.get("mode") or "dentro"),
            "schedule": {d: _day_view(by_day.get(d)) for d in DAY_KEYS},
            "holidays": [
                str(h.get("date") if isinstance(h, dict) else h)
                for h in hours.get("holidays") or []
            ],
            "off_message": hours.get("off_message"),
            "on_message": hours.get("on_message"),
        }

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return {
            "timezone": "America/Sao_Paulo",
            "active": False,
            "mode": "dentro",
            "schedule": {d: {"on": False, "start": "08:00", "end": "18:00"} for d in DAY_KEYS},
            "holidays": [],
            "off_message": None,
            "on_message": None,
        }

    def apply(self, stored: Stored) -> None:
        sent = self.sent()
        if "timezone" in sent:
            stored.timezone = sent.pop("timezone") or "America/Sao_Paulo"
        if sent:
            stored.tools["business_hours"] = merge(stored.part("business_hours"), sent)


def _day_key(key: str) -> str:
    """ "Sábado" and "sab" alike (as wacommon.conversation.business_hours reads day keys)."""
    decomposed = unicodedata.normalize("NFKD", str(key).lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))[:3]


def _day_view(spec: Any) -> dict[str, Any]:
    if not isinstance(spec, dict):
        return {"on": False, "start": "08:00", "end": "18:00"}
    on = spec.get("on", spec.get("active", True))
    return {
        "on": on is True or str(on).lower() in ("1", "true", "sim", "yes", "on"),
        "start": str(spec.get("start") or "08:00"),
        "end": str(spec.get("end") or "18:00"),
    }
