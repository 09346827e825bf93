"""The OpenAI responder, through the real SDK, against a fake chat completions server."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from prometheus_client import REGISTRY

from tests.fakes import openai_server as oa
from tests.fakes.openai_server import FakeOpenAI
from tests.integration.llm_helpers import (
    BOX,
    CALENDAR,
    TZ,
    Offline,
    Setup,
    StaticRetriever,
    new_tenant,
    next_monday,
)
from waai.llm.clients import LLMClients
from waai.llm.config import AISettings
from waai.llm.errors import LLMRejected, LLMUnavailable
from waai.llm.factory import build_responder
from waai.llm.misconfig import GuardedResponder, MisconfiguredResponder, OncePerTenant
from waai.responders.openai_responder import OpenAIResponder
from waai.responders.responder import Tenant, Turn
from wacommon.repositories.event_types import LLM_MISCONFIGURED, TOOL_USED
from wacommon.repositories.events import FakeEventLog


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI.serve() as server:
        yield server


async def make(
    pool: asyncpg.Pool,
    http: httpx.AsyncClient,
    clients: LLMClients,
    fake: FakeOpenAI,
    llm: dict[str, Any] | None = None,
    **settings: Any,
) -> Setup:
    tools_config = {
        **CALENDAR,
        "llm_config": {
            "provider": "openai",
            "model": "gpt-test",
            "api_key": BOX.encrypt("sk-tenant"),
            "temperature": 0.2,
            **(llm or {}),
        },
    }
    tenant = await new_tenant(pool, tools_config, "Você é a Bia, da Clínica Sorriso.")
    events = FakeEventLog()
    responder = build_responder(
        tenant,
        settings=AISettings(openai_base_url=fake.base_url, **settings),
        retriever=StaticRetriever(),
        pool=pool,
        http=http,
        events=events,
        decrypt=BOX.decrypt,
        clients=clients,
        offline=Offline(),
    )
    assert isinstance(responder, GuardedResponder)
    assert isinstance(responder.inner, OpenAIResponder)
    return Setup(
        responder,
        tenant,
        events,
        conversation_id="7b0a9c3e-0000-4000-8000-000000000001",
        contact_key="5511988887777",
        contact_name="Ana",
    )


async def test_model_checks_availability_then_books(
    pool: asyncpg.Pool, http: httpx.AsyncClient, clients: LLMClients, fake: FakeOpenAI
) -> None:
    s = await make(pool, http, clients, fake)
    monday = next_monday().isoformat()
    first = len(fake.requests)
    fake.queue(
        oa.tool_call("check_availability", date=monday),
        oa.tool_call("book_appointment", start=f"{monday} 10:00", name="Ana"),
        oa.text("Pronto, **Ana**! Sua consulta está marcada para segunda às 10:00."),
    )
    out = await s.ask("Quero marcar uma limpeza segunda de manhã")

    assert out.messages == ["Pronto, *Ana*! Sua consulta está marcada para segunda às 10:00."]
    assert out.handover_reason is None and out.opt_out is False
    assert out.usage.model == "gpt-test"
    assert (out.usage.tokens_in, out.usage.tokens_out) == (
        3 * oa.PROMPT_TOKENS,
        3 * oa.COMPLETION_TOKENS,
    )
    assert out.usage.tool_calls == [
        {"name": "check_availability", "ok": True},
        {"name": "book_appointment", "ok": True},
    ]
    row = await pool.fetchrow(
        "SELECT starts_at, contact_key, contact_name FROM appointments"
        " WHERE client_id = $1 AND status = 'booked'",
        s.tenant.id,
    )
    assert row is not None
    assert row["starts_at"].astimezone(TZ).strftime("%Y-%m-%d %H:%M") == f"{monday} 10:00"
    assert (row["contact_key"], row["contact_name"]) == ("5511988887777", "Ana")

    requests = fake.requests[first:]
    assert len(requests) == 3
    assert requests[0]["_auth"] == "Bearer sk-tenant"  # the tenant's key, decrypted
    assert requests[0]["model"] == "gpt-test" and requests[0]["temperature"] == 0.2
    assert {t["function"]["name"] for t in requests[0]["tools"]} >= {
        "check_availability",
        "book_appointment",
        "transfer_to_human",
    }
    system = requests[0]["messages"][0]
    assert system["role"] == "system" and system["content"].startswith("Você é a Bia")
    assert "[horarios.md] Atendemos de segunda a sexta" in system["content"]
    assert requests[0]["messages"][-1] == {
        "role": "user",
        "content": "Quero marcar uma limpeza segunda de manhã",
    }
    availability = fake.tool_results(first + 1)[0]
    assert availability["ok"] is True and "10:00" in availability["days"][0]["free"]
    assert fake.tool_results(first + 2)[1]["start"] == f"{monday} 10:00"
    assert [e["data"] for e in s.events.of_type(TOOL_USED)] == [
        {"tool": "check_availability", "ok": True},
        {"tool": "book_appointment", "ok": True},
    ]


async def test_transfer_tool_hands_over_with_reason(
    pool: asyncpg.Pool, http: httpx.AsyncClient, clients: LLMClients, fake: FakeOpenAI
) -> None:
    s = await make(pool, http, clients, fake)
    fake.queue(
        oa.tool_call("transfer_to_human", reason="cliente pediu um atendente"),
        oa.text("Claro! Vou chamar uma pessoa da equipe."),
    )
    out = await s.ask("quero falar com uma pessoa")
    assert out.handover_reason == "cliente pediu um atendente"
    assert out.messages == ["Claro! Vou chamar uma pessoa da equipe."]


async def test_tool_errors_go_back_to_the_model(
    pool: asyncpg.Pool, http: httpx.AsyncClient, clients: LLMClients, fake: FakeOpenAI
) -> None:
    s = await make(pool, http, clients, fake)
    first = len(fake.requests)
    fake.queue(
        oa.tool_call("book_appointment", start="2020-01-06 10:00", name="Ana"),
        oa.tool_call("sacar_dinheiro", valor=10),
        oa.text("Esse horário já passou. Quer ver os próximos?"),
    )
    out = await s.ask("marca dia 6/1/2020 às 10h")
    assert out.messages == ["Esse horário já passou. Quer ver os próximos?"]
    assert fake.tool_results(first + 1)[0]["error"] == "in_the_past"
    assert fake.tool_results(first + 2)[1]["error"] == "unknown_tool"
    assert out.usage.tool_calls == [
        {"name": "book_appointment", "ok": False, "error": "in_the_past"},
        {"name": "sacar_dinheiro", "ok": False, "error": "unknown_tool"},
    ]


async def test_tool_loop_is_bounded(
    pool: asyncpg.Pool, http: httpx.AsyncClient, clients: LLMClients, fake: FakeOpenAI
) -> None:
    s = await make(pool, http, clients, fake, llm_max_tool_steps=2)
    first = len(fake.requests)
    fake.queue(
        *[oa.tool_call("check_availability") for _ in range(2)],
        {"content": "Tenho horários amanhã.", "tool_calls": [("check_availability", {})]},
    )
    out = await s.ask("tem horário?")
    requests = fake.requests[first:]
    assert len(requests) == 3
    assert [r["tool_choice"] for r in requests] == ["auto", "auto", "none"]
    assert out.messages == ["Tenho horários amanhã."]


async def test_history_window_drops_the_oldest(
    pool: asyncpg.Pool, http: httpx.AsyncClient, clients: LLMClients, fake: FakeOpenAI
) -> None:
    s = await make(pool, http, clients, fake, {"history_messages": 4, "history_hours": 2})
    now = datetime.now(TZ)
    history = [Turn("customer", "mensagem de ontem", now - timedelta(hours=20))]
    history += [
        Turn("customer" if i % 2 == 0 else "bot", f"m{i}", now - timedelta(minutes=30 - i))
        for i in range(6)
    ]
    fake.queue(oa.text("ok!"))
    await s.ask("e agora?", history)
    sent = [(m["role"], m["content"]) for m in fake.requests[-1]["messages"][1:]]
    assert sent == [
        ("user", "m2"),
        ("assistant", "m3"),
        ("user", "m4"),
        ("assistant", "m5"),
        ("user", "e agora?"),
    ]


async def test_provider_failures_map_to_the_error_taxonomy(
    pool: asyncpg.Pool, http: httpx.AsyncClient, clients: LLMClients, fake: FakeOpenAI
) -> None:
    s = await make(pool, http, clients, fake)
    fake.queue(oa.error(503))
    with pytest.raises(LLMUnavailable):
        await s.ask("oi")
    assert isinstance(s.responder, GuardedResponder)
    fake.queue(oa.error(401, "invalid api key"))
    with pytest.raises(LLMRejected):
        await s.responder.inner.respond(s.input("oi"))


@pytest.mark.parametrize(
    ("status", "reason"),
    [(401, "unauthorized"), (404, "model_not_found"), (400, "rejected_http_400")],
)
async def test_a_rejected_model_answers_offline_and_says_why(
    pool: asyncpg.Pool,
    http: httpx.AsyncClient,
    clients: LLMClients,
    fake: FakeOpenAI,
    status: int,
    reason: str,
) -> None:
    # before: the rejection dead-lettered the burst and the customer got nothing
    s = await make(pool, http, clients, fake)
    fake.queue(oa.error(status, "no such model"))
    out = await s.ask("oi")
    assert out.messages == ["offline"]
    [event] = s.events.of_type(LLM_MISCONFIGURED)
    assert event["data"]["reason"] == reason
    assert (event["data"]["vendor"], event["data"]["status"]) == ("openai", status)
    assert event["conversation_id"] == "7b0a9c3e-0000-4000-8000-000000000001"


def build(tenant: Tenant, clients: LLMClients, http: httpx.AsyncClient, **kw: Any) -> Any:
    events = FakeEventLog()
    responder = build_responder(
        tenant,
        settings=kw.pop("settings", AISettings()),
        retriever=StaticRetriever(),
        pool=kw.pop("pool"),
        http=http,
        events=events,
        decrypt=BOX.decrypt,
        clients=clients,
        offline=Offline(),
        **kw,
    )
    return responder, events


async def test_no_model_anywhere_is_the_offline_bot(
    pool: asyncpg.Pool, http: httpx.AsyncClient, clients: LLMClients
) -> None:
    tenant = await new_tenant(pool, {}, "")
    responder, _ = build(tenant, clients, http, pool=pool)
    assert isinstance(responder, Offline)


@pytest.mark.parametrize(
    ("llm", "reason"),
    [
        ({"provider": "openai"}, "missing_key"),
        ({"provider": "openrouter", "model": "meta-llama/llama-3.1-8b-instruct"}, "missing_key"),
        ({"provider": "claude", "api_key": BOX.encrypt("k")}, "unknown_provider"),
        ({"provider": "openai_compatible", "model": "qwen"}, "missing_base_url"),
    ],
)
async def test_a_model_asked_for_but_unusable_is_an_event_not_a_silent_downgrade(
    pool: asyncpg.Pool,
    http: httpx.AsyncClient,
    clients: LLMClients,
    llm: dict[str, Any],
    reason: str,
) -> None:
    tenant = await new_tenant(pool, {"llm_config": llm}, "")
    limit = OncePerTenant()
    responder, events = build(tenant, clients, http, pool=pool, log_limit=limit)
    assert isinstance(responder, MisconfiguredResponder)
    setup = Setup(
        responder, tenant, events, conversation_id=CID, contact_key="5511", contact_name="Ana"
    )
    before = misconfigured_count(reason)
    assert (await setup.ask("oi")).messages == ["offline"]
    assert (await setup.ask("oi de novo")).messages == ["offline"]
    assert [e["data"]["reason"] for e in events.of_type(LLM_MISCONFIGURED)] == [reason, reason]
    assert misconfigured_count(reason) == before + 2
    # the error line went out on the first turn; the next one within the hour stays quiet
    assert limit.due(tenant.id) is False


async def test_openrouter_runs_on_the_openai_client_at_its_base_url(
    pool: asyncpg.Pool, http: httpx.AsyncClient, clients: LLMClients, fake: FakeOpenAI
) -> None:
    # migrated tenants carry provider "openrouter"; the base URL is overridable per tenant
    # and per deployment (OPENROUTER_BASE_URL); here it points at the fake server
    tenant = await new_tenant(
        pool,
        {
            "llm_config": {
                "provider": "openrouter",
                "model": "anthropic/claude-3.5-haiku",
                "api_key": BOX.encrypt("sk-or-tenant"),
            }
        },
        "Você é a Bia.",
    )
    responder, events = build(
        tenant, clients, http, pool=pool, settings=AISettings(openrouter_base_url=fake.base_url)
    )
    assert isinstance(responder, GuardedResponder)
    setup = Setup(
        responder, tenant, events, conversation_id=CID, contact_key="5511", contact_name="Ana"
    )
    fake.queue(oa.text("Olá! Atendemos das 9h às 18h."))
    out = await setup.ask("que horas abre?")
    assert out.messages == ["Olá! Atendemos das 9h às 18h."]
    assert out.usage.model == "anthropic/claude-3.5-haiku"
    request = fake.requests[-1]
    assert request["model"] == "anthropic/claude-3.5-haiku"
    assert request["_auth"] == "Bearer sk-or-tenant"
    assert events.of_type(LLM_MISCONFIGURED) == []


CID = "7b0a9c3e-0000-4000-8000-000000000002"


def misconfigured_count(reason: str) -> float:
    value = REGISTRY.get_sample_value("wa_llm_misconfigured_total", {"reason": reason})
    return value or 0.0
