"""Business hours per tenant: whether the bot answers now, and the off-hours notice once per period.

`tools_config["business_hours"]`: active, mode (dentro | fora | sempre),
schedule {seg..dom: {on, start, end}}, holidays ["YYYY-MM-DD" or "MM-DD"],
off_message. A day whose end is not after its start runs past midnight.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from wacommon.infra.dbtypes import Conn
from wacommon.repositories import event_types as ev
from wacommon.repositories.events import record_event
from wacommon.tenants.flags import truthy
from wacommon.tenants.sections.conversation import HoursSection

DAY_KEYS = ("seg", "ter", "qua", "qui", "sex", "sab", "dom")
_HORIZON_DAYS = 400


@dataclass(frozen=True)
class HoursDecision:
    """Answer or not; when not, the notice to send and the closed period it belongs to."""

    answer: bool
    off_message: str | None = None
    period_key: str | None = None


def _day_key(key: str) -> str:
    plain = "".join(
        c for c in unicodedata.normalize("NFKD", key.lower()) if not unicodedata.combining(c)
    )
    return plain[:3]


def _hhmm(value: Any, default: time) -> time:
    text = str(value or "").strip()
    if text in ("24:00", "24"):
        return time(23, 59, 59, 999999)
    try:
        hours, _, minutes = text.partition(":")
        return time(int(hours), int(minutes or 0))
    except ValueError:
        return default


def _holidays(cfg: dict[str, Any]) -> tuple[set[date], set[tuple[int, int]]]:
    fixed: set[date] = set()
    yearly: set[tuple[int, int]] = set()
    for item in cfg.get("holidays") or []:
        text = str(item.get("date") if isinstance(item, dict) else item).strip()
        try:
            if len(text) == 5:
                month, day = text.split("-")
                yearly.add((int(month), int(day)))
            else:
                fixed.add(date.fromisoformat(text))
        except ValueError:
            continue
    return fixed, yearly


def open_intervals(
    schedule: dict[str, Any], holiday_cfg: dict[str, Any], start: date, days: int, tz: ZoneInfo
) -> list[tuple[datetime, datetime]]:
    """Open intervals (aware) of the days from `start`, in order."""
    fixed, yearly = _holidays(holiday_cfg)
    by_day = {_day_key(k): v for k, v in schedule.items() if isinstance(v, dict)}
    out: list[tuple[datetime, datetime]] = []
    for offset in range(days):
        day = start + timedelta(days=offset)
        if day in fixed or (day.month, day.day) in yearly:
            continue
        spec = by_day.get(DAY_KEYS[day.weekday()])
        if not spec or not truthy(spec.get("on", spec.get("active", True))):
            continue
        opens = _hhmm(spec.get("start"), time(8, 0))
        closes = _hhmm(spec.get("end"), time(18, 0))
        begin = datetime.combine(day, opens, tz)
        end_day = day if closes > opens else day + timedelta(days=1)
        out.append((begin, datetime.combine(end_day, closes, tz)))
    return out


def _locate(cfg: dict[str, Any], now: datetime, tz: ZoneInfo) -> tuple[bool, datetime | None]:
    """(inside, boundary): the end of the open interval, or the next opening (None if never)."""
    local = now.astimezone(tz)
    schedule = cfg.get("schedule") if isinstance(cfg.get("schedule"), dict) else {}
    intervals = open_intervals(
        schedule or {}, cfg, local.date() - timedelta(days=1), _HORIZON_DAYS, tz
    )
    for begin, end in intervals:
        if begin <= local < end:
            return True, end
        if begin > local:
            return False, begin
    return False, None


def business_hours_decision(hours: HoursSection, now: datetime, tz: str) -> HoursDecision:
    """Whether the bot answers at `now` in the tenant's time zone `tz`."""
    if not hours.active or hours.mode == "sempre":
        return HoursDecision(answer=True)
    cfg = {"schedule": hours.schedule, "holidays": hours.holidays}
    inside, boundary = _locate(cfg, now, ZoneInfo(tz))
    if (hours.mode == "fora") != inside:
        return HoursDecision(answer=True)
    # the period is named by the instant it ends: every message of one closed period shares it
    kind = "open" if inside else "closed"
    key = f"{kind}:{boundary.isoformat() if boundary else 'never'}"
    message = (hours.on_message if inside else hours.off_message) or None
    return HoursDecision(
        answer=False, off_message=str(message) if message else None, period_key=key
    )


async def claim_off_hours_notice(
    conn: Conn, tenant_id: str, conversation_id: str, period_key: str
) -> bool:
    """True the first time per conversation and period (the caller then sends the notice)."""
    async with conn.transaction():
        status = await conn.execute(
            "UPDATE active_conversations SET attributes = attributes || jsonb_build_object("
            "'off_hours_period', $3::text), updated_at = now()"
            " WHERE client_id = $1 AND id = $2"
            " AND attributes->>'off_hours_period' IS DISTINCT FROM $3::text",
            tenant_id,
            conversation_id,
            period_key,
        )
        if not status.endswith(" 1"):
            return False
        await record_event(
            conn,
            tenant_id,
            ev.OFF_HOURS_REPLIED,
            {"period": period_key},
            conversation_id=conversation_id,
        )
        return True


def next_allowed_at(allowed_hours: dict[str, Any], now: datetime, tz: str) -> datetime | None:
    """`now` if follow-up `allowed_hours` allow it, else the next allowed instant (None: never)."""
    if not isinstance(allowed_hours, dict) or not truthy(allowed_hours.get("enabled", False)):
        return now
    days = allowed_hours.get("days")
    allowed_days = (
        {_day_key(k) for k, v in days.items() if truthy(v)}
        if isinstance(days, dict)
        else set(DAY_KEYS[:5])
    )
    spec = {
        "on": True,
        "start": allowed_hours.get("start", "08:00"),
        "end": allowed_hours.get("end", "20:00"),
    }
    cfg = {"schedule": {d: spec for d in allowed_days}}
    inside, boundary = _locate(cfg, now, ZoneInfo(tz))
    return now if inside else boundary
