"""The query rewrite step: the tenant's model turns the last messages into the search query."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from tests.fakes import openai_server as oa
from tests.fakes.openai_server import FakeOpenAI
from tests.integration.llm_helpers import BOX, TZ, Offline, Setup, StaticRetriever, new_tenant
from waai.llm.clients import LLMClients
from waai.llm.config import AISettings
from waai.llm.factory import build_responder
from waai.llm.query_rewrite import INSTRUCTIONS
from waai.responders.responder import Turn
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
    retriever: StaticRetriever,
    llm: dict[str, Any],
) -> Setup:
    tools_config = {
        "llm_config": {
            "provider": "openai",
            "model": "gpt-test",
            "api_key": BOX.encrypt("sk-tenant"),
            **llm,
        }
    }
    tenant = await new_tenant(pool, tools_config, "Você é a Bia, do Salão Aurora.")
    responder = build_responder(
        tenant,
        settings=AISettings(openai_base_url=fake.base_url),
        retriever=retriever,
        pool=pool,
        http=http,
        events=FakeEventLog(),
        decrypt=BOX.decrypt,
        clients=clients,
        offline=Offline(),
    )
    return Setup(
        responder,
        tenant,
        FakeEventLog(),
        conversation_id="7b0a9c3e-0000-4000-8000-0000000000a1",
        contact_key="5531988887777",
        contact_name="Ana",
    )


def _history() -> list[Turn]:
    before = datetime.now(TZ) - timedelta(minutes=3)
    return [
        Turn("customer", "qto ta a escova no cabelo longo?", before),
        Turn("bot", "A escova no cabelo longo custa R$ 80.", before + timedelta(minutes=1)),
    ]


async def test_the_rewritten_query_is_what_retrieval_searches(
    pool: asyncpg.Pool, http: httpx.AsyncClient, clients: LLMClients, fake: FakeOpenAI
) -> None:
    retriever = StaticRetriever()
    setup = await make(pool, http, clients, fake, retriever, {"query_rewrite": True})
    fake.queue(oa.text("preço da escova no cabelo curto"), oa.text("A escova curta custa R$ 50."))
    start = len(fake.requests)
    out = await setup.ask("e no curto?", _history())
    assert out.messages == ["A escova curta custa R$ 50."]
    assert retriever.queries[-1][1] == "preço da escova no cabelo curto"
    rewrite, reply = fake.requests[start], fake.requests[start + 1]
    assert rewrite["messages"][0] == {"role": "system", "content": INSTRUCTIONS}
    assert rewrite["messages"][1]["content"] == (
        "cliente: qto ta a escova no cabelo longo?\n"
        "atendente: A escova no cabelo longo custa R$ 80.\n"
        "cliente: e no curto?"
    )
    assert rewrite["temperature"] == 0
    assert reply["messages"][-1]["content"].endswith("e no curto?")


async def test_off_by_default_the_customers_words_are_searched(
    pool: asyncpg.Pool, http: httpx.AsyncClient, clients: LLMClients, fake: FakeOpenAI
) -> None:
    retriever = StaticRetriever()
    setup = await make(pool, http, clients, fake, retriever, {})
    fake.queue(oa.text("Claro!"))
    start = len(fake.requests)
    await setup.ask("e no curto?", _history())
    assert retriever.queries[-1][1] == "e no curto?"
    assert len(fake.requests) == start + 1


async def test_a_failed_rewrite_falls_back_to_the_customers_words(
    pool: asyncpg.Pool, http: httpx.AsyncClient, clients: LLMClients, fake: FakeOpenAI
) -> None:
    retriever = StaticRetriever()
    setup = await make(pool, http, clients, fake, retriever, {"query_rewrite": True})
    fake.queue(oa.error(400, "bad request"), oa.text("A escova curta custa R$ 50."))
    out = await setup.ask("e no curto?", _history())
    assert retriever.queries[-1][1] == "e no curto?"
    assert out.messages == ["A escova curta custa R$ 50."]
