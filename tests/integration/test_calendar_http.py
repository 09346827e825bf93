"""The calendar tools over an external calendar (`calendar.backend.type = "http"`)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from tests.fakes.calendar_server import TZ, FakeCalendar
from waai.llm.config import AISettings
from waai.tools.catalog import build_toolbox
from waai.tools.registry import Toolbox, ToolContext
from wacommon.infra.crypto import SecretBox
from wacommon.repositories.events import FakeEventLog

BOX = SecretBox("calendar-test-key")
LOOPBACK = AISettings(tool_allowed_hosts=frozenset({"127.0.0.1"}))


def next_monday() -> date:
    day = datetime.now(TZ).date() + timedelta(days=2)
    while day.weekday() != 0:
        day += timedelta(days=1)
    return day


@pytest.fixture(scope="module")
def calendar() -> Iterator[FakeCalendar]:
    with FakeCalendar.serve() as fake:
        yield fake


def tools_config(url: str, **backend: Any) -> dict[str, Any]:
    return {
        "calendar": {
            "active": True,
            "backend": {
                "type": "http",
                "base_url": url + "/api",
                "headers": {"Authorization": BOX.encrypt("Bearer cal-secret")},
                **backend,
            },
        }
    }


class Env:
    """A tenant on the external calendar and a way to call its tools as a customer."""

    def __init__(
        self, pool: asyncpg.Pool, tenant_id: str, toolbox: Toolbox, http: httpx.AsyncClient
    ) -> None:
        self.pool, self.tenant_id, self.toolbox, self.http = pool, tenant_id, toolbox, http

    async def call(
        self, tool: str, contact: str = "5511999990001", *, dry_run: bool = False, **args: Any
    ) -> dict[str, Any]:
        ctx = ToolContext(
            pool=self.pool,
            tenant_id=self.tenant_id,
            conversation_id=str(uuid.uuid4()),
            contact_key=contact,
            contact_name="Ana",
            timezone="America/Sao_Paulo",
            now=datetime.now(TZ),
            http=self.http,
            events=FakeEventLog(),
            settings=LOOPBACK,
            decrypt=BOX.decrypt,
            dry_run=dry_run,
        )
        result = await self.toolbox.execute(ctx, tool, json.dumps(args))
        return dict(json.loads(result.content))


async def make_env(pool: asyncpg.Pool, http: httpx.AsyncClient, config: dict[str, Any]) -> Env:
    row = await pool.fetchrow(
        "INSERT INTO clients (name, tools_config) VALUES ($1, $2) RETURNING id", "Clínica", config
    )
    assert row is not None
    return Env(pool, str(row["id"]), build_toolbox(config), http)


async def test_availability_comes_from_the_external_calendar(
    pool: asyncpg.Pool, http: httpx.AsyncClient, calendar: FakeCalendar
) -> None:
    env = await make_env(pool, http, tools_config(calendar.url))
    monday = next_monday()
    answer = await env.call("check_availability", date=monday.isoformat(), days=2)
    assert answer == {
        "ok": True,
        "timezone": "America/Sao_Paulo",
        "days": [
            {
                "date": monday.isoformat(),
                "weekday": "segunda-feira",
                "free": ["09:00", "10:00", "11:00"],
            },
            {
                "date": (monday + timedelta(days=1)).isoformat(),
                "weekday": "terça-feira",
                "free": ["09:00", "10:00", "11:00"],
            },
        ],
    }
    seen = calendar.requests[-1]
    assert seen["path"] == "/api/availability" and seen["auth"] == "Bearer cal-secret"
    assert seen["query"] == {
        "start": monday.isoformat(),
        "end": (monday + timedelta(days=1)).isoformat(),
        "timezone": "America/Sao_Paulo",
    }


async def test_booking_a_conflict_and_cancelling_on_the_external_calendar(
    pool: asyncpg.Pool, http: httpx.AsyncClient, calendar: FakeCalendar
) -> None:
    env = await make_env(pool, http, tools_config(calendar.url))
    tuesday = (next_monday() + timedelta(days=8)).isoformat()
    booked = await env.call("book_appointment", start=f"{tuesday} 10:00", name="Ana", phone="11")
    assert booked["ok"] is True
    assert (booked["start"], booked["end"]) == (f"{tuesday} 10:00", f"{tuesday} 11:00")
    sent = json.loads(calendar.requests[-1]["body"])
    assert sent["name"] == "Ana" and sent["contact_key"] == "5511999990001"
    assert calendar.bookings[booked["appointment_id"]]["phone"] == "11"
    local = await pool.fetchval(
        "SELECT count(*) FROM appointments WHERE client_id = $1", env.tenant_id
    )
    assert local == 0  # the external calendar holds the booking, not our table
    free = (await env.call("check_availability", date=tuesday))["days"][0]["free"]
    assert free == ["09:00", "11:00"]

    taken = await env.call("book_appointment", "5511000000002", start=f"{tuesday} 10:00", name="B")
    assert taken == {
        "ok": False,
        "error": "slot_taken",
        "message": "That time was just taken; offer another slot.",
    }

    other = await env.call(
        "cancel_appointment", "5511000000002", appointment_id=booked["appointment_id"]
    )
    assert other["error"] == "appointment_not_found"  # never another customer's booking
    assert booked["appointment_id"] in calendar.bookings
    cancelled = await env.call("cancel_appointment", reason="imprevisto")
    assert cancelled == {
        "ok": True,
        "appointment_id": booked["appointment_id"],
        "start": f"{tuesday} 10:00",
        "status": "cancelled",
    }
    assert booked["appointment_id"] not in calendar.bookings
    assert calendar.requests[-1]["query"]["reason"] == "imprevisto"


async def test_external_calendar_failures_are_tool_errors(
    pool: asyncpg.Pool, http: httpx.AsyncClient, calendar: FakeCalendar
) -> None:
    env = await make_env(pool, http, tools_config(calendar.url))
    calendar.failing = 503
    try:
        down = await env.call("check_availability")
    finally:
        calendar.failing = None
    assert down["error"] == "calendar_unavailable"
    refused = await env.call("book_appointment", start=f"{next_monday()} 09:30", name="A")
    assert refused == {  # the service decides what a bookable slot is
        "ok": False,
        "error": "booking_rejected",
        "message": "The calendar refused: not a bookable time",
    }

    public_only = await make_env(pool, http, tools_config("http://calendar.internal"))
    blocked = await public_only.call("check_availability")
    assert blocked["error"] == "url_blocked"


async def test_a_broken_backend_config_disables_only_the_calendar(
    pool: asyncpg.Pool, http: httpx.AsyncClient
) -> None:
    for backend in ({"type": "caldav"}, {"type": "http"}, {"type": "http", "base_url": "ftp://x"}):
        names = {s.name for s in build_toolbox({"calendar": {"backend": backend}}).specs}
        assert names == {"transfer_to_human", "opt_out"}
    builtin = build_toolbox({"calendar": {"backend": {"type": "builtin"}}})
    assert "book_appointment" in builtin


async def test_a_dry_run_shows_the_booking_and_the_cancel_without_making_them(
    pool: asyncpg.Pool, http: httpx.AsyncClient, calendar: FakeCalendar
) -> None:
    env = await make_env(pool, http, tools_config(calendar.url))
    wednesday = (next_monday() + timedelta(days=2)).isoformat()
    seen, bookings = len(calendar.requests), dict(calendar.bookings)
    shown = await env.call("book_appointment", start=f"{wednesday} 09:00", name="Ana", dry_run=True)
    assert shown["ok"] is True and shown["dry_run"] is True and "NOT executed" in shown["message"]
    cancelled = await env.call("cancel_appointment", appointment_id="bk-1", dry_run=True)
    assert cancelled["dry_run"] is True
    # reading has no side effect: availability is asked for in the dry run too
    free = await env.call("check_availability", date=wednesday, dry_run=True)
    assert "09:00" in free["days"][0]["free"]
    assert [r["method"] for r in calendar.requests[seen:]] == ["GET"]
    assert calendar.bookings == bookings
    made = await env.call("book_appointment", start=f"{wednesday} 09:00", name="Ana")
    assert made["ok"] is True and "dry_run" not in made
    assert set(calendar.bookings) - set(bookings) == {made["appointment_id"]}
