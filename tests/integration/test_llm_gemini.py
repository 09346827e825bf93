"""The Gemini responder, through the real google-genai SDK, against a fake generateContent."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import asyncpg
import httpx
import pytest

from tests.fakes import gemini_server as gm
from tests.fakes.gemini_server import FakeGemini
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
from waai.llm.misconfig import GuardedResponder
from waai.responders.gemini_responder import CONVERSATION_START, GeminiResponder
from waai.responders.responder import Turn
from wacommon.repositories.event_types import LLM_MISCONFIGURED, TOOL_USED
from wacommon.repositories.events import FakeEventLog


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeGemini]:
    with FakeGemini.serve() as server:
        yield server


async def make(
    pool: asyncpg.Pool,
    http: httpx.AsyncClient,
    clients: LLMClients,
    fake: FakeGemini,
    **settings: Any,
) -> Setup:
    tools_config = {
        **CALENDAR,
        "llm_config": {"provider": "gemini", "model": "gemini-test", "max_tokens": 300},
    }
    tenant = await new_tenant(pool, tools_config, "")
    events = FakeEventLog()
    responder = build_responder(
        tenant,
        settings=AISettings(
            gemini_api_key="global-gemini-key", gemini_base_url=fake.url, **settings
        ),
        retriever=StaticRetriever(),
        pool=pool,
        http=http,
        events=events,
        decrypt=BOX.decrypt,
        clients=clients,
        offline=Offline(),
    )
    assert isinstance(responder, GuardedResponder)
    assert isinstance(responder.inner, GeminiResponder)
    return Setup(
        responder,
        tenant,
        events,
        conversation_id="7b0a9c3e-0000-4000-8000-000000000002",
        contact_key="5511977776666",
        contact_name="Caio",
    )


async def test_model_checks_availability_then_books(
    pool: asyncpg.Pool, http: httpx.AsyncClient, clients: LLMClients, fake: FakeGemini
) -> None:
    s = await make(pool, http, clients, fake)
    monday = next_monday().isoformat()
    first = len(fake.requests)
    fake.queue(
        gm.function_call("check_availability", date=monday),
        gm.function_call("book_appointment", start=f"{monday} 11:00", name="Caio"),
        gm.text("## Confirmado\nCaio, até segunda às 11:00!"),
    )
    out = await s.ask("tem horário segunda?")

    assert out.messages == ["*Confirmado*\nCaio, até segunda às 11:00!"]
    assert out.handover_reason is None
    assert out.usage.model == "gemini-test"
    assert (out.usage.tokens_in, out.usage.tokens_out) == (
        3 * gm.PROMPT_TOKENS,
        3 * gm.CANDIDATE_TOKENS,
    )
    assert [c["name"] for c in out.usage.tool_calls] == ["check_availability", "book_appointment"]
    row = await pool.fetchrow(
        "SELECT starts_at FROM appointments WHERE client_id = $1 AND status = 'booked'", s.tenant.id
    )
    assert row is not None
    assert row["starts_at"].astimezone(TZ).strftime("%Y-%m-%d %H:%M") == f"{monday} 11:00"

    requests = fake.requests[first:]
    assert len(requests) == 3
    assert requests[0]["_key"] == "global-gemini-key" and requests[0]["_version"] == "v1beta"
    assert requests[0]["_model"] == "gemini-test"
    assert requests[0]["generationConfig"]["maxOutputTokens"] == 300
    declared = {d["name"] for d in requests[0]["tools"][0]["functionDeclarations"]}
    assert {"check_availability", "book_appointment", "opt_out"} <= declared
    system = requests[0]["systemInstruction"]["parts"][0]["text"]
    assert system.startswith("Você é o assistente virtual de Clínica Sorriso")
    assert "[horarios.md]" in system
    responses = fake.function_responses(first + 1)
    assert responses[0]["name"] == "check_availability"
    assert "11:00" in responses[0]["response"]["days"][0]["free"]
    # the model's function call turn is sent back before our answer to it
    assert requests[1]["contents"][-2]["role"] == "model"
    assert fake.function_responses(first + 2)[-1]["response"]["start"] == f"{monday} 11:00"
    assert [e["data"]["tool"] for e in s.events.of_type(TOOL_USED)] == [
        "check_availability",
        "book_appointment",
    ]


async def test_transfer_tool_hands_over_and_tells_the_customer(
    pool: asyncpg.Pool, http: httpx.AsyncClient, clients: LLMClients, fake: FakeGemini
) -> None:
    s = await make(pool, http, clients, fake)
    fake.queue(gm.function_call("transfer_to_human", reason="reclamação"), gm.text(""))
    out = await s.ask("quero reclamar com o gerente")
    assert out.handover_reason == "reclamação"
    assert out.messages and "atendente" in out.messages[0]  # never a silent handover


async def test_tool_error_goes_back_to_the_model(
    pool: asyncpg.Pool, http: httpx.AsyncClient, clients: LLMClients, fake: FakeGemini
) -> None:
    s = await make(pool, http, clients, fake)
    first = len(fake.requests)
    fake.queue(
        gm.function_call("book_appointment", start="segunda 10h"),
        gm.text("Qual o seu nome, por favor?"),
    )
    out = await s.ask("marca segunda 10h")
    assert out.messages == ["Qual o seu nome, por favor?"]
    result = fake.function_responses(first + 1)[0]["response"]
    assert result == {
        "ok": False,
        "error": "invalid_arguments",
        "message": "Missing required argument 'name'.",
    }
    assert out.usage.tool_calls == [
        {"name": "book_appointment", "ok": False, "error": "invalid_arguments"}
    ]


async def test_opt_out_tool_sets_opt_out(
    pool: asyncpg.Pool, http: httpx.AsyncClient, clients: LLMClients, fake: FakeGemini
) -> None:
    s = await make(pool, http, clients, fake)
    fake.queue(
        gm.function_call("opt_out", reason="não quer mensagens"),
        gm.text("Certo, não vamos mais enviar mensagens."),
    )
    out = await s.ask("para de me mandar mensagem")
    assert out.opt_out is True and out.handover_reason is None


async def test_conversation_opening_with_our_message_starts_with_a_user_turn(
    pool: asyncpg.Pool, http: httpx.AsyncClient, clients: LLMClients, fake: FakeGemini
) -> None:
    s = await make(pool, http, clients, fake)
    now = datetime.now(TZ)
    fake.queue(gm.text("Que bom!"))
    await s.ask("tenho interesse", [Turn("campaign", "Promoção de clareamento!", now)])
    contents = fake.requests[-1]["contents"]
    assert [c["role"] for c in contents] == ["user", "model", "user"]
    assert contents[0]["parts"][0]["text"] == CONVERSATION_START
    assert contents[1]["parts"][0]["text"].endswith("Promoção de clareamento!")


async def test_loop_bound_and_failures(
    pool: asyncpg.Pool, http: httpx.AsyncClient, clients: LLMClients, fake: FakeGemini
) -> None:
    s = await make(pool, http, clients, fake, llm_max_tool_steps=1)
    first = len(fake.requests)
    fake.queue(gm.function_call("check_availability"), gm.text("Temos horários."))
    assert (await s.ask("tem horário?")).messages == ["Temos horários."]
    modes = [r["toolConfig"]["functionCallingConfig"]["mode"] for r in fake.requests[first:]]
    assert modes == ["AUTO", "NONE"]
    fake.queue(gm.error(500))
    with pytest.raises(LLMUnavailable):
        await s.ask("oi")
    fake.queue(gm.error(400, "API key not valid"))
    assert isinstance(s.responder, GuardedResponder)
    with pytest.raises(LLMRejected) as rejected:
        await s.responder.inner.respond(s.input("oi"))
    assert rejected.value.status == 400
    # through the guard: the offline answer, and the event says why
    fake.queue(gm.error(403, "permission denied"))
    assert (await s.ask("oi")).messages == ["offline"]
    [event] = s.events.of_type(LLM_MISCONFIGURED)
    assert (event["data"]["reason"], event["data"]["vendor"]) == ("forbidden", "gemini")
