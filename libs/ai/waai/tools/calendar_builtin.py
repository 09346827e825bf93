"""The built-in calendar in PostgreSQL: fixed slots in business hours, bookings never overlap."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from waai.tools.calendar_backend import Booking, BookingRequest
from waai.tools.calendar_hours import CalendarConfig, day_slots, zone
from waai.tools.registry import ToolContext, ToolFailed


class BuiltinCalendar:
    """The default backend: the tenant's `appointments` rows (exclusion constraint = no overlap)."""

    def __init__(self, cal: CalendarConfig) -> None:
        self._cal = cal

    @property
    def slot_minutes(self) -> int | None:
        """The configured slot length."""
        return self._cal.slot_minutes

    async def availability(
        self, ctx: ToolContext, first: date, days: int
    ) -> dict[date, list[datetime]]:
        """Business-hours slots not yet booked, day by day."""
        tz = zone(ctx.timezone)
        out: dict[date, list[datetime]] = {}
        for offset in range(days):
            day = first + timedelta(days=offset)
            out[day] = await _free_slots(ctx, self._cal, day, tz)
        return out

    async def book(self, ctx: ToolContext, request: BookingRequest) -> Booking:
        """Insert the booking; the same contact re-booking the same slot gets its booking back."""
        tz = zone(ctx.timezone)
        start = request.start
        if start not in day_slots(self._cal, start.date(), tz):
            raise ToolFailed(
                "outside_business_hours",
                "Not a bookable slot; call check_availability for free times.",
            )
        end = start + timedelta(minutes=self._cal.slot_minutes)
        args = {"name": request.name, "phone": request.phone, "notes": request.notes}
        row = await _insert(ctx, start, end, args)
        return Booking(str(row["id"]), row["starts_at"], row["ends_at"])

    async def cancel(self, ctx: ToolContext, booking_id: str | None, reason: str | None) -> Booking:
        """Cancel the contact's booking (by id, else the next one)."""
        row = await _cancel(ctx, booking_id, reason)
        return Booking(str(row["id"]), row["starts_at"])


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
        ctx.tenant_id,
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
            ctx.tenant_id,
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
                ctx.tenant_id,
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
        ctx.tenant_id,
        ctx.contact_key,
        *extra,
        str(reason) if reason else None,
    )
    if row is None:
        raise ToolFailed("appointment_not_found", "This customer has no such booked appointment.")
    return row


def _uuid_or_none(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None
