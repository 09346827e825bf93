"""Calendar tools (availability, booking, cancelling) over the tenant's calendar backend."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from waai.tools.calendar_backend import (
    BookingRequest,
    CalendarBackend,
    CalendarBackendInvalid,
)
from waai.tools.calendar_builtin import BuiltinCalendar
from waai.tools.calendar_hours import WEEKDAYS_PT, CalendarConfig, zone
from waai.tools.calendar_http import http_calendar
from waai.tools.registry import Tool, ToolContext, ToolFailed, ToolSpec

_MAX_LISTED = 40


def calendar_backend(cal: CalendarConfig) -> CalendarBackend:
    """The backend `calendar.backend.type` names: "builtin" (default) or "http"."""
    raw = cal.backend or {}
    kind = str(raw.get("type") or "builtin").strip().lower()
    if kind == "builtin":
        return BuiltinCalendar(cal)
    if kind == "http":
        return http_calendar(raw)
    raise CalendarBackendInvalid(f"unknown calendar backend {kind!r}")


def calendar_tools(
    cal: CalendarConfig, instructions: str = "", backend: CalendarBackend | None = None
) -> list[Tool]:
    """check_availability, book_appointment and cancel_appointment over one tenant calendar."""
    calendar = _Calendar(cal, backend or calendar_backend(cal))
    return [
        Tool(_check_spec(), calendar.check, instructions),
        Tool(_book_spec(), calendar.book, side_effects=True),
        Tool(_cancel_spec(), calendar.cancel, side_effects=True),
    ]


@dataclass(frozen=True)
class _Calendar:
    """The three tools' coroutines over one tenant calendar and its backend."""

    cal: CalendarConfig
    backend: CalendarBackend

    async def check(self, ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
        tz = zone(ctx.timezone)
        today = ctx.now.astimezone(tz).date()
        first = _parse_date(args["date"]) if args.get("date") else today
        days = min(max(int(args.get("days") or (1 if args.get("date") else 3)), 1), 7)
        if first < today or first > today + timedelta(days=self.cal.days_ahead):
            raise ToolFailed(
                "date_out_of_range",
                f"Dates from {today} to {today + timedelta(days=self.cal.days_ahead)}.",
            )
        free_by_day = await self.backend.availability(ctx, first, days)
        listed, out = 0, []
        for offset in range(days):
            day = first + timedelta(days=offset)
            free = free_by_day.get(day, [])[: max(0, _MAX_LISTED - listed)]
            listed += len(free)
            out.append(
                {
                    "date": day.isoformat(),
                    "weekday": WEEKDAYS_PT[day.weekday()],
                    "free": [s.astimezone(tz).strftime("%H:%M") for s in free],
                }
            )
        answer: dict[str, Any] = {"timezone": tz.key}
        if self.backend.slot_minutes is not None:
            answer["slot_minutes"] = self.backend.slot_minutes
        answer["days"] = out
        return answer

    async def book(self, ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
        tz = zone(ctx.timezone)
        start = _parse_start(str(args["start"]), tz)
        if start <= ctx.now:
            raise ToolFailed("in_the_past", "That time has already passed.")
        if start.date() > ctx.now.astimezone(tz).date() + timedelta(days=self.cal.days_ahead):
            raise ToolFailed("date_out_of_range", "That date is too far ahead.")
        booking = await self.backend.book(
            ctx,
            BookingRequest(
                start=start,
                name=str(args.get("name") or ""),
                phone=_str_or_none(args.get("phone")),
                notes=_str_or_none(args.get("notes")),
            ),
        )
        answer = {"appointment_id": booking.id, "start": _local(booking.start, tz)}
        if booking.end is not None:
            answer["end"] = _local(booking.end, tz)
        answer["timezone"] = tz.key
        return answer

    async def cancel(self, ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
        tz = zone(ctx.timezone)
        booking = await self.backend.cancel(
            ctx, _str_or_none(args.get("appointment_id")), _str_or_none(args.get("reason"))
        )
        return {
            "appointment_id": booking.id,
            "start": _local(booking.start, tz),
            "status": "cancelled",
        }


def _check_spec() -> ToolSpec:
    """What the model sees of check_availability."""
    return ToolSpec(
        "check_availability",
        "List free appointment times (tenant time zone).",
        {
            "type": "object",
            "properties": {
                "date": {
                    "type": "string",
                    "description": "First day, YYYY-MM-DD (default today)",
                },
                "days": {"type": "integer", "description": "How many days to list, 1-7"},
            },
        },
    )


def _book_spec() -> ToolSpec:
    """What the model sees of book_appointment."""
    return ToolSpec(
        "book_appointment",
        "Book a free slot for the customer.",
        {
            "type": "object",
            "properties": {
                "start": {"type": "string", "description": "Local start, YYYY-MM-DD HH:MM"},
                "name": {"type": "string", "description": "Customer name"},
                "phone": {"type": "string"},
                "notes": {"type": "string"},
            },
            "required": ["start", "name"],
        },
    )


def _cancel_spec() -> ToolSpec:
    """What the model sees of cancel_appointment."""
    return ToolSpec(
        "cancel_appointment",
        "Cancel the customer's appointment.",
        {
            "type": "object",
            "properties": {
                "appointment_id": {
                    "type": "string",
                    "description": "Id from the booking; default: the next one",
                },
                "reason": {"type": "string"},
            },
        },
    )


def _parse_date(value: Any) -> date:
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError as exc:
        raise ToolFailed("invalid_date", "Use the date format YYYY-MM-DD.") from exc


def _parse_start(value: str, tz: ZoneInfo) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.strip().replace(" ", "T", 1))
    except ValueError as exc:
        raise ToolFailed("invalid_date", "Use the format YYYY-MM-DD HH:MM.") from exc
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=tz)
    return parsed.astimezone(tz)


def _local(value: datetime, tz: ZoneInfo) -> str:
    return value.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def _str_or_none(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None
