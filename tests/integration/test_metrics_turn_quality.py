"""`turn_quality` events -> the quality columns of metrics_daily, incrementally and on recompute."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import orjson

from metrics import queries, report
from metrics.aggregate import recompute
from tests.integration.test_metrics_aggregation import DAY, PRICES, at, daily, drain, new_tenant
from waai.turn_quality import TurnQuality
from wacommon.metrics.live import COUNTS, metrics_range
from wacommon.repositories import event_types as et
from wacommon.repositories.events import PgEventLog

TURNS = [
    TurnQuality(passages=3, grounded=True, tokens_in=100, tokens_out=20, cost_brl=0.0012),
    TurnQuality(passages=2, grounded=False, tokens_in=200, tokens_out=30, cost_brl=0.002),
    TurnQuality(passages=0, grounded=None, tokens_in=50, tokens_out=10, silent="stale"),
    TurnQuality(passages=1, grounded=True, handover="customer_asked", repeated_info=True),
]
LATER = [
    TurnQuality(passages=4, grounded=True, tokens_in=300, tokens_out=40, cost_brl=0.003),
    TurnQuality(silent="stale", handover=None, repeated_info=True),
    TurnQuality(silent="empty_reply"),
    TurnQuality(handover="customer_asked"),
    TurnQuality(handover="no_answer"),
]
QUALITY = (
    *(c for c in COUNTS if c.startswith("quality_")),
    "quality_cost_brl",
    "silent_reasons",
    "handover_categories",
)


async def write(pool: asyncpg.Pool, cid: str, turns: list[TurnQuality], hour: int) -> None:
    log = PgEventLog(pool)
    for turn in turns:
        await log.append(
            cid,
            et.TURN_QUALITY,
            turn.as_event(),
            conversation_id=str(uuid.uuid4()),
            at=at(DAY, hour),
        )


def quality(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in QUALITY}


async def test_turn_quality_is_summed_per_day_across_runs_and_recomputes(
    pool: asyncpg.Pool,
) -> None:
    cid = await new_tenant(pool, "America/Sao_Paulo")
    await write(pool, cid, TURNS, 15)
    await drain(pool)
    first = quality((await daily(pool, cid))[DAY])
    assert first == {
        "quality_turns": 4,
        "quality_judged": 3,
        "quality_grounded": 2,
        "quality_passages": 6,
        "quality_repeated": 1,
        "quality_tokens_in": 350,
        "quality_tokens_out": 60,
        "quality_cost_brl": Decimal("0.003200"),
        "silent_reasons": {"stale": 1},
        "handover_categories": {"customer_asked": 1},
    }
    # a later run adds to the stored row, the maps key by key
    await write(pool, cid, LATER, 16)
    await drain(pool)
    merged = quality((await daily(pool, cid))[DAY])
    assert merged == {
        "quality_turns": 9,
        "quality_judged": 4,
        "quality_grounded": 3,
        "quality_passages": 10,
        "quality_repeated": 2,
        "quality_tokens_in": 650,
        "quality_tokens_out": 100,
        "quality_cost_brl": Decimal("0.006200"),
        "silent_reasons": {"stale": 2, "empty_reply": 1},
        "handover_categories": {"customer_asked": 2, "no_answer": 1},
    }
    # idempotent: nothing new changes nothing, a recompute of the day gives the same row
    whole = await daily(pool, cid)
    await drain(pool)
    assert await daily(pool, cid) == whole
    await recompute(pool, PRICES, start=DAY - timedelta(days=1), end=DAY, tenant_id=cid)
    assert await daily(pool, cid) == whole


async def test_malformed_turn_quality_values_are_skipped(pool: asyncpg.Pool) -> None:
    cid = await new_tenant(pool)
    log = PgEventLog(pool)
    bad = {"passages": "many", "grounded": "yes", "tokens_in": -5, "cost_brl": "x", "silent": 3}
    await log.append(cid, et.TURN_QUALITY, bad, conversation_id=None, at=at(DAY, 12))
    await drain(pool)
    row = quality((await daily(pool, cid))[DAY])
    assert row["quality_turns"] == 1 and row["quality_judged"] == 0
    assert row["quality_passages"] == 0 and row["quality_tokens_in"] == 0
    assert row["quality_cost_brl"] == 0
    # a stray non-string key still counts under its text, bounded
    assert row["silent_reasons"] == {"3": 1}


async def test_the_reports_show_the_quality_sums_and_rates(pool: asyncpg.Pool) -> None:
    cid = await new_tenant(pool, "America/Sao_Paulo")
    await write(pool, cid, TURNS, 15)
    await drain(pool)
    # the operator dashboard's tenant report
    body = orjson.loads(await report.tenant_daily(pool, cid, DAY, DAY))
    assert body["totals"]["quality_turns"] == 4 and body["totals"]["quality_grounded"] == 2
    assert body["totals"]["quality_cost_brl"] == 0.0032
    assert body["silent_reasons"] == {"stale": 1}
    assert body["handover_categories"] == {"customer_asked": 1}
    # every tenant's: this one's counts are in the sums
    fleet = orjson.loads(await queries.operator_daily(pool, DAY, DAY))
    mine = next(t for t in fleet["tenants"] if t["client_id"] == cid)
    assert mine["totals"]["quality_judged"] == 3 and mine["totals"]["quality_repeated"] == 1
    assert fleet["silent_reasons"]["stale"] >= 1
    # the console's range (stored days), with the per-turn figures
    page = await metrics_range(pool, PRICES, tenant_id=cid, start=DAY, end=DAY, usd_brl=5.0)
    totals = page["totals"]
    assert totals["grounded_rate"] == round(2 / 3, 4)
    assert totals["repeated_rate"] == 0.25 and totals["passages_per_turn"] == 1.5
    assert totals["tokens_per_turn"] == 102.5 and totals["cost_brl_per_turn"] == 0.0008
    assert page["silent_reasons"] == {"stale": 1}
    assert page["handover_categories"] == {"customer_asked": 1}


async def test_today_live_equals_the_row_the_next_rollup_stores(pool: asyncpg.Pool) -> None:
    cid = await new_tenant(pool)
    log = PgEventLog(pool)
    for turn in (*TURNS, *LATER):
        await log.append(cid, et.TURN_QUALITY, turn.as_event(), conversation_id=str(uuid.uuid4()))
    today = datetime.now(UTC).date()
    live = await metrics_range(pool, PRICES, tenant_id=cid, start=today, end=today, usd_brl=5.0)
    [day] = live["days"]
    assert day["live"] is True and day["quality_turns"] == 9
    assert live["silent_reasons"] == {"stale": 2, "empty_reply": 1}
    await drain(pool)
    row = (await daily(pool, cid))[today]
    for name in QUALITY[:-3]:
        assert row[name] == day[name], name
    assert float(row["quality_cost_brl"]) == day["quality_cost_brl"]
    assert row["silent_reasons"] == live["silent_reasons"]
    assert row["handover_categories"] == live["handover_categories"]
