"""The console's metrics (`/api/metrics`, `/metricas`) on seeded events.

Yesterday is rolled up by the metrics service's own aggregation; today is read live from
the event log (nothing aggregated yet), including a resolution made in the inbox. After
the next aggregation the stored row of today equals what the page showed live.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import orjson
import pytest
import redis.asyncio as aioredis
from fastapi import FastAPI

from console.settings import ConsoleSettings
from metrics.aggregate import aggregate_increment
from tests.integration.console_helpers import (
    client_for,
    console_app,
    console_settings,
    new_user,
    sign_in,
)
from tests.integration.inbox_helpers import MetaTenant, conversation, meta_tenant
from wacommon.infra.crypto import SecretBox
from wacommon.repositories import event_types as et

ZONE = "America/Sao_Paulo"
RATE = 5.25


@pytest.fixture(scope="module")
def csettings(test_env: dict[str, str]) -> ConsoleSettings:
    return console_settings(test_env, metrics_usd_brl=RATE)


@pytest.fixture()
def app(pool: asyncpg.Pool, redis_client: aioredis.Redis, csettings: ConsoleSettings) -> FastAPI:
    return console_app(csettings, pool, redis_client)


@pytest.fixture(scope="module")
def box(test_env: dict[str, str]) -> SecretBox:
    return SecretBox(test_env["ENCRYPTION_KEY"])


async def drain(pool: asyncpg.Pool, prices: dict[str, Any]) -> None:
    """Aggregate until everything committed so far is below the watermark."""
    target = int(await pool.fetchval("SELECT pg_current_xact_id()::text"))
    deadline = time.monotonic() + 30
    while int(await pool.fetchval("SELECT xact_hi::text FROM metrics_watermark")) < target:
        assert time.monotonic() < deadline, "watermark did not pass the writes"
        await aggregate_increment(pool, prices)
        await asyncio.sleep(0.02)


async def local_today(pool: asyncpg.Pool) -> date:
    day: date = await pool.fetchval("SELECT (now() AT TIME ZONE $1)::date", ZONE)
    return day


async def event(
    pool: asyncpg.Pool,
    tenant: str,
    kind: str,
    data: dict[str, Any],
    *,
    conv: str | None = None,
    day: date | None = None,
) -> None:
    """One event; `day` puts it at noon of that local day, else now."""
    await pool.execute(
        "INSERT INTO conversation_events (client_id, conversation_id, event_type, data, created_at)"
        " VALUES ($1, $2, $3, $4::text::jsonb,"
        " coalesce(($5::date + time '12:00') AT TIME ZONE $6, now()))",
        tenant,
        conv,
        kind,
        orjson.dumps(data).decode(),
        day,
        ZONE,
    )


async def a_day_of(pool: asyncpg.Pool, tenant: str, day: date | None) -> list[str]:
    """Two customers, three messages in, the bot answers twice, a person once, a handover
    asked by the AI, one resolution by the AI, a follow-up sent and converted."""
    convs = [str(uuid.uuid4()), str(uuid.uuid4())]
    for conv in (convs[0], convs[0], convs[1]):
        await event(pool, tenant, et.MSG_RECEIVED, {"role": "customer"}, conv=conv, day=day)
    for role in ("bot", "bot", "human"):
        await event(pool, tenant, et.MSG_SENT, {"role": role}, conv=convs[0], day=day)
    for latency in (800, 2400):
        data = {"model": "gpt-4o-mini", "tokens_in": 1000, "tokens_out": 200, "latency_ms": latency}
        await event(pool, tenant, et.AI_RESPONDED, data, conv=convs[0], day=day)
    await event(pool, tenant, et.HUMAN_TAKEOVER, {"cause": "ai:pediu um humano"}, day=day)
    await event(pool, tenant, et.RESOLVED, {"by": "ai", "duration_ms": 60000}, day=day)
    await event(pool, tenant, et.FOLLOWUP_SENT, {"stage": 1}, conv=convs[1], day=day)
    await event(pool, tenant, et.FOLLOWUP_CONVERTED, {"stage": 1}, conv=convs[1], day=day)
    return convs


# two ai_responded of 1000 tokens in and 200 out on gpt-4o-mini ($0.15 / $0.60 per million)
DAY_COST = float(2 * (1000 * Decimal("0.15") + 200 * Decimal("0.60")) / 1_000_000)


async def shop(pool: asyncpg.Pool, box: SecretBox, name: str) -> MetaTenant:
    tenant = await meta_tenant(pool, box, name)
    await pool.execute("UPDATE clients SET timezone = $2 WHERE id = $1", tenant.id, ZONE)
    return tenant


async def test_yesterday_stored_today_live_with_a_resolution_made_in_the_inbox(
    app: FastAPI, pool: asyncpg.Pool, box: SecretBox, csettings: ConsoleSettings
) -> None:
    mine, other = await shop(pool, box, "Loja Métrica"), await shop(pool, box, "Outra Loja")
    owner = await new_user(pool, mine.id, "owner")
    today = await local_today(pool)
    yesterday = today - timedelta(days=1)
    await a_day_of(pool, mine.id, yesterday)
    # another tenant's day, twice as busy: none of it may show
    await a_day_of(pool, other.id, yesterday)
    await a_day_of(pool, other.id, yesterday)
    await a_day_of(pool, other.id, None)
    await drain(pool, csettings.price_map())
    # today: nothing aggregated yet
    await a_day_of(pool, mine.id, None)
    held = await conversation(pool, mine, name="Cliente Resolvida")
    async with client_for(app) as c:
        await sign_in(c, owner["email"])
        taken = await c.post(f"/api/conversations/{held}/takeover", json={})
        assert taken.status_code == 200, taken.text
        closed = await c.post(f"/api/conversations/{held}/close", json={"resolution": "resolved"})
        assert closed.status_code == 200, closed.text
        resp = await c.get(
            "/api/metrics", params={"from": yesterday.isoformat(), "to": today.isoformat()}
        )
        assert resp.status_code == 200, resp.text
        body = resp.json()

    assert body["client_id"] == mine.id and body["tenants"] is None
    assert body["today"] == today.isoformat() and body["usd_brl"] == RATE
    first, second = body["days"]
    assert first["day"] == yesterday.isoformat() and first["live"] is False
    assert second["day"] == today.isoformat() and second["live"] is True
    common = {
        "conversations": 2,
        "messages_in": 3,
        "messages_out_bot": 2,
        "messages_out_human": 1,
        "resolved_by_ai": 1,
        "followups_sent": 1,
        "followups_converted": 1,
        "response_count": 2,
        "response_time_avg_ms": 1600,
        "response_time_p90_ms": 2400,
        "cost_usd": round(DAY_COST, 6),
        "cost_brl": round(round(DAY_COST, 6) * RATE, 2),
    }
    assert {k: first[k] for k in common} == common
    assert {k: second[k] for k in common} == common
    # the inbox's takeover and its "resolved" close count today, as a person's
    assert (first["human_takeovers"], first["resolved_by_human"]) == (1, 0)
    assert (second["human_takeovers"], second["resolved_by_human"]) == (2, 1)
    assert body["handover_causes"] == {"ai": 2, "console": 1}
    totals = body["totals"]
    assert totals["days"] == 2 and totals["messages_in"] == 6 and totals["conversations"] == 4
    assert totals["resolved"] == 3 and totals["resolved_by_human"] == 1
    assert totals["response_time_p90_ms"] == 2400
    assert totals["cost_usd"] == pytest.approx(2 * DAY_COST)

    # after the next aggregation today's stored row says what the page showed live
    await drain(pool, csettings.price_map())
    row = await pool.fetchrow(
        "SELECT * FROM metrics_daily WHERE client_id = $1 AND day = $2", mine.id, today
    )
    assert row is not None
    for name in (
        "conversations",
        "messages_in",
        "messages_out_bot",
        "messages_out_human",
        "resolved_by_ai",
        "resolved_by_human",
        "human_takeovers",
        "followups_sent",
        "followups_converted",
        "response_time_p90_ms",
    ):
        assert row[name] == second[name], name
    assert float(row["cost_usd"]) == second["cost_usd"]
    assert row["handover_causes"] == {"ai": 1, "console": 1}


async def test_scope_agents_operators_and_bad_ranges(
    app: FastAPI, pool: asyncpg.Pool, box: SecretBox, csettings: ConsoleSettings
) -> None:
    mine, other = await shop(pool, box, "Loja Escopo"), await shop(pool, box, "Loja Vizinha")
    owner = await new_user(pool, mine.id, "owner")
    agent = await new_user(pool, mine.id, "agent")
    operator = await new_user(pool, None, "operator")
    await a_day_of(pool, mine.id, None)
    await a_day_of(pool, other.id, None)
    await a_day_of(pool, other.id, None)
    async with client_for(app) as c:
        await sign_in(c, agent["email"])
        assert (await c.get("/api/metrics")).status_code == 403
        page = await c.get("/metricas")
        assert page.status_code == 403 and "Acesso não permitido" in page.text
        assert 'href="/metricas"' not in page.text
    async with client_for(app) as c:
        await sign_in(c, owner["email"])
        assert (await c.get("/api/metrics", params={"tenant_id": other.id})).status_code == 404
        assert (await c.get("/metricas", params={"tenant_id": other.id})).status_code == 404
        mine_only = (await c.get("/api/metrics")).json()
        assert mine_only["totals"]["messages_in"] == 3 and mine_only["tenants"] is None
        assert len(mine_only["days"]) == 1  # the default range: the last 7 days, one with events
        for params, field in (
            ({"from": "2026-13-01"}, "from"),
            ({"to": "ontem"}, "to"),
            ({"from": "2026-02-10", "to": "2026-02-01"}, "from"),
            ({"from": "2020-01-01", "to": "2026-01-01"}, "from"),
            ({"days": "0"}, "days"),
            ({"to": "0001-01-02"}, "to"),
            ({"from": "2026-02-30"}, "from"),
        ):
            bad = await c.get("/api/metrics", params=params)
            assert bad.status_code == 422, (params, bad.text)
            assert bad.json()["detail"][0]["loc"] == ["query", field], bad.text
        page = await c.get("/metricas", params={"from": "2026-02-10", "to": "2026-02-01"})
        assert page.status_code == 422 and "Data inicial" in page.text
    async with client_for(app) as c:
        await sign_in(c, operator["email"])
        everyone = (await c.get("/api/metrics")).json()
        names = {t["client_id"]: t for t in everyone["tenants"]}
        assert names[mine.id]["messages_in"] == 3 and names[other.id]["messages_in"] == 6
        assert everyone["totals"]["messages_in"] >= 9
        one = (await c.get("/api/metrics", params={"tenant_id": other.id})).json()
        assert one["client_id"] == other.id and one["totals"]["messages_in"] == 6
        assert (await c.get("/api/metrics", params={"tenant_id": "nada"})).status_code == 404
        page = await c.get("/metricas", params={"tenant_id": other.id})
        assert page.status_code == 200 and "Loja Vizinha" in page.text


async def test_page_shows_the_figures_in_portuguese_and_htmx_gets_fragments(
    app: FastAPI, pool: asyncpg.Pool, box: SecretBox
) -> None:
    mine = await shop(pool, box, "Loja Página")
    owner = await new_user(pool, mine.id, "owner")
    # 1.500 messages: thousands are separated the Brazilian way
    await pool.execute(
        "INSERT INTO conversation_events (client_id, conversation_id, event_type)"
        " SELECT $1, gen_random_uuid(), $2 FROM generate_series(1, 1500)",
        mine.id,
        et.MSG_RECEIVED,
    )
    await event(pool, mine.id, et.HUMAN_TAKEOVER, {"cause": "customer_command"})
    async with client_for(app) as c:
        await sign_in(c, owner["email"])
        page = await c.get("/metricas", params={"days": "30"})
        assert page.status_code == 200
        html = page.text
        assert 'aria-current="page">Métricas' in html.replace("\n", "")
        assert 'data-kpi="messages_in">1.500<' in html
        assert "Ao vivo" in html and "O cliente pediu pausa" in html
        assert 'aria-current="true"' in html  # the "últimos 30 dias" preset is the current one
        assert "R$ 0,00" in html
        fragment = await c.get(
            "/metricas", params={"days": "7", "fragment": "body"}, headers={"HX-Request": "true"}
        )
        assert fragment.status_code == 200 and "<html" not in fragment.text
        assert 'id="metrics-figures"' in fragment.text and 'id="metrics-range"' not in fragment.text
        whole = await c.get("/metricas", params={"days": "7"}, headers={"HX-Request": "true"})
        assert 'id="metrics-page"' in whole.text and "<html" not in whole.text
