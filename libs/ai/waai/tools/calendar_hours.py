"""A tenant's calendar configuration: opening hours per weekday, slot length, time zone."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_DAY_KEYS = (
    ("mon", "seg"),
    ("tue", "ter"),
    ("wed", "qua"),
    ("thu", "qui"),
    ("fri", "sex"),
    ("sat", "sab"),
    ("sun", "dom"),
)
WEEKDAYS_PT = (
    "segunda-feira",
    "terça-feira",
    "quarta-feira",
    "quinta-feira",
    "sexta-feira",
    "sábado",
    "domingo",
)
_DEFAULT_HOURS = {k[0]: ("09:00", "18:00") for k in _DAY_KEYS[:5]}


@dataclass(frozen=True)
class CalendarConfig:
    """A tenant's calendar: opening hours per weekday (0 = Monday), slot length, horizon."""

    hours: dict[int, tuple[time, time]]
    slot_minutes: int = 30
    days_ahead: int = 30
    # `calendar.backend`: None (or type "builtin") is the built-in calendar
    backend: dict[str, Any] | None = None


def calendar_config(cfg: Mapping[str, Any], tools_config: Mapping[str, Any]) -> CalendarConfig:
    """Read `calendar.hours`, else the tenant's `business_hours.schedule`, else Mon–Fri 9–18."""
    raw = cfg.get("hours")
    if not raw:
        business = tools_config.get("business_hours")
        raw = business.get("schedule") if isinstance(business, Mapping) else None
    hours: dict[int, tuple[time, time]] = {}
    for weekday, keys in enumerate(_DAY_KEYS):
        value = next((raw[k] for k in keys if k in raw), None) if raw else None
        if raw is None:
            value = _DEFAULT_HOURS.get(keys[0])
        span = _span(value)
        if span is not None:
            hours[weekday] = span
    backend = cfg.get("backend")
    if backend is not None and not isinstance(backend, Mapping):
        raise TypeError("calendar.backend must be an object")
    return CalendarConfig(
        hours=hours,
        slot_minutes=max(5, int(cfg.get("slot_minutes", 30))),
        days_ahead=max(1, int(cfg.get("days_ahead", 30))),
        backend=dict(backend) if backend else None,
    )


def _span(value: Any) -> tuple[time, time] | None:
    if isinstance(value, Mapping):
        if not value.get("on", True):
            return None
        value = (value.get("start"), value.get("end"))
    if not isinstance(value, list | tuple) or len(value) != 2:
        return None
    start, end = _hhmm(value[0]), _hhmm(value[1])
    return (start, end) if end > start else None


def _hhmm(value: Any) -> time:
    hours, _, minutes = str(value).strip().partition(":")
    return time(int(hours), int(minutes or 0))


def zone(name: str) -> ZoneInfo:
    """The tenant's time zone; São Paulo when the name is unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("America/Sao_Paulo")


def day_slots(cal: CalendarConfig, day: date, tz: ZoneInfo) -> list[datetime]:
    """Slot starts (aware, tenant zone) of one day within its opening hours."""
    span = cal.hours.get(day.weekday())
    if span is None:
        return []
    step = timedelta(minutes=cal.slot_minutes)
    start = datetime.combine(day, span[0], tz)
    end = datetime.combine(day, span[1], tz)
    slots = []
    while start + step <= end:
        slots.append(start)
        start += step
    return slots
