"""The web sandbox's traffic ("Testar o bot", provider `sandbox`) out of the tenant's figures.

A sandbox conversation and a real one produce the same events. The stored rollup (incremental
and recomputed), the live view of today and the monthly budget are read back: conversations,
messages, latency, quality, tools and handovers count the real one only; model usage and its
cost count both (the owner's tests are paid for), in `metrics_daily` and in the budget.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg

from metrics.aggregate import recompute
from tests.integration.test_metrics_aggregation import DAY, PRICES, at, daily, drain, new_tenant
from waai.budget import MonthSpend
from waai.turn_quality import TurnQuality
from wacommon.metrics.live import metrics_range
from wacommon.metrics.prices import default_prices
from wacommon.repositories import event_types as et
from wacommon.repositories.events import PgEventLog

MODEL = "gpt-4o-mini"
# one ai_responded (1M in, 200k out) and one llm_usage (500k in, 50k out) per conversation,
# on gpt-4o-mini ($0.15 / $0.60 per million tokens): enough for the budget's centavos
TURN_USD = (1_500_000 * Decimal("0.15") + 250_000 * Decimal("0.60")) / 1_000_000
USD_BRL = Decimal("5")


async def _conversation(pool: asyncpg.Pool, tenant: str, provider: str) -> str:
    key = f"SANDBOX:{uuid.uuid4().hex[:16]}" if provider == "sandbox" else uuid.uuid4().hex
    return str(
        await pool.fetchval(
            "INSERT INTO active_conversations (client_id, contact_key, provider)"
            " VALUES ($1, $2, $3) RETURNING id",
            tenant,
            key,
            provider,
        )
    )


async def _a_turn(pool: asyncpg.Pool, tenant: str, conv: str, when: datetime | None) -> None:
    """A customer message and everything the pipeline writes about the bot's answer."""
    log = PgEventLog(pool)

    async def ev(kind: str, data: dict[str, Any]) -> None:
        await log.append(tenant, kind, data, conversation_id=conv, at=when)

    await ev(et.MSG_RECEIVED, {"provider": "x", "kind": "text", "role": "customer"})
    await ev(
        et.AI_RESPONDED,
        {"model": MODEL, "tokens_in": 1_000_000, "tokens_out": 200_000, "latency_ms": 1500},
    )
    await ev(et.LLM_USAGE, {"model": MODEL, "tokens_in": 500_000, "tokens_out": 50_000})
    quality = TurnQuality(passages=2, grounded=True, tokens_in=1000, tokens_out=200, cost_brl=0.01)
    await ev(et.TURN_QUALITY, {**quality.as_event(), "handover": "customer_asked"})
    await ev(et.TOOL_USED, {"tool": "agenda", "ok": True})
    await ev(et.MSG_SENT, {"provider": "x", "kind": "text", "role": "bot"})
    await ev(et.HUMAN_TAKEOVER, {"cause": "ai:pediu uma pessoa"})
    await ev(et.RESOLVED, {"by": "ai", "duration_ms": 60000})


def _only_the_real_one(row: dict[str, Any]) -> None:
    """The customer figures of a day where one real and one sandbox turn happened."""
    assert row["conversations"] == 1
    assert row["messages_in"] == 1
    assert row["messages_out_bot"] == 1
    assert row["response_count"] == 1
    assert row["resolved_by_ai"] == 1
    assert row["human_takeovers"] == 1
    assert row["quality_turns"] == 1
    assert row["quality_grounded"] == 1
    assert row["quality_tokens_in"] == 1000


async def test_sandbox_counts_in_cost_only_stored_and_recomputed(pool: asyncpg.Pool) -> None:
    tenant = await new_tenant(pool)
    real = await _conversation(pool, tenant, "meta")
    sandbox = await _conversation(pool, tenant, "sandbox")
    await _a_turn(pool, tenant, real, at(DAY, 10))
    await _a_turn(pool, tenant, sandbox, at(DAY, 11))
    # a day the owner only tested: no customer figure, the cost all the same
    await _a_turn(pool, tenant, sandbox, at(DAY - timedelta(days=1), 11))
    await drain(pool)

    days = await daily(pool, tenant)
    row = days[DAY]
    _only_the_real_one(row)
    assert row["events"] == 8  # the real conversation's
    assert row["response_time_hist"] == {"1500": 1}
    assert row["tools_used"] == {"agenda": 1}
    assert row["handover_causes"] == {"ai": 1}
    assert row["handover_categories"] == {"customer_asked": 1}
    assert float(row["quality_cost_brl"]) == 0.01
    # the model usage of both conversations, priced
    assert row["usage"] == {f"{MODEL}|in": 3_000_000, f"{MODEL}|out": 500_000}
    assert row["cost_usd"] == round(2 * TURN_USD, 6)

    tested = days[DAY - timedelta(days=1)]
    assert (tested["conversations"], tested["messages_in"], tested["quality_turns"]) == (0, 0, 0)
    assert (tested["events"], tested["response_count"], tested["tools_used"]) == (0, 0, {})
    assert tested["cost_usd"] == round(TURN_USD, 6)

    # idempotent: rebuilding the days from the event log gives the same rows
    await recompute(pool, PRICES, start=DAY - timedelta(days=1), end=DAY, tenant_id=tenant)
    again = await daily(pool, tenant)
    assert again == days


async def test_live_today_and_the_budget_see_the_same_split(pool: asyncpg.Pool) -> None:
    tenant = await new_tenant(pool)
    real = await _conversation(pool, tenant, "meta")
    sandbox = await _conversation(pool, tenant, "sandbox")
    await _a_turn(pool, tenant, real, None)
    await _a_turn(pool, tenant, sandbox, None)
    today: date = await pool.fetchval("SELECT (now() AT TIME ZONE 'UTC')::date")

    live = await metrics_range(
        pool, PRICES, tenant_id=tenant, start=today, end=today, usd_brl=float(USD_BRL)
    )
    (day,) = live["days"]
    assert day["live"] is True
    _only_the_real_one(day)
    assert live["handover_causes"] == {"ai": 1}
    assert day["cost_usd"] == round(float(2 * TURN_USD), 6)

    # the monthly budget prices every usage event of the tenant: the sandbox's too
    since = datetime(today.year, today.month, 1, tzinfo=UTC)
    spent = await MonthSpend(pool, default_prices(), USD_BRL, ttl_s=0).brl(tenant, since)
    assert spent == (2 * TURN_USD * USD_BRL).quantize(Decimal("0.01"))
    assert spent > 0

    # after the aggregation the stored row of today is what the live view showed
    await drain(pool)
    stored = (await daily(pool, tenant))[today]
    _only_the_real_one(stored)
    assert float(stored["cost_usd"]) == day["cost_usd"]
