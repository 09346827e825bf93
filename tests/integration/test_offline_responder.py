"""The offline responder over the real retrieval and the test knowledge base."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest

from waai.knowledge.ingest import ingest_document
from waai.knowledge.retrieval import PgRetriever
from waai.responders.offline import HANDOVER_ASKED, HANDOVER_NO_ANSWER, OfflineResponder
from waai.responders.responder import ResponderInput, Tenant, Turn
from wacommon.repositories.clients import create_client

KB = Path(__file__).resolve().parent.parent / "data" / "kb"


@pytest.fixture(scope="module")
async def tenant(pool: asyncpg.Pool) -> Tenant:
    row = await create_client(pool, {"name": "Forno da Vila"})
    tenant_id = str(row["id"])
    for path in sorted(KB.iterdir()):
        if path.suffix in {".md", ".txt", ".csv", ".html", ".pdf"}:
            await ingest_document(pool, tenant_id, path.name, path.read_bytes())
    return Tenant(
        id=tenant_id, name="Forno da Vila", system_prompt="", timezone="UTC", tools_config={}
    )


def _input(tenant: Tenant, *texts: str, name: str | None = "Ana Souza") -> ResponderInput:
    now = datetime.now(UTC)
    return ResponderInput(
        tenant=tenant,
        conversation_id=str(uuid.uuid4()),
        contact_key="5519999990000",
        contact_name=name,
        history=[],
        burst=[Turn("customer", t, now) for t in texts],
        now=now,
    )


async def test_answers_a_known_question_from_the_passage(
    pool: asyncpg.Pool, tenant: Tenant
) -> None:
    out = await OfflineResponder(PgRetriever(pool)).respond(_input(tenant, "qual a senha do wifi"))
    assert out.handover_reason is None
    assert any("pizza2024" in m for m in out.messages)
    assert out.usage.model == "offline"
    # quoted from the passage: grounded in it (the turn_quality figure)
    assert out.usage.passages and out.usage.grounded is True


async def test_a_question_answer_chunk_is_answered_with_its_answer(
    pool: asyncpg.Pool, tenant: Tenant
) -> None:
    out = await OfflineResponder(PgRetriever(pool)).respond(
        _input(tenant, "oi", "me passa a chave pix pfv")
    )
    assert out.handover_reason is None
    assert out.messages[0].startswith("A chave Pix é o CNPJ 12.345.678/0001-90")
    assert "Pergunta:" not in out.messages[0]
    assert "12.345.678/0001-90" in out.messages  # the key alone, easy to copy


async def test_hands_over_when_nothing_relevant_is_found(
    pool: asyncpg.Pool, tenant: Tenant
) -> None:
    out = await OfflineResponder(PgRetriever(pool)).respond(
        _input(tenant, "vcs vendem pneu de bicicleta?")
    )
    assert out.handover_reason == HANDOVER_NO_ANSWER
    assert "pessoa" in out.messages[0]


async def test_hands_over_when_the_customer_asks_for_a_person(
    pool: asyncpg.Pool, tenant: Tenant
) -> None:
    out = await OfflineResponder(PgRetriever(pool)).respond(
        _input(tenant, "quero falar com um atendente")
    )
    assert out.handover_reason == HANDOVER_ASKED
    assert "pessoa" in out.messages[0]


async def test_greets_a_greeting(pool: asyncpg.Pool, tenant: Tenant) -> None:
    out = await OfflineResponder(PgRetriever(pool)).respond(_input(tenant, "Oi, boa tarde!"))
    assert out.handover_reason is None
    assert out.messages == [
        "Olá, Ana! Sou o assistente automático da Forno da Vila. Como posso ajudar?"
    ]


async def test_says_it_is_an_automatic_assistant_when_asked(
    pool: asyncpg.Pool, tenant: Tenant
) -> None:
    out = await OfflineResponder(PgRetriever(pool)).respond(_input(tenant, "vc é um robô?"))
    assert out.handover_reason is None
    assert "assistente automático" in out.messages[0]
