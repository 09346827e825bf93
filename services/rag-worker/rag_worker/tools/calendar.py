"""Built-in calendar: business hours, fixed slots, bookings that never overlap."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import asyncpg

from rag_worker.tools.registry import Tool, ToolContext, ToolFailed, ToolSpec

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
_MAX_LISTED = 40


@dataclass(frozen=True)
class CalendarConfig:
    """A tenant's calendar: opening hours per weekday (0 = Monday), slot length, horizon."""

    hours: dict[int, tuple[time, time]]
    slot_minutes: int = 30
    days_ahead: int = 30


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
    return CalendarConfig(
        hours=hours,
        slot_minutes=max(5, int(cfg.get("slot_minutes", 30))),
        days_ahead=max(1, int(cfg.get("days_ahead", 30))),
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


def calendar_tools(cal: CalendarConfig, instructions: str = "") -> list[Tool]:
    """check_availability, book_appointment and cancel_appointment over one tenant calendar."""

    async def check(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
        tz = zone(ctx.timezone)
        today = ctx.now.astimezone(tz).date()
        first = _parse_date(args["date"]) if args.get("date") else today
        days = min(max(int(args.get("days") or (1 if args.get("date") else 3)), 1), 7)
        if first < today or first > today + timedelta(days=cal.days_ahead):
            raise ToolFailed(
                "date_out_of_range",
                f"Dates from {today} to {today + timedelta(days=cal.days_ahead)}.",
            )
        listed, out = 0, []
        for offset in range(days):
            day = first + timedelta(days=offset)
            free = await _free_slots(ctx, cal, day, tz)
            free = free[: max(0, _MAX_LISTED - listed)]
            listed += len(free)
            out.append(
                {
                    "date": day.isoformat(),
                    "weekday": WEEKDAYS_PT[day.weekday()],
                    "free": [s.strftime("%H:%M") for s in free],
                }
            )
        return {"timezone": tz.key, "slot_minutes": cal.slot_minutes, "days": out}

    async def book(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
        tz = zone(ctx.timezone)
        start = _parse_start(str(args["start"]), tz)
        if start <= ctx.now:
            raise ToolFailed("in_the_past", "That time has already passed.")
        if start.date() > ctx.now.astimezone(tz).date() + timedelta(days=cal.days_ahead):
            raise ToolFailed("date_out_of_range", "That date is too far ahead.")
        if start not in day_slots(cal, start.date(), tz):
            raise ToolFailed(
                "outside_business_hours",
                "Not a bookable slot; call check_availability for free times.",
            )
        end = start + timedelta(minutes=cal.slot_minutes)
        row = await _insert(ctx, start, end, args)
        return {
            "appointment_id": str(row["id"]),
            "start": _local(row["starts_at"], tz),
            "end": _local(row["ends_at"], tz),
            "timezone": tz.key,
        }

    async def cancel(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
        tz = zone(ctx.timezone)
        row = await _cancel(ctx, args.get("appointment_id"), args.get("reason"))
        return {
            "appointment_id": str(row["id"]),
            "start": _local(row["starts_at"], tz),
            "status": "cancelled",
        }

    return [
        Tool(
            ToolSpec(
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
            ),
            check,
            instructions,
        ),
        Tool(
            ToolSpec(
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
            ),
            book,
        ),
        Tool(
            ToolSpec(
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
            ),
            cancel,
        ),
    ]


async def _free_slots(
    ctx: ToolContext, cal: CalendarConfig, day: date, tz: ZoneInfo
) -> list[datetime]:
    slots = [s for s in day_slots(cal, day, tz) if s > ctx.now]
    if not slots:
        return []
    step = timedelta(minutes=cal.slot_minutes)
    booked = await ctx.pool.fetch(
        "SELECT starts_at, ends_at FROM appointments WHERE client_id = $1 AND status = 'booked'"
        " AND starts_at < $3 AND ends_at > $2",
        ctx.client_id,
        slots[0],
        slots[-1] + step,
    )
    return [
        s for s in slots if not any(b["starts_at"] < s + step and b["ends_at"] > s for b in booked)
    ]


async def _insert(
    ctx: ToolContext, start: datetime, end: datetime, args: dict[str, Any]
) -> asyncpg.Record:
    async with ctx.pool.acquire() as conn:
        # a retried turn books the same slot again: answer with the booking it already made
        same = await conn.fetchrow(
            "SELECT id, starts_at, ends_at FROM appointments WHERE client_id = $1"
            " AND contact_key = $2 AND starts_at = $3 AND status = 'booked'",
            ctx.client_id,
            ctx.contact_key,
            start,
        )
        if same is not None:
            return same
        try:
            row = await conn.fetchrow(
                "INSERT INTO appointments (client_id, conversation_id, contact_key, contact_name,"
                " contact_phone, notes, starts_at, ends_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                " RETURNING id, starts_at, ends_at",
                ctx.client_id,
                _uuid_or_none(ctx.conversation_id),
                ctx.contact_key,
                str(args.get("name") or ctx.contact_name or ""),
                args.get("phone"),
                args.get("notes"),
                start,
                end,
            )
        except asyncpg.ExclusionViolationError as exc:
            raise ToolFailed("slot_taken", "That time was just taken; offer another slot.") from exc
    assert row is not None
    return row


async def _cancel(ctx: ToolContext, appointment_id: Any, reason: Any) -> asyncpg.Record:
    if appointment_id:
        target = _uuid_or_none(str(appointment_id))
        if target is None:
            raise ToolFailed("appointment_not_found", "No appointment with that id.")
        where, extra = "id = $3", [target]
    else:
        where = (
            "id = (SELECT id FROM appointments WHERE client_id = $1 AND contact_key = $2"
            " AND status = 'booked' AND starts_at > now() ORDER BY starts_at LIMIT 1)"
        )
        extra = []
    row = await ctx.pool.fetchrow(
        "UPDATE appointments SET status = 'cancelled', cancelled_at = now(),"
        f" cancel_reason = ${3 + len(extra)} WHERE client_id = $1 AND contact_key = $2"
        f" AND status = 'booked' AND {where} RETURNING id, starts_at",
        ctx.client_id,
        ctx.contact_key,
        *extra,
        str(reason) if reason else None,
    )
    if row is None:
        raise ToolFailed("appointment_not_found", "This customer has no such booked appointment.")
    return row


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


def _uuid_or_none(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None
