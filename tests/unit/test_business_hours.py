"""Business hours in the tenant's time zone: modes, schedules, holidays, one notice per period."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from wacommon.conversation import business_hours
from wacommon.conversation.business_hours import HoursDecision, next_allowed_at
from wacommon.tenants.config import parse_tenant


def business_hours_decision(tools: dict[str, Any], now: datetime, tz: str) -> HoursDecision:
    """The decision as the ingest pipeline takes it: on the tenant's typed `hours`."""
    hours = parse_tenant({"id": "t", "tools_config": tools}).hours
    return business_hours.business_hours_decision(hours, now, tz)


SP = "America/Sao_Paulo"
WEEKDAYS = ("seg", "ter", "qua", "qui", "sex")


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(SP))  # type: ignore[misc]


def config(mode: str = "dentro", **extra: Any) -> dict[str, Any]:
    schedule = {d: {"on": True, "start": "08:00", "end": "18:00"} for d in WEEKDAYS}
    schedule["sab"] = {"on": True, "start": "09:00", "end": "13:00"}
    schedule["dom"] = {"on": False}
    return {
        "business_hours": {
            "active": True,
            "mode": mode,
            "schedule": schedule,
            "off_message": "Estamos fechados.",
            **extra,
        }
    }


def test_inactive_or_sempre_always_answers() -> None:
    assert business_hours_decision({}, local(2030, 1, 6, 3, 0), SP).answer
    assert business_hours_decision(config("sempre"), local(2030, 1, 6, 3, 0), SP).answer
    off = config()
    off["business_hours"]["active"] = False
    assert business_hours_decision(off, local(2030, 1, 6, 3, 0), SP).answer


@pytest.mark.parametrize(
    ("when", "inside"),
    [
        (local(2030, 1, 7, 8, 0), True),  # Monday opening minute
        (local(2030, 1, 7, 17, 59), True),
        (local(2030, 1, 7, 18, 0), False),  # closing is exclusive
        (local(2030, 1, 7, 7, 59), False),
        (local(2030, 1, 12, 10, 0), True),  # Saturday short day
        (local(2030, 1, 12, 14, 0), False),
        (local(2030, 1, 13, 10, 0), False),  # Sunday off
    ],
)
def test_dentro_answers_only_inside(when: datetime, inside: bool) -> None:
    decision = business_hours_decision(config(), when, SP)
    assert decision.answer is inside
    assert (decision.off_message, decision.period_key is None) == (
        (None, True) if inside else ("Estamos fechados.", False)
    )


def test_fora_answers_only_outside() -> None:
    assert not business_hours_decision(config("fora"), local(2030, 1, 7, 10, 0), SP).answer
    assert business_hours_decision(config("fora"), local(2030, 1, 7, 22, 0), SP).answer


def test_time_zone_of_the_tenant_is_used() -> None:
    utc_noon = datetime(2030, 1, 7, 12, 0, tzinfo=UTC)  # 09:00 in São Paulo, 21:00 in Tokyo
    assert business_hours_decision(config(), utc_noon, SP).answer
    assert not business_hours_decision(config(), utc_noon, "Asia/Tokyo").answer


def test_one_period_key_per_closed_period() -> None:
    cfg = config()
    friday_night = business_hours_decision(cfg, local(2030, 1, 11, 19, 0), SP).period_key
    saturday_dawn = business_hours_decision(cfg, local(2030, 1, 12, 6, 0), SP).period_key
    saturday_after = business_hours_decision(cfg, local(2030, 1, 12, 15, 0), SP).period_key
    sunday = business_hours_decision(cfg, local(2030, 1, 13, 12, 0), SP).period_key
    assert friday_night == saturday_dawn != saturday_after == sunday
    assert saturday_after is not None and saturday_after.startswith("closed:2030-01-14T08:00")


@pytest.mark.parametrize("holiday", ["2030-01-07", "01-07", {"date": "2030-01-07"}])
def test_holidays_are_closed(holiday: Any) -> None:
    decision = business_hours_decision(config(holidays=[holiday]), local(2030, 1, 7, 10, 0), SP)
    assert not decision.answer
    assert decision.period_key and decision.period_key.startswith("closed:2030-01-08T08:00")


def test_schedule_past_midnight() -> None:
    cfg = {
        "business_hours": {
            "active": True,
            "mode": "dentro",
            "schedule": {"sex": {"on": True, "start": "20:00", "end": "02:00"}},
        }
    }
    assert business_hours_decision(cfg, local(2030, 1, 11, 23, 0), SP).answer
    assert business_hours_decision(cfg, local(2030, 1, 12, 1, 30), SP).answer
    assert not business_hours_decision(cfg, local(2030, 1, 12, 2, 30), SP).answer


def test_accented_day_keys() -> None:
    cfg = {
        "business_hours": {
            "active": True,
            "schedule": {"Sáb": {"on": True, "start": "09:00", "end": "12:00"}},
        }
    }
    assert business_hours_decision(cfg, local(2030, 1, 12, 10, 0), SP).answer


def test_followup_allowed_hours_wait_for_the_next_window() -> None:
    hours = {
        "enabled": True,
        "start": "09:00",
        "end": "18:00",
        "days": {"seg": True, "ter": True, "qua": True, "qui": True, "sex": True},
    }
    monday_noon = local(2030, 1, 7, 12, 0)
    assert next_allowed_at(hours, monday_noon, SP) == monday_noon
    assert next_allowed_at(hours, local(2030, 1, 11, 19, 0), SP) == local(2030, 1, 14, 9, 0)
    assert next_allowed_at({"enabled": False}, local(2030, 1, 12, 3, 0), SP) == local(
        2030, 1, 12, 3, 0
    )
    assert next_allowed_at({"enabled": True, "days": {}}, monday_noon, SP) is None
