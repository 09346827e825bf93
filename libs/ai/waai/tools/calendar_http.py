"""An external calendar over a small JSON contract (`calendar.backend.type = "http"`).

Contract, relative to `base_url` (times ISO 8601; without an offset they are in the tenant's zone):
- `GET  /availability?start=YYYY-MM-DD&end=YYYY-MM-DD&timezone=Area/City`
  -> `{"slots": [{"start": "...", "end": "..."}]}` (free slots; bare strings also accepted)
- `POST /bookings` `{"start", "timezone", "name", "phone", "notes", "contact_key", "conversation_id"}`
  -> 200/201 `{"id": "...", "start": "...", "end": "..."}`; 409 when the slot is taken;
  other 4xx with `{"message": "..."}` when the booking is refused
- `GET  /bookings?contact_key=...` -> `{"bookings": [{"id", "start", "end"}]}` (the contact's
  upcoming bookings; used to cancel "the next one" and to check a booking is the contact's)
- `DELETE /bookings/{id}?contact_key=...&reason=...` -> 200/204; 404 when unknown
Headers (e.g. `Authorization`) are sent on every call; their values may be stored encrypted.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from waai.tools.calendar_backend import Booking, BookingRequest, CalendarBackendInvalid
from waai.tools.calendar_hours import zone
from waai.tools.guarded_http import check_url, fetch_capped
from waai.tools.registry import ToolContext, ToolFailed
from wacommon.infra.netguard import UnsafePathSegment, path_segment

# a week of 10-minute slots fits; anything bigger is not a calendar answer
MAX_RESPONSE_BYTES = 64_000


@dataclass(frozen=True)
class HttpCalendar:
    """A calendar service that speaks the contract above."""

    base_url: str
    headers: dict[str, str]

    @property
    def slot_minutes(self) -> int | None:
        """Unknown: the service decides its slots."""
        return None

    async def availability(
        self, ctx: ToolContext, first: date, days: int
    ) -> dict[date, list[datetime]]:
        """The service's free slots, future ones only, grouped by local day."""
        tz = zone(ctx.timezone)
        last = first + timedelta(days=days - 1)
        params = {"start": first.isoformat(), "end": last.isoformat(), "timezone": tz.key}
        body = await self._call(ctx, "GET", "/availability", params=params)
        out: dict[date, list[datetime]] = {first + timedelta(days=i): [] for i in range(days)}
        for item in _list(body, "slots"):
            start = _time(item.get("start") if isinstance(item, Mapping) else item, tz)
            if start is not None and start > ctx.now and start.date() in out:
                out[start.date()].append(start)
        return {day: sorted(set(slots)) for day, slots in out.items()}

    async def book(self, ctx: ToolContext, request: BookingRequest) -> Booking:
        """Ask the service to book; a conflict comes back as `slot_taken`."""
        tz = zone(ctx.timezone)
        payload = {
            "start": request.start.isoformat(),
            "timezone": tz.key,
            "name": request.name or ctx.contact_name or "",
            "phone": request.phone,
            "notes": request.notes,
            "contact_key": ctx.contact_key,
            "conversation_id": ctx.conversation_id,
        }
        body = await self._call(ctx, "POST", "/bookings", json_body=payload)
        booking = _booking(body, tz)
        if booking is None:
            raise ToolFailed("calendar_error", "The calendar did not confirm the booking.")
        return booking

    async def cancel(self, ctx: ToolContext, booking_id: str | None, reason: str | None) -> Booking:
        """Cancel one of the contact's upcoming bookings (never another customer's)."""
        tz = zone(ctx.timezone)
        body = await self._call(ctx, "GET", "/bookings", params={"contact_key": ctx.contact_key})
        mine = [b for b in (_booking(i, tz) for i in _list(body, "bookings")) if b is not None]
        if booking_id:
            target = next((b for b in mine if b.id == str(booking_id)), None)
        else:
            upcoming = sorted((b for b in mine if b.start > ctx.now), key=lambda b: b.start)
            target = upcoming[0] if upcoming else None
        if target is None:
            raise ToolFailed(
                "appointment_not_found", "This customer has no such booked appointment."
            )
        params = {"contact_key": ctx.contact_key}
        if reason:
            params["reason"] = reason
        try:
            segment = path_segment(target.id)
        except UnsafePathSegment:
            raise ToolFailed(
                "invalid_booking", "The calendar answered an unusable booking id."
            ) from None
        await self._call(ctx, "DELETE", f"/bookings/{segment}", params=params)
        return target

    async def _call(
        self,
        ctx: ToolContext,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
    ) -> Any:
        url = await check_url(self.base_url + path, ctx.settings.tool_allowed_hosts)
        resp = await fetch_capped(
            ctx.http,
            method,
            url,
            max_bytes=MAX_RESPONSE_BYTES,
            timeout_s=ctx.settings.tool_timeout_s,
            headers={k: ctx.decrypt(v) for k, v in self.headers.items()},
            params=params,
            json_body=json_body,
        )
        body = _json(resp.text) if not resp.truncated else None
        if resp.status == 409:
            raise ToolFailed("slot_taken", "That time was just taken; offer another slot.")
        if resp.status == 404 and method == "DELETE":
            raise ToolFailed("appointment_not_found", "No appointment with that id.")
        if resp.status >= 500:
            raise ToolFailed("calendar_unavailable", "The calendar service is unavailable.")
        if not 200 <= resp.status < 300:
            detail = _message(body) or resp.text[:200]
            raise ToolFailed("booking_rejected", f"The calendar refused: {detail}")
        if resp.truncated:
            raise ToolFailed("calendar_error", "The calendar answered more than expected.")
        return body


def http_calendar(raw: Mapping[str, Any]) -> HttpCalendar:
    """Validate `calendar.backend` of type http."""
    base_url = raw.get("base_url")
    if not isinstance(base_url, str) or not base_url.startswith(("https://", "http://")):
        raise CalendarBackendInvalid("calendar.backend.base_url must be an http(s) URL")
    headers = raw.get("headers") or {}
    if not isinstance(headers, Mapping):
        raise CalendarBackendInvalid("calendar.backend.headers must be an object")
    return HttpCalendar(base_url.rstrip("/"), {str(k): str(v) for k, v in headers.items()})


def _json(text: str) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None


def _list(body: Any, key: str) -> list[Any]:
    value = body.get(key) if isinstance(body, Mapping) else body
    return value if isinstance(value, list) else []


def _message(body: Any) -> str:
    if isinstance(body, Mapping):
        for key in ("message", "error", "detail"):
            if isinstance(body.get(key), str):
                return str(body[key])[:200]
    return ""


def _time(value: Any, tz: ZoneInfo) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.replace(tzinfo=tz) if parsed.tzinfo is None else parsed.astimezone(tz)


def _booking(item: Any, tz: ZoneInfo) -> Booking | None:
    if not isinstance(item, Mapping) or item.get("id") in (None, ""):
        return None
    start = _time(item.get("start"), tz)
    if start is None:
        return None
    return Booking(str(item["id"]), start, _time(item.get("end"), tz))
