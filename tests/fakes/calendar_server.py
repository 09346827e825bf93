"""A fake external calendar speaking the JSON contract of `waai.tools.calendar_http`."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from tests.fakes.server import serve_in_thread

TZ = ZoneInfo("America/Sao_Paulo")


class FakeCalendar:
    """Hourly slots 09:00-12:00 on weekdays; bookings by id; records every request."""

    def __init__(self) -> None:
        self.bookings: dict[str, dict[str, Any]] = {}
        self.requests: list[dict[str, Any]] = []
        self.failing: int | None = None
        self.url = ""
        self._ids = itertools.count(1)
        self.app = self._build()

    def _slots(self, first: date, last: date, *, free: bool = True) -> list[datetime]:
        out = []
        day = first
        while day <= last:
            if day.weekday() < 5:
                out += [datetime.combine(day, time(h), TZ) for h in (9, 10, 11)]
            day += timedelta(days=1)
        taken = {b["start"] for b in self.bookings.values()} if free else set()
        return [s for s in out if s not in taken]

    def _build(self) -> FastAPI:
        app = FastAPI()

        @app.middleware("http")
        async def record(request: Request, call_next: Any) -> Response:
            body = await request.body()
            self.requests.append(
                {
                    "method": request.method,
                    "path": request.url.path,
                    "query": dict(request.query_params),
                    "auth": request.headers.get("authorization"),
                    "body": body,
                }
            )
            if self.failing:
                return JSONResponse({"message": "down"}, status_code=self.failing)
            response: Response = await call_next(request)
            return response

        @app.get("/api/availability")
        async def availability(start: str, end: str, timezone: str) -> dict[str, Any]:
            slots = self._slots(date.fromisoformat(start), date.fromisoformat(end))
            return {
                "slots": [
                    {"start": s.isoformat(), "end": (s + timedelta(hours=1)).isoformat()}
                    for s in slots
                ]
            }

        @app.post("/api/bookings")
        async def book(request: Request) -> JSONResponse:
            body = await request.json()
            start = datetime.fromisoformat(body["start"])
            if start not in self._slots(start.date(), start.date(), free=False):
                return JSONResponse({"message": "not a bookable time"}, status_code=422)
            if start not in self._slots(start.date(), start.date()):
                return JSONResponse({"message": "slot unavailable"}, status_code=409)
            booking_id = f"bk-{next(self._ids)}"
            self.bookings[booking_id] = {**body, "start": start}
            end = start + timedelta(hours=1)
            return JSONResponse(
                {"id": booking_id, "start": body["start"], "end": end.isoformat()},
                status_code=201,
            )

        @app.get("/api/bookings")
        async def list_bookings(contact_key: str) -> dict[str, Any]:
            return {
                "bookings": [
                    {"id": i, "start": b["start"].isoformat()}
                    for i, b in self.bookings.items()
                    if b["contact_key"] == contact_key
                ]
            }

        @app.delete("/api/bookings/{booking_id}")
        async def cancel(booking_id: str) -> Response:
            if self.bookings.pop(booking_id, None) is None:
                return JSONResponse({"message": "no such booking"}, status_code=404)
            return Response(status_code=204)

        return app

    @classmethod
    @contextmanager
    def serve(cls) -> Iterator[FakeCalendar]:
        """Run a fresh fake on a free loopback port."""
        fake = cls()
        with serve_in_thread(fake.app) as server:
            fake.url = server.url
            yield fake
