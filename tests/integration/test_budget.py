"""A tenant's monthly AI budget: the cheaper model past the soft limit, a person (or the
offline bot) past the hard one, each crossing an event and one alert per owner per month."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest

from tests.fakes.openai_server import FakeOpenAI
from tests.integration.llm_helpers import BOX, TZ, Offline, Setup, StaticRetriever, new_tenant
from waai.budget import HANDOVER_CAUSE, BudgetedResponder, MonthSpend, budget_of, month_start
from waai.llm.clients import LLMClients
from waai.llm.config import AISettings
from waai.llm.factory import build_responder
from wacommon.metrics.prices import default_prices
from wacommon.repositories.event_types import BUDGET_LIMIT_REACHED
from wacommon.repositories.events import FakeEventLog, PgEventLog

USD_BRL = Decimal("5")
# gpt-4o: 2.50 USD per million tokens in; 1M tokens in = 12.50 R$ at 5 R$/USD
MILLION = 1_000_000


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI.serve() as server:
        yield server


async def make(
    pool: asyncpg.Pool,
    http: httpx.AsyncClient,
    clients: LLMClients,
    fake: FakeOpenAI,
    budget: dict[str, Any],
) -> tuple[Setup, str]:
    tools_config = {
        "llm_config": {"provider": "openai", "model": "gpt-4o", "api_key": BOX.encrypt("sk-t")},
        "budget": budget,
    }
    tenant = await new_tenant(pool, tools_config, "Você é a Bia.")
    conversation = await pool.fetchval(
        "INSERT INTO active_conversations (client_id, contact_key, contact_phone, provider)"
        " VALUES ($1, $2, $2, 'meta') RETURNING id",
        tenant.id,
        f"5511{uuid.uuid4().int % 10**9:09d}",
    )
    # an owner with an alert number, and one without (no alert for her)
    for email, number in ((f"{uuid.uuid4().hex[:8]}@loja.com", "5511977776666"), (None, None)):
        await pool.execute(
            "INSERT INTO console_users (client_id, email, name, role, password_hash,"
            " alert_whatsapp) VALUES ($1, $2, 'Dona', 'owner', 'x', $3)",
            tenant.id,
            email or f"{uuid.uuid4().hex[:8]}@loja.com",
            number,
        )
    # the production event log: "once per month" is read back from the database
    responder = build_responder(
        tenant,
        settings=AISettings(openai_base_url=fake.base_url),
        retriever=StaticRetriever(),
        pool=pool,
        http=http,
        events=PgEventLog(pool),
        decrypt=BOX.decrypt,
        clients=clients,
        offline=Offline(),
        spend=MonthSpend(pool, default_prices(), USD_BRL, ttl_s=0),
    )
    assert isinstance(responder, BudgetedResponder)
    setup = Setup(
        responder,
        tenant,
        FakeEventLog(),
        conversation_id=str(conversation),
        contact_key="5511988887777",
        contact_name="Ana",
    )
    return setup, str(conversation)


async def spend(pool: asyncpg.Pool, tenant_id: str, tokens_in: int, at: datetime) -> None:
    await pool.execute(
        "INSERT INTO conversation_events (client_id, event_type, data, created_at)"
        " VALUES ($1, 'ai_responded', $2, $3)",
        tenant_id,
        {"model": "gpt-4o", "tokens_in": tokens_in, "tokens_out": 0},
        at,
    )


async def crossings(pool: asyncpg.Pool, tenant_id: str) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT data FROM conversation_events WHERE client_id = $1 AND event_type = $2 ORDER BY id",
        tenant_id,
        BUDGET_LIMIT_REACHED,
    )
    return [dict(r["data"]) for r in rows]


async def alerts(pool: asyncpg.Pool, conversation: str) -> list[str]:
    rows = await pool.fetch(
        "SELECT content FROM chat_messages WHERE conversation_id = $1"
        " AND payload->>'alert' = 'budget' ORDER BY id",
        conversation,
    )
    return [r["content"] for r in rows]


async def test_soft_limit_switches_to_the_cheaper_model_and_alerts_once(
    pool: asyncpg.Pool, http: httpx.AsyncClient, clients: LLMClients, fake: FakeOpenAI
) -> None:
    s, conv = await make(
        pool, http, clients, fake, {"soft_brl": 10, "hard_brl": 40, "cheaper_model": "gpt-4o-mini"}
    )
    now = datetime.now(TZ)
    # last month's spend does not count
    await spend(pool, s.tenant.id, 10 * MILLION, month_start(now, TZ).replace(year=now.year - 1))
    before = len(fake.requests)
    await s.ask("oi")
    assert fake.requests[before]["model"] == "gpt-4o"
    assert await crossings(pool, s.tenant.id) == []

    await spend(pool, s.tenant.id, MILLION, now)  # R$ 12.50 > soft 10
    before = len(fake.requests)
    await s.ask("oi de novo")
    await s.ask("e agora?")
    assert [r["model"] for r in fake.requests[before:]] == ["gpt-4o-mini", "gpt-4o-mini"]
    crossed = await crossings(pool, s.tenant.id)
    assert len(crossed) == 1
    assert crossed[0]["level"] == "soft" and crossed[0]["action"] == "cheaper_model"
    assert crossed[0]["spent_brl"] == "12.50"
    sent = await alerts(pool, conv)
    assert len(sent) == 1 and "R$ 12.50" in sent[0] and "gpt-4o-mini" in sent[0]


async def test_hard_limit_hands_over_with_its_cause(
    pool: asyncpg.Pool, http: httpx.AsyncClient, clients: LLMClients, fake: FakeOpenAI
) -> None:
    s, conv = await make(pool, http, clients, fake, {"soft_brl": 10, "hard_brl": 20})
    await spend(pool, s.tenant.id, 2 * MILLION, datetime.now(TZ))  # R$ 25 > hard 20
    before = len(fake.requests)
    out = await s.ask("oi")
    assert len(fake.requests) == before  # no model call past the hard limit
    assert out.handover_reason == HANDOVER_CAUSE and out.messages
    assert [e["level"] for e in await crossings(pool, s.tenant.id)] == ["hard"]
    assert len(await alerts(pool, conv)) == 1


async def test_hard_limit_offline_answers_from_the_knowledge_base(
    pool: asyncpg.Pool, http: httpx.AsyncClient, clients: LLMClients, fake: FakeOpenAI
) -> None:
    s, _ = await make(pool, http, clients, fake, {"hard_brl": 5, "on_hard": "offline"})
    await spend(pool, s.tenant.id, MILLION, datetime.now(TZ))
    before = len(fake.requests)
    out = await s.ask("qual o horário?")
    assert len(fake.requests) == before
    assert out.messages == ["offline"] and out.handover_reason is None
    assert [e["action"] for e in await crossings(pool, s.tenant.id)] == ["offline"]


def test_a_budget_with_a_bad_value_keeps_the_rest() -> None:
    budget = budget_of({"budget": {"soft_brl": "muito", "hard_brl": 30}})
    assert budget.soft_brl is None and budget.hard_brl == Decimal(30)
    assert budget.invalid == ("soft_brl",)
    assert not budget_of({}).active
