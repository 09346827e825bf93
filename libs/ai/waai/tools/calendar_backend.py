"""The calendar port: where free slots come from and where bookings go."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from waai.tools.registry import ToolContext


class CalendarBackendInvalid(ValueError):
    """A tenant's `calendar.backend` names an unknown type or lacks what it needs."""


@dataclass(frozen=True)
class Booking:
    """A booked (or just cancelled) appointment; times are aware datetimes."""

    id: str
    start: datetime
    end: datetime | None = None


@dataclass(frozen=True)
class BookingRequest:
    """What the customer asked to book: a slot start (aware, tenant zone) and who it is for."""

    start: datetime
    name: str
    phone: str | None = None
    notes: str | None = None


class CalendarBackend(Protocol):
    """A tenant's calendar: the built-in one in PostgreSQL, or an external service."""

    @property
    def slot_minutes(self) -> int | None:
        """Length of a slot when the backend knows it."""
        ...

    async def availability(
        self, ctx: ToolContext, first: date, days: int
    ) -> dict[date, list[datetime]]:
        """Free slot starts (aware, future only) of `days` days from `first`, per day."""
        ...

    async def book(self, ctx: ToolContext, request: BookingRequest) -> Booking:
        """Book a slot for the conversation's contact; ToolFailed("slot_taken") on a conflict."""
        ...

    async def cancel(self, ctx: ToolContext, booking_id: str | None, reason: str | None) -> Booking:
        """Cancel one of the contact's bookings (the next one when no id); ToolFailed if none."""
        ...
